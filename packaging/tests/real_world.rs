//! Packages built the way distributions build them (issue 12): a strip pass
//! after `debian-install`, the build's own release, and a clustered node
//! whose active version was removed by force. Inputs come from
//! `tests/fake-ganeti/make-stage`.

use std::path::{Path, PathBuf};
use std::process::Command;

use ganeti_layout::node::installed;
use ganeti_layout::node::{DirVersion, InstallPaths};

fn make_stage(options: &[&str], release: &str, out: &Path) -> PathBuf {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fake-ganeti/make-stage");
    let status = Command::new("bash")
        .arg(&script)
        .args(options)
        .arg(release)
        .arg(out)
        .stdout(std::process::Stdio::null())
        .status()
        .expect("run make-stage");
    assert!(status.success(), "make-stage {release} failed");
    out.to_path_buf()
}

/// `ganeti-packaging ARGS` with `env` set (and nothing of the caller's
/// maintainer-script environment): exit code, stdout then stderr.
fn packaging_with(env: &[(&str, &str)], args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_ganeti-packaging"))
        .args(args)
        .env_remove("DPKG_ROOT")
        .env_remove("GANETI_PACKAGING_ALLOW_ACTIVE_REMOVAL")
        .envs(env.iter().copied())
        .output()
        .expect("run ganeti-packaging");
    (
        out.status.code().unwrap_or(-1),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

fn packaging(args: &[&str]) -> (i32, String) {
    packaging_with(&[], args)
}

fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

fn have(program: &str) -> bool {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .stdout(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !found {
        eprintln!("SKIPPED: {program} is not installed");
    }
    found
}

/// `debian-install` as packaging/README.md says, into `debian/` under `dir`:
/// the farm package `ganeti`, the trees package `ganeti-M.m`.
fn debian_install(dir: &Path, stage: &Path, dv: &str) -> PathBuf {
    let debian = dir.join("debian");
    let (code, out) = packaging(&[
        "debian-install",
        "--stage",
        s(stage),
        "--destdir",
        s(&debian.join("tmp")),
        "--debian-dir",
        s(&debian),
        "--farm-package",
        "ganeti",
        "--trees-package",
        &format!("ganeti-{dv}"),
    ]);
    assert_eq!(code, 0, "{out}");
    debian
}

/// What dpkg does with the two packages: their trees unpacked onto `root`.
fn unpack(debian: &Path, packages: &[&str], root: &Path) {
    fs_err::create_dir_all(root).expect("mkdir");
    for p in packages {
        let status = Command::new("cp")
            .arg("-a")
            .arg(format!("{}/.", debian.join(p).display()))
            .arg(root)
            .status()
            .expect("cp");
        assert!(status.success());
    }
}

fn elf_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in fs_err::read_dir(dir).expect("readdir").flatten() {
        let kind = entry.file_type().expect("type");
        if kind.is_dir() {
            out.extend(elf_files(&entry.path()));
        } else if kind.is_file()
            && fs_err::read(entry.path()).is_ok_and(|b| b.starts_with(b"\x7fELF"))
        {
            out.push(entry.path());
        }
    }
    out
}

fn v(text: &str) -> DirVersion {
    text.parse().expect("version")
}

/// Issue 12, item 2, as the issue gives it.
#[test]
fn a_package_stripped_after_debian_install_is_completely_installed() {
    if !have("cc") || !have("strip") {
        return;
    }
    let tmp = tempfile::tempdir().expect("tmp");
    let stage = make_stage(&["--elf"], "3.1.0", &tmp.path().join("stage"));
    let debian = debian_install(tmp.path(), &stage, "3.1");
    let elves = elf_files(&debian.join("ganeti-3.1"));
    assert_eq!(elves.len(), 2, "{elves:?}");
    for elf in &elves {
        let status = Command::new("strip")
            .arg("--strip-debug")
            .arg(elf)
            .status()
            .expect("strip");
        assert!(status.success());
    }
    let root = tmp.path().join("root");
    unpack(&debian, &["ganeti", "ganeti-3.1"], &root);
    let (code, out) = packaging(&["--root", s(&root), "postinst", "configure", "3.1"]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("made Ganeti 3.1 active (no version was active)"),
        "{out}"
    );
    let paths = InstallPaths::default().with_root(&root).expect("paths");
    let status = ganeti_switch::check(&paths).expect("check");
    assert_eq!(status.problems, Vec::<String>::new());
    assert_eq!(status.stable_version(), Some(&v("3.1")));
    // What `ganeti-switch installed 3.1` and the upgrade ask.
    assert_eq!(
        installed::check_complete(&paths, &v("3.1")).expect("check"),
        Vec::<String>::new()
    );
    let info = &installed::list(&paths).expect("list")[0];
    assert_eq!(info.changed.len(), 2, "{:#?}", info.changed);
}

/// Item 5 for packagers: debian-install takes the build's own release.
#[test]
fn debian_install_takes_the_builds_own_release_and_refuses_another() {
    let tmp = tempfile::tempdir().expect("tmp");
    let stage = make_stage(&[], "3.1.0~rc2", &tmp.path().join("stage"));
    let (code, out) = packaging(&[
        "debian-install",
        "--stage",
        s(&stage),
        "--release",
        "3.1.0.rc2",
        "--destdir",
        s(&tmp.path().join("refused")),
    ]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("--release is 3.1.0.rc2, but the build says it is 3.1.0~rc2"),
        "{out}"
    );
    assert!(!tmp.path().join("refused").exists(), "nothing was changed");
    let (code, out) = packaging(&[
        "debian-install",
        "--stage",
        s(&stage),
        "--destdir",
        s(&tmp.path().join("tmp")),
    ]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("laid out 3.1.0~rc2 as 3.1"), "{out}");
}

fn packaging_env(root: &Path, env: &[(&str, &str)], args: &[&str]) -> (i32, String) {
    let mut all = vec!["--root", s(root)];
    all.extend_from_slice(args);
    packaging_with(env, &all)
}

/// Issue 12, item 6: a Debian dist-upgrade on a clustered node that removed
/// the active version by force. The cluster's configuration is still at
/// 2.16.2 (ssconf says so); only `ganeti-upgrade` may move it to 3.0.
#[test]
fn clustered_node_after_a_forced_removal_of_the_active_version() {
    let tmp = tempfile::tempdir().expect("tmp");
    let root = tmp.path().join("root");
    let paths = InstallPaths::default().with_root(&root).expect("paths");
    let install = |release: &str| {
        ganeti_layout::install::demo::install(
            &tmp.path().join(format!("stage-{release}")),
            &paths,
            &release.parse().expect("release"),
            false,
        )
        .expect("demo install");
    };
    install("2.16.2");
    let run = |env: &[(&str, &str)], args: &[&str]| packaging_env(&root, env, args);
    assert_eq!(run(&[], &["postinst", "configure", "2.16"]).0, 0);
    let datadir = paths.fs().host_path(&paths.datadir());
    fs_err::create_dir_all(&datadir).expect("mkdir");
    fs_err::write(datadir.join("server.pem"), "cert").expect("write");
    fs_err::write(datadir.join("ssconf_release_version"), "2.16.2\n").expect("write");

    // The dist-upgrade installs 3.0: the node stays on 2.16.
    install("3.0.2");
    let (code, out) = run(&[], &["postinst", "configure", "3.0"]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains(&format!(
            "to move the cluster to 3.0, run ganeti-upgrade --root {} --to 3.0 (on the master",
            root.display()
        )),
        "{out}"
    );
    // Removing 2.16 is refused, naming the upgrade...
    let (code, out) = run(&[], &["prerm", "remove", "2.16"]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains(&format!(
            "ganeti-upgrade --root {} --to 3.0 (on the master",
            root.display()
        )),
        "{out}"
    );
    // ... until the administrator overrides it, and the files go.
    let (code, out) = run(
        &[("GANETI_PACKAGING_ALLOW_ACTIVE_REMOVAL", "yes")],
        &["prerm", "remove", "2.16"],
    );
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("this node is in a cluster"), "{out}");
    assert!(!out.contains("(ganeti-switch to VERSION)"), "{out}");
    for tree in [
        paths.version_lib(&v("2.16")),
        paths.version_share(&v("2.16")),
    ] {
        fs_err::remove_dir_all(paths.fs().host_path(&tree)).expect("rm");
    }

    // postrm names the way that converts the configuration, not a bare switch.
    let (code, out) = run(&[], &["postrm", "remove"]);
    assert_eq!(code, 0, "{out}");
    assert!(!out.contains("ganeti-switch --root"), "{out}");
    assert!(
        out.contains(&format!("the cluster's configuration is at 2.16.2, which a bare switch would not convert: reinstall Ganeti 2.16, then run on the master: ganeti-upgrade --root {} --to 3.0", root.display())),
        "{out}"
    );
    // postinst of 3.0 (configured again) does not flip the node.
    let (code, out) = run(&[], &["postinst", "configure", "3.0"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains(&format!("so the links were left alone; reinstall Ganeti 2.16, then run on the master: ganeti-upgrade --root {} --to 3.0", root.display())), "{out}");
    assert_eq!(
        fs_err::read_link(paths.fs().host_path(&paths.active_lib_link())).expect("link"),
        paths.version_lib(&v("2.16")),
        "still on the removed version"
    );

    // The way forward the messages name works: with 2.16 back, the node is
    // sound on it, and 3.0 is ready for `ganeti-upgrade --to 3.0`.
    install("2.16.2");
    let (code, out) = run(&[], &["postinst", "configure", "2.16"]);
    assert_eq!(code, 0, "{out}");
    let status = ganeti_switch::check(&paths).expect("check");
    assert_eq!(status.problems, Vec::<String>::new());
    assert_eq!(status.stable_version(), Some(&v("2.16")));
    assert_eq!(
        installed::check_complete(&paths, &v("3.0")).expect("check"),
        Vec::<String>::new()
    );
}
