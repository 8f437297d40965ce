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
