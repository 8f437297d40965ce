//! The bash completions, loaded into a real bash and asked as a user's TAB
//! asks them: a subcommand's options complete (clap-rs/clap#6421 left them
//! dead for hyphenated binary names), and VERSION slots offer the versions
//! installed under the `--root` on the line (they offered file names).

use std::process::Command;

use ganeti_packaging::docs::bash_completion;

/// What bash's completion offers for `words` (the cursor on the last
/// word) with `binary`'s script loaded, one candidate a line.
fn complete(binary: &str, script: &str, words: &[&str]) -> Vec<String> {
    let function = format!("_{}", binary.replace('-', "__"));
    let cword = words.len() - 1;
    let quoted: Vec<String> = words
        .iter()
        .map(|w| format!("'{}'", w.replace('\'', "'\\''")))
        .collect();
    let program = format!(
        "{script}\nCOMP_WORDS=({words}); COMP_CWORD={cword}; COMP_LINE=\"${{COMP_WORDS[*]}}\"; COMP_POINT=${{#COMP_LINE}}\n{function} {binary} \"${{COMP_WORDS[COMP_CWORD]}}\" \"${{COMP_WORDS[COMP_CWORD-1]}}\"\nprintf '%s\\n' \"${{COMPREPLY[@]}}\"\n",
        words = quoted.join(" ")
    );
    let out = Command::new("bash")
        .arg("--norc")
        .arg("-c")
        .arg(program)
        .output()
        .expect("bash");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect()
}

fn script(cmd: clap::Command) -> String {
    String::from_utf8(bash_completion(cmd).bytes).expect("utf-8")
}

#[test]
fn subcommand_options_and_installed_versions_complete_in_bash() {
    if Command::new("bash").arg("--version").output().is_err() {
        eprintln!("SKIPPED: no bash");
        return;
    }
    let tmp = tempfile::tempdir().expect("tmp");
    let root = ganeti_test_support::two_version_node(tmp.path());
    let r = root.display().to_string();
    let layout = script(ganeti_layout::command::command());
    let switch = script(ganeti_switch::command::command());
    let upgrade = script(ganeti_upgrade::command::command());

    // Options after a subcommand (were nothing).
    let got = complete(
        "ganeti-layout",
        &layout,
        &["ganeti-layout", "install", "--"],
    );
    for want in ["--stage", "--release", "--activate", "--json"] {
        assert!(got.iter().any(|g| g == want), "install --<TAB>: {got:?}");
    }
    let got = complete("ganeti-switch", &switch, &["ganeti-switch", "to", "--f"]);
    assert_eq!(got, ["--force"], "to --f<TAB>");

    // VERSION slots: the versions installed under --root (were file names).
    for (binary, text, words) in [
        (
            "ganeti-switch",
            &switch,
            vec!["ganeti-switch", "--root", &r, "to", ""],
        ),
        (
            "ganeti-switch",
            &switch,
            vec!["ganeti-switch", "installed", "--root", &r, "3"],
        ),
        (
            "ganeti-layout",
            &layout,
            vec!["ganeti-layout", "--root", &r, "remove", "3."],
        ),
        (
            "ganeti-upgrade",
            &upgrade,
            vec!["ganeti-upgrade", "--root", &r, "--to", ""],
        ),
    ] {
        let got = complete(binary, text, &words);
        let versions: Vec<&String> = got.iter().filter(|g| !g.starts_with('-')).collect();
        assert_eq!(versions, ["3.0", "3.1"], "{words:?}: {got:?}");
    }
    // ganeti-upgrade has no subcommands: its options still complete.
    let got = complete("ganeti-upgrade", &upgrade, &["ganeti-upgrade", "--st"]);
    assert_eq!(got, ["--status"]);
}
