//! Man pages and bash completions for the toolkit's binaries, generated at
//! package build time from their clap definitions (clap_mangen,
//! clap_complete). Every function here is pure: it returns file names and
//! bytes; the `ganeti-toolkit-docs` build tool writes them.

/// The manual section of every binary: all are administrator's tools in
/// `/usr/sbin`.
pub const SECTION: &str = "8";
/// The `.TH` manual name.
pub const MANUAL: &str = "Ganeti upgrade toolkit";

/// One generated file, relative to the output directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Generated {
    pub file_name: String,
    pub bytes: Vec<u8>,
}

/// The page of `cmd` and one page per visible subcommand
/// (`ganeti-switch-to.8`), as `git`'s and `cargo`'s manuals do.
pub fn man_pages(cmd: clap::Command) -> std::io::Result<Vec<Generated>> {
    let mut cmd = cmd.disable_help_subcommand(true);
    cmd.build();
    let mut out = Vec::new();
    collect_pages(&cmd, &mut out)?;
    out.sort_by(|a, b| a.file_name.cmp(&b.file_name));
    Ok(out)
}

fn collect_pages(cmd: &clap::Command, out: &mut Vec<Generated>) -> std::io::Result<()> {
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        collect_pages(sub, out)?;
    }
    let man = clap_mangen::Man::new(cmd.clone())
        .section(SECTION)
        .manual(MANUAL);
    let mut bytes = Vec::new();
    man.render(&mut bytes)?;
    out.push(Generated {
        file_name: man.get_filename(),
        bytes,
    });
    Ok(())
}

/// The bash completion script of `cmd`, named after the binary.
pub fn bash_completion(cmd: clap::Command) -> Generated {
    let mut cmd = cmd;
    let name = cmd.get_name().to_string();
    let mut bytes = Vec::new();
    clap_complete::generate(clap_complete::Shell::Bash, &mut cmd, &name, &mut bytes);
    Generated {
        file_name: name,
        bytes,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_for_the_command_and_each_subcommand() {
        let pages = man_pages(crate::cli::command()).expect("renders");
        let names: Vec<&str> = pages.iter().map(|p| p.file_name.as_str()).collect();
        for want in [
            "ganeti-packaging.8",
            "ganeti-packaging-postinst.8",
            "ganeti-packaging-prerm.8",
            "ganeti-packaging-postrm.8",
            "ganeti-packaging-snippet.8",
            "ganeti-packaging-debian-install.8",
        ] {
            assert!(names.contains(&want), "{want} missing from {names:?}");
        }
        let main = String::from_utf8_lossy(&pages[0].bytes).into_owned();
        assert!(main.contains(".SH NAME"), "{main}");
    }

    #[test]
    fn completion_is_named_after_the_binary() {
        let c = bash_completion(crate::cli::command());
        assert_eq!(c.file_name, "ganeti-packaging");
        assert!(String::from_utf8_lossy(&c.bytes).contains("complete -F"));
    }
}
