//! Snapshots of what the packager and the admin read from
//! `ganeti-packaging`: every `--help` page, and each refusal a maintainer
//! script can meet, with its exit code, on a demo node in a temporary root
//! (shown as `[ROOT]`).

use ganeti_test_support::{every_help_page, transcript, two_version_node};

const EXE: &str = env!("CARGO_BIN_EXE_ganeti-packaging");

#[test]
fn help_pages() {
    let text = every_help_page(ganeti_packaging::cli::command(), 100);
    insta::assert_snapshot!("help", text);
}

#[test]
fn refusals_and_their_exit_codes() {
    let tmp = tempfile::tempdir().expect("tmp");
    let base = tmp.path();
    let root = two_version_node(base);
    let r = root.display().to_string();
    let mut text = String::new();
    for args in [
        vec!["--root", &r, "prerm", "remove", "3.0"],
        vec!["--root", &r, "prerm", "remove", "3.x"],
        vec!["--root", &r, "snippet", "postinst", "3"],
        vec!["--root", &r, "snippet", "preinst", "3.1"],
    ] {
        text.push_str(&transcript(EXE, base, &args));
    }
    // In a cluster, removing the active version names the cluster-wide way.
    fs_err::create_dir_all(root.join("var/lib/ganeti")).expect("mkdir");
    fs_err::write(root.join("var/lib/ganeti/server.pem"), "cert").expect("write");
    text.push_str(&transcript(
        EXE,
        base,
        &["--root", &r, "prerm", "remove", "3.0"],
    ));
    insta::assert_snapshot!("refusals", text);
}

/// The postinst a versioned package pastes, run as dpkg runs it (`sh
/// postinst configure OLD`, `DPKG_ROOT` set), with its standard output a
/// closed pipe or a full disk: it makes the version active and exits 0
/// (it was exit 101 after the switch, failing the package's configure).
/// `snippet` prints the script, so losing that output fails it.
#[test]
fn postinst_as_dpkg_runs_it_survives_a_closed_pipe_and_a_full_disk() {
    use ganeti_test_support::{run_with_stdout, Sink};
    let exe_dir = std::path::Path::new(EXE).parent().expect("dir");
    let path = format!(
        "{}:{}",
        exe_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    for sink in [Sink::ClosedPipe, Sink::Full] {
        let tmp = tempfile::tempdir().expect("tmp");
        let root = two_version_node(tmp.path());
        let r = root.display().to_string();
        let script = tmp.path().join("ganeti-3.1.postinst");
        let text = ganeti_packaging::snippets::Script::Postinst
            .render(&"3.1".parse().expect("v"))
            .replace("#DEBHELPER#", "");
        fs_err::write(&script, text).expect("write");
        let s = script.display().to_string();
        let (code, err) = run_with_stdout(
            "sh",
            &[&s, "configure", ""],
            &[("DPKG_ROOT", &r), ("PATH", &path)],
            sink,
        );
        assert_eq!(code, 0, "{sink:?}: {err}");
        assert!(!err.contains("panicked"), "{err}");
        // Outside a cluster, the newest version is made active.
        assert_eq!(
            fs_err::read_link(root.join("etc/ganeti/lib")).expect("link"),
            std::path::Path::new("/usr/lib/ganeti/3.1"),
            "{sink:?}"
        );
        let (code, err) = run_with_stdout(EXE, &["snippet", "postinst", "3.1"], &[], sink);
        assert_eq!(code, i32::from(sink == Sink::Full), "{sink:?}: {err}");
    }
}
