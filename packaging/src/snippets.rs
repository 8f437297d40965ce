//! The maintainer scripts a versioned Ganeti package pastes (or uses whole):
//! POSIX sh, `set -e`, `case "$1"`, `#DEBHELPER#` kept, every decision
//! delegated to `ganeti-packaging`. The sources are `packaging/snippets/*.in`,
//! checked with shellcheck; `@DIR_VERSION@` stands for the version.

use ganeti_layout::node::DirVersion;

/// The placeholder replaced by the directory version.
pub const PLACEHOLDER: &str = "@DIR_VERSION@";

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Script {
    Postinst,
    Prerm,
    Postrm,
}

impl Script {
    pub fn template(self) -> &'static str {
        match self {
            Script::Postinst => include_str!("../snippets/postinst.in"),
            Script::Prerm => include_str!("../snippets/prerm.in"),
            Script::Postrm => include_str!("../snippets/postrm.in"),
        }
    }

    /// The script for `version`. A [`DirVersion`] holds only
    /// `[0-9A-Za-z.~+-]` and starts with a digit, so it is one plain shell
    /// word wherever it is substituted.
    pub fn render(self, version: &DirVersion) -> String {
        self.template().replace(PLACEHOLDER, version.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_script_calls_the_helper_with_the_version() {
        let v: DirVersion = "3.1".parse().expect("valid");
        for (script, call) in [
            (
                Script::Postinst,
                "ganeti-packaging postinst configure 3.1\n",
            ),
            (Script::Prerm, "ganeti-packaging prerm remove 3.1\n"),
            (Script::Postrm, "ganeti-packaging postrm \"$1\"\n"),
        ] {
            let text = script.render(&v);
            assert!(text.starts_with("#!/bin/sh\n"), "{script:?}");
            assert!(text.contains("\nset -e\n"), "{script:?}");
            assert!(text.contains("\n#DEBHELPER#\n"), "{script:?}");
            assert!(text.contains(call), "{script:?}: {text}");
            assert!(!text.contains(PLACEHOLDER), "{script:?}");
        }
    }
}
