//! Man pages and bash completions for the toolkit's binaries, generated at
//! package build time from their clap definitions (clap_mangen,
//! clap_complete), with the hand-written sections of [`crate::manual`]
//! spliced in. Every function here is pure: it returns file names and
//! bytes; the `ganeti-toolkit-docs` build tool writes them.

use std::io::Write;

use crate::manual;

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
/// (`ganeti-switch-to.8`), as `git`'s and `cargo`'s manuals do. `date`
/// goes into every page's footer ([`man_date`]); every footer names the
/// tool and its version, the subcommands' pages too.
pub fn man_pages(cmd: clap::Command, date: &str) -> std::io::Result<Vec<Generated>> {
    let mut cmd = cmd.disable_help_subcommand(true);
    cmd.build();
    let source = format!(
        "{} {}",
        cmd.get_name(),
        cmd.get_version().unwrap_or_default()
    );
    let mut out = Vec::new();
    collect_pages(&cmd, None, &source, date, &mut out)?;
    out.sort_by(|a, b| a.file_name.cmp(&b.file_name));
    Ok(out)
}

fn collect_pages(
    cmd: &clap::Command,
    parent: Option<&str>,
    source: &str,
    date: &str,
    out: &mut Vec<Generated>,
) -> std::io::Result<()> {
    let man = clap_mangen::Man::new(cmd.clone())
        .section(SECTION)
        .manual(MANUAL)
        .source(source)
        .date(date);
    // clap_mangen names a subcommand's page and binary "parent-sub".
    let page_name = man.get_filename();
    let name = page_name
        .trim_end_matches(&format!(".{SECTION}"))
        .to_string();
    let subpages: Vec<String> = cmd
        .get_subcommands()
        .filter(|s| !s.is_hide_set())
        .map(|s| format!("{name}-{}({SECTION})", s.get_name()))
        .collect();
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        collect_pages(sub, Some(&name), source, date, out)?;
    }
    let mut bytes = Vec::new();
    man.render_title(&mut bytes)?;
    man.render_name_section(&mut bytes)?;
    man.render_synopsis_section(&mut bytes)?;
    man.render_description_section(&mut bytes)?;
    if cmd.get_arguments().any(|a| !a.is_hide_set()) {
        man.render_options_section(&mut bytes)?;
    }
    if !subpages.is_empty() {
        man.render_subcommands_section(&mut bytes)?;
    }
    match (parent, manual::sections(&name)) {
        (None, Some(hand)) => {
            // The hand-written EXIT STATUS replaces clap's after-help text,
            // which says the same for --help.
            section(&mut bytes, "EXIT STATUS", hand.exit_status)?;
            section(&mut bytes, "FILES", hand.files)?;
            section(&mut bytes, "ENVIRONMENT", hand.environment)?;
            if !hand.notes.is_empty() {
                section(&mut bytes, "NOTES", hand.notes)?;
            }
            section(&mut bytes, "EXAMPLES", hand.examples)?;
            let mut see_also = subpages.clone();
            see_also.extend(hand.see_also.iter().map(|s| s.to_string()));
            section(&mut bytes, "SEE ALSO", &see_also_roff(&see_also))?;
        }
        (Some(parent), _) => {
            let parent_page = format!("{parent}({SECTION})");
            let text = format!(
                "As for the tool: see\n{}",
                see_also_roff(std::slice::from_ref(&parent_page))
            );
            section(&mut bytes, "EXIT STATUS", &text)?;
            let mut see_also = vec![parent_page];
            see_also.extend(subpages);
            section(&mut bytes, "SEE ALSO", &see_also_roff(&see_also))?;
        }
        (None, None) => {
            if cmd.get_after_help().is_some() || cmd.get_after_long_help().is_some() {
                man.render_extra_section(&mut bytes)?;
            }
        }
    }
    if parent.is_none() && cmd.get_version().is_some() {
        man.render_version_section(&mut bytes)?;
    }
    out.push(Generated {
        file_name: page_name,
        bytes,
    });
    Ok(())
}

fn section(w: &mut Vec<u8>, title: &str, roff: &str) -> std::io::Result<()> {
    writeln!(w, ".SH \"{title}\"")?;
    writeln!(w, "{}", roff.trim_end())
}

/// `a(8), b(8)` as roff: `.BR a (8),` lines, the last without a comma.
fn see_also_roff(pages: &[String]) -> String {
    let mut lines = Vec::new();
    for (i, page) in pages.iter().enumerate() {
        let (name, section) = page.split_once('(').unwrap_or((page, ""));
        let comma = if i + 1 < pages.len() { "," } else { "" };
        lines.push(format!(
            ".BR {} ({}{comma}",
            name.replace('-', "\\-"),
            section
        ));
    }
    lines.join("\n")
}

/// The footer date of the pages: `SOURCE_DATE_EPOCH` (seconds, which
/// dpkg-buildpackage sets from debian/changelog) as YYYY-MM-DD in UTC, so
/// that the same source gives the same pages.
pub fn man_date(source_date_epoch: u64) -> String {
    let mut date = ganeti_upgrade::clock::format_date(source_date_epoch);
    date.truncate("YYYY-MM-DD".len());
    date
}

/// The bash completion script of `cmd`, named after the binary: clap's,
/// mended ([`mend_bash`]) so that subcommands' options complete and
/// VERSION slots offer the installed versions.
pub fn bash_completion(cmd: clap::Command) -> Generated {
    let mut cmd = cmd;
    let name = cmd.get_name().to_string();
    let mut bytes = Vec::new();
    clap_complete::generate(clap_complete::Shell::Bash, &mut cmd, &name, &mut bytes);
    let text = mend_bash(&name, &String::from_utf8_lossy(&bytes));
    Generated {
        file_name: name,
        bytes: text.into_bytes(),
    }
}

/// Lists the installed Ganeti versions (the version directories under the
/// `--root` given on the line, Debian's paths), for VERSION slots.
const VERSIONS_FUNCTION: &str = r#"
# The installed Ganeti versions: the version directories under
# /usr/lib/ganeti and /usr/share/ganeti, below the --root (or --dest) given
# on the command line (added by ganeti-toolkit-docs to clap's script).
_ganeti_toolkit_versions() {
    local root="" i d
    for ((i = 1; i < ${#COMP_WORDS[@]}; i++)); do
        case "${COMP_WORDS[i]}" in
            --root|--dest) root="${COMP_WORDS[i+1]}" ;;
            --root=*|--dest=*) root="${COMP_WORDS[i]#*=}" ;;
        esac
    done
    for d in "$root"/usr/lib/ganeti/[0-9]*/ "$root"/usr/share/ganeti/[0-9]*/; do
        [ -d "$d" ] || continue
        d="${d%/}"
        echo "${d##*/}"
    done | sort -u
}
"#;

/// The subcommands (of each binary) whose positional is an installed
/// VERSION, and options whose value is one.
const VERSION_SLOTS: &[(&str, &str)] = &[
    ("ganeti-switch", "to"),
    ("ganeti-switch", "installed"),
    ("ganeti-layout", "remove"),
];
const VERSION_OPTIONS: &[(&str, &str)] = &[("ganeti-upgrade", "--to")];

/// clap_complete's bash script, mended:
/// * for a binary with a hyphen in its name the script sets
///   `cmd="ganeti__switch__subcmd__to"` but labels the case
///   `ganeti__subcmd__switch__subcmd__to)`, so nothing after a subcommand
///   completes (clap-rs/clap#6421, open in 4.6; its fixes are not
///   released): the labels are rewritten to what `cmd` is set to;
/// * VERSION slots completed file names: they offer the installed
///   versions.
pub fn mend_bash(name: &str, script: &str) -> String {
    let broken = format!("{}__", name.replace('-', "__subcmd__"));
    let right = format!("{}__", name.replace('-', "__"));
    let mut text = script.replace(&broken, &right);
    let mut versions_used = false;
    for (bin, sub) in VERSION_SLOTS.iter().filter(|(b, _)| *b == name) {
        let label = format!(
            "        {}subcmd__{sub})\n            opts=\"",
            right,
            sub = sub
        );
        let _ = bin;
        if let Some(at) = text.find(&label) {
            if let Some(end) = text[at + label.len()..].find('\n') {
                let insert = at + label.len() + end + 1;
                text.insert_str(
                    insert,
                    "            opts=\"${opts} $(_ganeti_toolkit_versions)\"\n",
                );
                versions_used = true;
            }
        }
    }
    for (_, option) in VERSION_OPTIONS.iter().filter(|(b, _)| *b == name) {
        let from = format!(
            "                {option})\n                    COMPREPLY=($(compgen -f \"${{cur}}\"))"
        );
        let to = format!(
            "                {option})\n                    COMPREPLY=($(compgen -W \"$(_ganeti_toolkit_versions)\" -- \"${{cur}}\"))"
        );
        if text.contains(&from) {
            text = text.replace(&from, &to);
            versions_used = true;
        }
    }
    if versions_used {
        text.push_str(VERSIONS_FUNCTION);
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_for_the_command_and_each_subcommand() {
        let pages = man_pages(crate::cli::command(), "2025-11-25").expect("renders");
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

    fn page(pages: &[Generated], name: &str) -> String {
        let p = pages.iter().find(|p| p.file_name == name);
        String::from_utf8_lossy(&p.expect("page exists").bytes).into_owned()
    }

    #[test]
    fn every_main_page_has_the_hand_written_sections_and_a_dated_footer() {
        for cmd in crate::ALL_COMMANDS.iter().map(|c| c()) {
            let name = cmd.get_name().to_string();
            let version = cmd.get_version().unwrap_or_default().to_string();
            let pages = man_pages(cmd, "2025-11-25").expect("renders");
            let main = page(&pages, &format!("{name}.8"));
            for section in [
                "EXIT STATUS",
                "FILES",
                "ENVIRONMENT",
                "EXAMPLES",
                "SEE ALSO",
            ] {
                assert!(
                    main.contains(&format!(".SH \"{section}\"")),
                    "{name}: no {section}"
                );
            }
            // The exit codes once, not again under clap's EXTRA.
            assert!(!main.contains(".SH EXTRA"), "{name}");
            for p in &pages {
                let text = String::from_utf8_lossy(&p.bytes);
                let th = text
                    .lines()
                    .find(|l| l.starts_with(".TH"))
                    .unwrap_or_default();
                assert!(
                    th.contains("2025-11-25") && th.contains(&format!("{name} {version}")),
                    "{}: {th}",
                    p.file_name
                );
            }
        }
    }

    #[test]
    fn a_subcommand_page_points_back_to_its_tool() {
        let pages = man_pages(crate::cli::command(), "2025-11-25").expect("renders");
        let sub = page(&pages, "ganeti-packaging-prerm.8");
        assert!(
            sub.contains(".SH \"SEE ALSO\"\n.BR ganeti\\-packaging (8)"),
            "{sub}"
        );
        let main = page(&pages, "ganeti-packaging.8");
        assert!(
            main.contains(".BR ganeti\\-packaging\\-prerm (8),"),
            "{main}"
        );
    }

    #[test]
    fn man_date_is_the_utc_day_of_the_epoch() {
        assert_eq!(man_date(0), "1970-01-01");
        assert_eq!(man_date(1_764_090_000), "2025-11-25");
        assert_eq!(man_date(951_782_400), "2000-02-29");
    }

    #[test]
    fn completion_is_named_after_the_binary() {
        let c = bash_completion(crate::cli::command());
        assert_eq!(c.file_name, "ganeti-packaging");
        assert!(String::from_utf8_lossy(&c.bytes).contains("complete -F"));
    }
}

#[cfg(test)]
mod help_tests {
    /// Options and arguments without help text: they show up empty in
    /// `--help` and in the man pages. Each is in a crate whose command line
    /// is being changed by other work now; remove an entry when its crate
    /// gives it a doc comment (the test then says so).
    const WITHOUT_HELP_YET: &[&str] = &[];

    fn missing(cmd: &clap::Command, path: &str, out: &mut Vec<String>) {
        for arg in cmd.get_arguments().filter(|a| !a.is_hide_set()) {
            if arg.get_help().is_none() && arg.get_long_help().is_none() {
                let name = match arg.get_long() {
                    Some(long) => format!("--{long}"),
                    None => format!("<{}>", arg.get_id().as_str().to_uppercase()),
                };
                out.push(format!("{path} {name}"));
            }
        }
        for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
            missing(sub, &format!("{path} {}", sub.get_name()), out);
        }
    }

    #[test]
    fn every_option_and_argument_has_help_text() {
        let mut found = Vec::new();
        for cmd in crate::ALL_COMMANDS.iter().map(|c| c()) {
            let mut cmd = cmd;
            cmd.build();
            let name = cmd.get_name().to_string();
            missing(&cmd, &name, &mut found);
        }
        let new: Vec<&String> = found
            .iter()
            .filter(|f| !WITHOUT_HELP_YET.contains(&f.as_str()))
            .collect();
        assert!(new.is_empty(), "no help text: {new:?}");
        let fixed: Vec<&&str> = WITHOUT_HELP_YET
            .iter()
            .filter(|w| !found.iter().any(|f| f == *w))
            .collect();
        assert!(
            fixed.is_empty(),
            "have help now, drop from WITHOUT_HELP_YET: {fixed:?}"
        );
    }
}
