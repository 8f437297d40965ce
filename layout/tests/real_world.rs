//! `ganeti-layout` on the builds and post-install passes real distributions
//! use (issue 12): Ganeti's own versioned `make install`, strip and compress
//! passes after the install step, the build's own release, shared docs.
//! Every input is built from `tests/fake-ganeti/make-stage`.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::{install, paths, run_layout, try_plan};
use ganeti_layout::install::stage::Stage;
use ganeti_layout::install::{apply, inspect, plan};
use ganeti_layout::node::{active, installed};

/// `tests/fake-ganeti/make-stage RELEASE OUT`: a flat fake Ganeti stage.
fn make_stage(release: &str, out: &Path) -> PathBuf {
    make_stage_with(&[], release, out)
}

/// The same with make-stage's options (`--elf`, `--plain-man`).
fn make_stage_with(options: &[&str], release: &str, out: &Path) -> PathBuf {
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

fn symlinks_under(dir: &Path) -> Vec<PathBuf> {
    walkdir::WalkDir::new(dir)
        .sort_by_file_name()
        .into_iter()
        .flatten()
        .filter(|e| e.path_is_symlink())
        .map(|e| e.path().to_path_buf())
        .collect()
}

/// What Ganeti 2.10+'s own `make install` gives: the version trees, and the
/// farm written as absolute links through `default` (the lib-tree links with
/// upstream's `default//usr/...`), plus the switch links that
/// `--enable-symlinks` adds. Built as the issue says: lay a fake build out,
/// drop the manifests and the lock, rewrite each farm link to the absolute
/// path it resolves to.
fn upstream_stage(tmp: &Path, release: &str) -> PathBuf {
    let flat = make_stage(release, &tmp.join(format!("flat-{release}")));
    let up = tmp.join(format!("upstream-{release}"));
    install(&flat, &up, release, false);
    for tree in ["usr/lib/ganeti", "usr/share/ganeti"] {
        for entry in fs_err::read_dir(up.join(tree)).expect("readdir").flatten() {
            let _ = fs_err::remove_file(entry.path().join(".ganeti-layout-manifest.json"));
        }
    }
    fs_err::remove_file(up.join("usr/lib/ganeti/.ganeti-layout.lock")).expect("rm lock");
    let dv = &release[..3];
    for link in symlinks_under(&up) {
        let logical = Path::new("/").join(link.strip_prefix(&up).expect("under"));
        if logical.starts_with(format!("/usr/lib/ganeti/{dv}"))
            || logical.starts_with(format!("/usr/share/ganeti/{dv}"))
        {
            continue;
        }
        let target = fs_err::read_link(&link).expect("readlink");
        if target.is_absolute() {
            continue;
        }
        let resolved =
            ganeti_layout::node::paths::resolve_lexically(&logical, &target).expect("inside");
        let text = resolved.to_string_lossy().replace(
            "/usr/lib/ganeti/default/usr/",
            "/usr/lib/ganeti/default//usr/",
        );
        fs_err::remove_file(&link).expect("rm");
        fs_err::os::unix::fs::symlink(text, &link).expect("symlink");
    }
    fs_err::create_dir_all(up.join("etc/ganeti")).expect("mkdir");
    fs_err::os::unix::fs::symlink(format!("/usr/lib/ganeti/{dv}"), up.join("etc/ganeti/lib"))
        .expect("symlink");
    fs_err::os::unix::fs::symlink(
        format!("/usr/share/ganeti/{dv}"),
        up.join("etc/ganeti/share"),
    )
    .expect("symlink");
    up
}

fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

// --- 1. Ganeti's own versioned stage ----------------------------------------

#[test]
fn upstream_versioned_stage_with_absolute_farm_links_installs() {
    let tmp = tempfile::tempdir().expect("tmp");
    let stage = upstream_stage(tmp.path(), "3.0.2");
    assert_eq!(
        fs_err::read_link(stage.join("usr/lib/ganeti/daemon-util")).expect("link"),
        PathBuf::from("/usr/lib/ganeti/default//usr/lib/ganeti/daemon-util"),
        "the input has upstream's double slash"
    );
    let root = tmp.path().join("root");
    let plan = try_plan(&stage, &root, "3.0.2", true).unwrap_or_else(|c| panic!("{c:#?}"));
    insta::assert_snapshot!(plan::render_text(&plan));

    let (code, out, err) = run_layout(&[
        "install",
        "--stage",
        s(&stage),
        "--release",
        "3.0.2",
        "--dest",
        s(&root),
        "--activate",
    ]);
    assert_eq!(code, 0, "{out}{err}");
    // The farm is written in the tool's canonical (relative) form.
    for link in symlinks_under(&root.join("usr/sbin")) {
        let target = fs_err::read_link(&link).expect("readlink");
        assert!(
            target.starts_with("../share/ganeti/default")
                || target.starts_with("../lib/ganeti/default"),
            "{}: {}",
            link.display(),
            target.display()
        );
    }
    assert_eq!(
        fs_err::read_link(root.join("usr/lib/ganeti/daemon-util")).expect("link"),
        PathBuf::from("default/usr/lib/ganeti/daemon-util")
    );
    assert_eq!(
        inspect::verify(&paths(&root)).expect("verify"),
        Vec::<String>::new()
    );
    assert_eq!(
        active::read_active(&paths(&root))
            .version()
            .map(|v| v.to_string()),
        Some("3.0".to_string())
    );
}

#[test]
fn upstream_stage_link_that_really_points_elsewhere_still_conflicts() {
    let tmp = tempfile::tempdir().expect("tmp");
    let stage = upstream_stage(tmp.path(), "3.0.2");
    let node = stage.join("usr/sbin/gnt-node");
    fs_err::remove_file(&node).expect("rm");
    // Straight at a version: would not follow a switch.
    fs_err::os::unix::fs::symlink("/usr/share/ganeti/3.0/gnt-node", &node).expect("symlink");
    let root = tmp.path().join("root");
    let conflicts = try_plan(&stage, &root, "3.0.2", true).expect_err("a real disagreement");
    let text: Vec<String> = conflicts.iter().map(ToString::to_string).collect();
    assert_eq!(text.len(), 1, "{text:#?}");
    assert!(
        text[0].starts_with("/usr/sbin/gnt-node: the stage links to /usr/share/ganeti/3.0/gnt-node, the program lists give ../share/ganeti/default/gnt-node"),
        "{}",
        text[0]
    );
    assert!(!root.exists(), "nothing was changed");
    // The fix the message names works: without the stage's link, the tool
    // writes the farm link itself.
    fs_err::remove_file(&node).expect("rm");
    install(&stage, &root, "3.0.2", true);
    assert_eq!(
        fs_err::read_link(root.join("usr/sbin/gnt-node")).expect("link"),
        PathBuf::from("../share/ganeti/default/gnt-node")
    );
}

#[test]
fn equivalent_absolute_links_at_the_destination_are_rewritten_not_refused() {
    let tmp = tempfile::tempdir().expect("tmp");
    let flat = make_stage("3.0.2", &tmp.path().join("flat"));
    let root = tmp.path().join("root");
    install(&flat, &root, "3.0.2", true);
    // Someone ran upstream's make install over it: the same links, absolute.
    let cluster = root.join("usr/sbin/gnt-cluster");
    fs_err::remove_file(&cluster).expect("rm");
    fs_err::os::unix::fs::symlink("/usr/share/ganeti/default/gnt-cluster", &cluster)
        .expect("symlink");
    let plan = try_plan(&flat, &root, "3.0.2", true).expect("no conflict");
    let text = plan::render_text(&plan);
    assert!(
        text.contains("relink  /usr/sbin/gnt-cluster -> ../share/ganeti/default/gnt-cluster (farm; was /usr/share/ganeti/default/gnt-cluster)"),
        "{text}"
    );
    assert!(text.contains(": 1 changes\n"), "{text}");
    install(&flat, &root, "3.0.2", true);
    assert_eq!(
        fs_err::read_link(&cluster).expect("link"),
        PathBuf::from("../share/ganeti/default/gnt-cluster")
    );
}

/// Asserts that `version` under `root` is completely installed and the
/// layout sound; returns what `list` says of it.
fn assert_complete(root: &Path, version: &str, label: &str) -> installed::VersionInfo {
    let p = paths(root);
    let v = version.parse().expect("v");
    assert_eq!(
        installed::check_complete(&p, &v).expect("check"),
        Vec::<String>::new(),
        "{label}"
    );
    assert_eq!(
        inspect::verify(&p).expect("verify"),
        Vec::<String>::new(),
        "{label}"
    );
    let info = installed::list(&p)
        .expect("list")
        .into_iter()
        .find(|i| i.version == v)
        .expect("listed");
    assert!(info.complete, "{label}");
    info
}

// --- 2. strip passes after the install step ---------------------------------

fn have(program: &str) -> bool {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .stdout(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !found {
        eprintln!("SKIPPED part: {program} is not installed");
    }
    found
}

fn run(program: &str, args: &[&str]) {
    let status = Command::new(program)
        .args(args)
        .status()
        .unwrap_or_else(|e| panic!("{program}: {e}"));
    assert!(status.success(), "{program} {args:?} failed");
}

/// A fake 3.1.0 stage whose `ganeti-confd` and `htools` are ELF programs
/// built with debug information, as real Haskell builds are.
fn stage_with_elf_programs(tmp: &Path) -> Option<PathBuf> {
    have("cc").then(|| make_stage_with(&["--elf"], "3.1.0", &tmp.join("stage-elf")))
}

fn elf_files(dir: &Path) -> Vec<PathBuf> {
    walkdir::WalkDir::new(dir)
        .into_iter()
        .flatten()
        .filter(|e| e.file_type().is_file())
        .filter(|e| fs_err::read(e.path()).is_ok_and(|b| b.starts_with(b"\x7fELF")))
        .map(|e| e.path().to_path_buf())
        .collect()
}

/// The strip passes of the distributions, as each runs on executables.
const STRIP_PASSES: &[(&str, &str, &[&str])] = &[
    // debhelper's dh_strip
    (
        "dh_strip",
        "strip",
        &["--remove-section=.comment", "--remove-section=.note"],
    ),
    // rpm's brp-strip
    ("brp-strip", "strip", &["-g"]),
    // Portage's estrip
    (
        "portage",
        "strip",
        &[
            "--strip-unneeded",
            "-R",
            ".comment",
            "-R",
            ".GCC.command.line",
            "-R",
            ".note.gnu.gold-version",
        ],
    ),
    ("strip --strip-debug", "strip", &["--strip-debug"]),
    // Fedora's find-debuginfo
    ("eu-strip", "eu-strip", &["--remove-comment"]),
];

#[test]
fn a_strip_pass_after_the_install_leaves_the_version_complete() {
    let tmp = tempfile::tempdir().expect("tmp");
    let Some(stage) = stage_with_elf_programs(tmp.path()) else {
        return;
    };
    for (pass, program, args) in STRIP_PASSES {
        if !have(program) {
            continue;
        }
        let root = tmp.path().join(format!("root-{pass}"));
        install(&stage, &root, "3.1.0", true);
        let elves = elf_files(&root.join("usr/lib/ganeti/3.1"));
        assert_eq!(elves.len(), 2, "{elves:?}");
        for elf in &elves {
            let before = fs_err::metadata(elf).expect("meta").len();
            let mut argv: Vec<&str> = args.to_vec();
            argv.push(s(elf));
            run(program, &argv);
            assert!(
                fs_err::metadata(elf).expect("meta").len() < before,
                "{pass} shrank nothing"
            );
        }
        let info = assert_complete(&root, "3.1", pass);
        assert_eq!(info.changed.len(), 2, "{pass}: {:#?}", info.changed);
        assert!(
            info.changed.iter().all(|c| c.contains("(stripped?)")),
            "{pass}: {:#?}",
            info.changed
        );
    }
}

#[test]
fn a_program_no_longer_executable_or_gone_is_incomplete() {
    let tmp = tempfile::tempdir().expect("tmp");
    let stage = make_stage("3.1.0", &tmp.path().join("stage"));
    let root = tmp.path().join("root");
    install(&stage, &root, "3.1.0", true);
    let p = paths(&root);
    let v = "3.1".parse().expect("v");
    let confd = root.join("usr/lib/ganeti/3.1/usr/sbin/ganeti-confd");
    fs_err::set_permissions(&confd, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    fs_err::remove_file(root.join("usr/share/ganeti/3.1/gnt-node")).expect("rm");
    let problems = installed::check_complete(&p, &v).expect("check");
    assert_eq!(problems.len(), 2, "{problems:#?}");
    assert!(
        problems[0].ends_with("usr/sbin/ganeti-confd: not executable (mode 644, installed as 755)"),
        "{problems:#?}"
    );
    assert!(
        problems[1].ends_with("usr/share/ganeti/3.1/gnt-node: missing"),
        "{problems:#?}"
    );
    // A mode that keeps it executable is a change, not a gap.
    fs_err::set_permissions(&confd, std::fs::Permissions::from_mode(0o700)).expect("chmod");
    let problems = installed::check_complete(&p, &v).expect("check");
    assert_eq!(problems.len(), 1, "{problems:#?}");
}

// --- 3. compress passes after the install step ------------------------------

/// The compressors of the distributions' compress passes: dh_compress and
/// brp-compress use gzip -9n, Portage's ecompress any of them.
const COMPRESSORS: &[(&str, &[&str])] = &[
    ("gz", &["gzip", "-9n"]),
    ("bz2", &["bzip2", "-9"]),
    ("xz", &["xz", "-9"]),
    ("zst", &["zstd", "-q", "--rm", "-19"]),
];

/// make-stage's pages, uncompressed, as Ganeti's own `make install` leaves
/// them.
fn stage_with_plain_pages(tmp: &Path, release: &str) -> PathBuf {
    make_stage_with(
        &["--plain-man"],
        release,
        &tmp.join(format!("stage-plain-{release}")),
    )
}

/// What brp-compress and Portage do after the install: compress every page
/// in the tree, and rename every farm link in the man directories to the
/// new name, its target renamed alike.
fn compress_pass(root: &Path, tree: &Path, suffix: &str, compressor: &[&str]) {
    assert_eq!(
        compress_pages(tree, compressor),
        8,
        "make-stage's eight pages"
    );
    rename_page_links(root, None, suffix);
}

/// Runs `compressor` on every man page in a share tree; returns how many.
fn compress_pages(tree: &Path, compressor: &[&str]) -> usize {
    let pages: Vec<PathBuf> = walkdir::WalkDir::new(tree.join("root/usr/share/man"))
        .into_iter()
        .flatten()
        .filter(|e| e.file_type().is_file())
        .map(|e| e.path().to_path_buf())
        .collect();
    for page in &pages {
        let mut argv: Vec<&str> = compressor[1..].to_vec();
        argv.push(s(page));
        run(compressor[0], &argv);
    }
    pages.len()
}

/// Renames the farm links of the man pages, and their targets, from suffix
/// `from` (none: uncompressed) to `to`.
fn rename_page_links(root: &Path, from: Option<&str>, to: &str) {
    let strip = |p: &Path| -> String {
        let text = p.display().to_string();
        match from {
            Some(old) => text
                .strip_suffix(&format!(".{old}"))
                .expect("old suffix")
                .to_string(),
            None => text,
        }
    };
    for link in symlinks_under(&root.join("usr/share/man")) {
        let target = fs_err::read_link(&link).expect("readlink");
        fs_err::remove_file(&link).expect("rm");
        fs_err::os::unix::fs::symlink(
            format!("{}.{to}", strip(&target)),
            format!("{}.{to}", strip(&link)),
        )
        .expect("symlink");
    }
}

#[test]
fn man_pages_compressed_after_the_install_are_not_missing() {
    let tmp = tempfile::tempdir().expect("tmp");
    let stage = stage_with_plain_pages(tmp.path(), "3.0.2");
    for (suffix, compressor) in COMPRESSORS {
        if !have(compressor[0]) {
            continue;
        }
        let root = tmp.path().join(format!("root-{suffix}"));
        install(&stage, &root, "3.0.2", true);
        compress_pass(
            &root,
            &root.join("usr/share/ganeti/3.0"),
            suffix,
            compressor,
        );
        assert!(root
            .join(format!("usr/share/man/man8/gnt-cluster.8.{suffix}"))
            .symlink_metadata()
            .is_ok());
        let info = assert_complete(&root, "3.0", suffix);
        assert_eq!(
            info.changed
                .iter()
                .filter(|c| c.contains("(compressed after the install)"))
                .count(),
            8,
            ".{suffix}: {:#?}",
            info.changed
        );
    }
}

#[test]
fn pages_recompressed_with_another_suffix_are_not_missing() {
    // Portage's ecompress with PORTAGE_COMPRESS=xz turns make-stage's
    // .gz pages into .xz ones.
    let tmp = tempfile::tempdir().expect("tmp");
    if !have("xz") {
        return;
    }
    let stage = make_stage("3.0.2", &tmp.path().join("stage"));
    let root = tmp.path().join("root");
    install(&stage, &root, "3.0.2", true);
    let tree = root.join("usr/share/ganeti/3.0");
    compress_pages(&tree, &["gzip", "-d"]);
    compress_pages(&tree, &["xz", "-9"]);
    rename_page_links(&root, Some("gz"), "xz");
    assert_complete(&root, "3.0", ".gz to .xz");
}

#[test]
fn removing_a_version_drops_its_farm_links_under_their_compressed_names() {
    let tmp = tempfile::tempdir().expect("tmp");
    let stage = stage_with_plain_pages(tmp.path(), "3.0.2");
    let root = tmp.path().join("root");
    install(&stage, &root, "3.0.2", false);
    compress_pass(
        &root,
        &root.join("usr/share/ganeti/3.0"),
        "gz",
        &["gzip", "-9n"],
    );
    let p = paths(&root);
    let removed = apply::remove_version(&p, &"3.0".parse().expect("v"))
        .expect("remove")
        .paths;
    assert!(
        removed.contains(&root.join("usr/share/man/man8/gnt-cluster.8.gz")),
        "{removed:#?}"
    );
    assert_eq!(
        symlinks_under(&root.join("usr/share/man")),
        Vec::<PathBuf>::new()
    );
}

// --- 5. the build's own release ---------------------------------------------

#[test]
fn release_given_that_disagrees_with_the_build_is_refused_naming_both() {
    let tmp = tempfile::tempdir().expect("tmp");
    let stage = make_stage("3.1.0~rc2", &tmp.path().join("stage"));
    let root = tmp.path().join("root");
    // An rpm %{version} cannot hold '~'; a copy-paste names another version.
    for (given, dir) in [("3.1.0.rc2", "full"), ("3.0.2", "short")] {
        let (code, out, err) = run_layout(&[
            "install",
            "--stage",
            s(&stage),
            "--release",
            given,
            "--dir-version",
            dir,
            "--dest",
            s(&root),
        ]);
        assert_eq!(code, 1, "{out}{err}");
        assert!(
            err.contains(&format!("conflict: --release is {given}, but the build says it is 3.1.0~rc2 (/usr/lib/python3/dist-packages/ganeti/version.py: RELEASE_VERSION); leave --release out to use the build's own, or pass --release 3.1.0~rc2")),
            "{err}"
        );
        assert!(!root.exists(), "nothing was changed");
    }
    // Both fixes the message names work.
    let (code, out, err) = run_layout(&[
        "install",
        "--stage",
        s(&stage),
        "--dir-version",
        "full",
        "--dest",
        s(&root),
    ]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("installed Ganeti 3.1.0~rc2 as 3.1.0~rc2"),
        "{out}"
    );
    assert!(root.join("usr/lib/ganeti/3.1.0~rc2").is_dir());
    let (code, out, err) = run_layout(&[
        "install",
        "--stage",
        s(&stage),
        "--release",
        "3.1.0~rc2",
        "--dest",
        s(&root),
    ]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("installed Ganeti 3.1.0~rc2 as 3.1"), "{out}");
}

#[test]
fn a_stage_that_does_not_say_its_release_needs_release() {
    let tmp = tempfile::tempdir().expect("tmp");
    let stage = make_stage("3.0.2", &tmp.path().join("stage"));
    fs_err::remove_file(stage.join("usr/lib/python3/dist-packages/ganeti/version.py")).expect("rm");
    let root = tmp.path().join("root");
    let (code, _, err) = run_layout(&["plan", "--stage", s(&stage), "--dest", s(&root)]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("does not say which release it is"), "{err}");
    assert!(
        err.contains("hint: pass --release, e.g. --release 3.0.2"),
        "{err}"
    );
    let (code, _, err) = run_layout(&[
        "plan",
        "--stage",
        s(&stage),
        "--release",
        "3.0.2",
        "--dest",
        s(&root),
    ]);
    assert_eq!(code, 0, "{err}");
}

#[test]
fn upstream_autoconf_release_wins_over_version_py() {
    let tmp = tempfile::tempdir().expect("tmp");
    let stage = make_stage("3.0.2", &tmp.path().join("stage"));
    fs_err::write(
        stage.join("usr/lib/python3/dist-packages/ganeti/_autoconf.py"),
        "PACKAGE_VERSION = \"3.0.2\"\n",
    )
    .expect("write");
    fs_err::write(
        stage.join("usr/lib/python3/dist-packages/ganeti/_constants.py"),
        "RELEASE_VERSION = _autoconf.PACKAGE_VERSION\n",
    )
    .expect("write");
    let p = paths(&tmp.path().join("root"));
    let scanned = Stage::scan(&stage, &p).expect("scan");
    let own = scanned.own_release.expect("found");
    assert_eq!(
        (own.path, own.constant, own.text.as_str()),
        (
            PathBuf::from("/usr/lib/python3/dist-packages/ganeti/_autoconf.py"),
            "PACKAGE_VERSION",
            "3.0.2"
        )
    );
}

// --- 7. shared docs ----------------------------------------------------------

#[test]
fn a_second_version_replaces_ganetis_shared_docs_but_not_conffiles() {
    let tmp = tempfile::tempdir().expect("tmp");
    let root = tmp.path().join("root");
    install(
        &make_stage("3.0.2", &tmp.path().join("s30")),
        &root,
        "3.0.2",
        true,
    );
    let s31 = make_stage("3.1.0", &tmp.path().join("s31"));
    // make-stage's doc README names the release: it differs between the two.
    let (code, out, err) = run_layout(&["install", "--stage", s(&s31), "--dest", s(&root)]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        err.contains("warning: /usr/share/doc/ganeti/README: replaced by this build's copy"),
        "{err}"
    );
    assert!(
        fs_err::read_to_string(root.join("usr/share/doc/ganeti/README"))
            .expect("read")
            .starts_with("Fake Ganeti 3.1.0")
    );

    // A conffile or another package's doc with other content is a real
    // collision: refused, nothing changed.
    let s31b = make_stage("3.1.0", &tmp.path().join("s31b"));
    fs_err::write(s31b.join("etc/default/ganeti"), "RAPI_ARGS=\"\"\n").expect("write");
    fs_err::create_dir_all(root.join("usr/share/doc/other")).expect("mkdir");
    fs_err::write(root.join("usr/share/doc/other/README"), "other\n").expect("write");
    fs_err::create_dir_all(s31b.join("usr/share/doc/other")).expect("mkdir");
    fs_err::write(s31b.join("usr/share/doc/other/README"), "ours\n").expect("write");
    let conflicts = try_plan(&s31b, &root, "3.1.0", false).expect_err("collisions");
    let text: Vec<String> = conflicts.iter().map(ToString::to_string).collect();
    assert_eq!(
        text,
        vec![
            "/etc/default/ganeti: exists with other content; move it aside to have it replaced, or pass --keep-existing to keep it".to_string(),
            "/usr/share/doc/other/README: exists with other content; move it aside to have it replaced, or pass --keep-existing to keep it".to_string(),
        ]
    );
}

// --- 6/8. refusals name a fix that works -------------------------------------

#[test]
fn removing_the_active_version_names_the_switch_that_fits_the_node() {
    let tmp = tempfile::tempdir().expect("tmp");
    let root = tmp.path().join("root");
    install(
        &make_stage("3.0.2", &tmp.path().join("s30")),
        &root,
        "3.0.2",
        true,
    );
    install(
        &make_stage("3.1.0", &tmp.path().join("s31")),
        &root,
        "3.1.0",
        false,
    );
    let remove = || run_layout(&["remove", "--root", s(&root), "3.0"]);
    let (code, _, err) = remove();
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains(&format!(
            "hint: switch to another version first: ganeti-switch --root {} to 3.1",
            root.display()
        )),
        "{err}"
    );
    // In a cluster a bare switch would skip cfgupgrade.
    fs_err::create_dir_all(root.join("var/lib/ganeti")).expect("mkdir");
    fs_err::write(root.join("var/lib/ganeti/server.pem"), "cert").expect("write");
    let (code, _, err) = remove();
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains(&format!("hint: switch to another version first: ganeti-upgrade --root {} --to 3.1 (on the master: the whole cluster moves together)", root.display())),
        "{err}"
    );
}
