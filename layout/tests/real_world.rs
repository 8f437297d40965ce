//! `ganeti-layout` on the builds and post-install passes real distributions
//! use (issue 12): Ganeti's own versioned `make install`, strip and compress
//! passes after the install step, the build's own release, shared docs.
//! Every input is built from `tests/fake-ganeti/make-stage`.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use ganeti_layout::plan::{self, Conflict, Plan, Request};
use ganeti_layout::spec::Spec;
use ganeti_layout::stage::Stage;
use ganeti_layout::{apply, inspect, DirStyle, InstallPaths, Release};

fn paths(root: &Path) -> InstallPaths {
    InstallPaths::default()
        .with_root(root)
        .expect("absolute root")
}

/// `tests/fake-ganeti/make-stage RELEASE OUT`: a flat fake Ganeti stage.
fn make_stage(release: &str, out: &Path) -> PathBuf {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fake-ganeti/make-stage");
    let status = Command::new("bash")
        .arg(&script)
        .arg(release)
        .arg(out)
        .stdout(std::process::Stdio::null())
        .status()
        .expect("run make-stage");
    assert!(status.success(), "make-stage {release} failed");
    out.to_path_buf()
}

fn try_plan(
    stage: &Path,
    dest: &Path,
    release: &str,
    activate: bool,
) -> Result<Plan, Vec<Conflict>> {
    let p = paths(dest);
    let stage = Stage::scan(stage, &p).expect("scan");
    let spec = Spec::builtin();
    let req = Request {
        stage: &stage,
        spec: &spec,
        paths: &p,
        release: release.parse::<Release>().expect("release"),
        style: DirStyle::Short,
        activate,
        keep_existing: false,
    };
    ganeti_layout::plan_install(&req)
}

fn install(stage: &Path, dest: &Path, release: &str, activate: bool) -> Plan {
    let plan =
        try_plan(stage, dest, release, activate).unwrap_or_else(|c| panic!("conflicts: {c:#?}"));
    let p = paths(dest);
    let scanned = Stage::scan(stage, &p).expect("scan");
    apply::apply(&plan, &p, &scanned).expect("apply");
    plan
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
        for entry in std::fs::read_dir(up.join(tree)).expect("readdir").flatten() {
            let _ = std::fs::remove_file(entry.path().join(".ganeti-layout-manifest.json"));
        }
    }
    std::fs::remove_file(up.join("usr/lib/ganeti/.ganeti-layout.lock")).expect("rm lock");
    let dv = &release[..3];
    for link in symlinks_under(&up) {
        let logical = Path::new("/").join(link.strip_prefix(&up).expect("under"));
        if logical.starts_with(format!("/usr/lib/ganeti/{dv}"))
            || logical.starts_with(format!("/usr/share/ganeti/{dv}"))
        {
            continue;
        }
        let target = std::fs::read_link(&link).expect("readlink");
        if target.is_absolute() {
            continue;
        }
        let resolved = ganeti_layout::paths::resolve_lexically(&logical, &target).expect("inside");
        let text = resolved.to_string_lossy().replace(
            "/usr/lib/ganeti/default/usr/",
            "/usr/lib/ganeti/default//usr/",
        );
        std::fs::remove_file(&link).expect("rm");
        std::os::unix::fs::symlink(text, &link).expect("symlink");
    }
    std::fs::create_dir_all(up.join("etc/ganeti")).expect("mkdir");
    std::os::unix::fs::symlink(format!("/usr/lib/ganeti/{dv}"), up.join("etc/ganeti/lib"))
        .expect("symlink");
    std::os::unix::fs::symlink(
        format!("/usr/share/ganeti/{dv}"),
        up.join("etc/ganeti/share"),
    )
    .expect("symlink");
    up
}

fn run_layout(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_ganeti-layout"))
        .args(args)
        .output()
        .expect("run ganeti-layout");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
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
        std::fs::read_link(stage.join("usr/lib/ganeti/daemon-util")).expect("link"),
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
        let target = std::fs::read_link(&link).expect("readlink");
        assert!(
            target.starts_with("../share/ganeti/default")
                || target.starts_with("../lib/ganeti/default"),
            "{}: {}",
            link.display(),
            target.display()
        );
    }
    assert_eq!(
        std::fs::read_link(root.join("usr/lib/ganeti/daemon-util")).expect("link"),
        PathBuf::from("default/usr/lib/ganeti/daemon-util")
    );
    assert_eq!(
        inspect::verify(&paths(&root)).expect("verify"),
        Vec::<String>::new()
    );
    assert_eq!(
        inspect::read_active(&paths(&root))
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
    std::fs::remove_file(&node).expect("rm");
    // Straight at a version: would not follow a switch.
    std::os::unix::fs::symlink("/usr/share/ganeti/3.0/gnt-node", &node).expect("symlink");
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
    std::fs::remove_file(&node).expect("rm");
    install(&stage, &root, "3.0.2", true);
    assert_eq!(
        std::fs::read_link(root.join("usr/sbin/gnt-node")).expect("link"),
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
    std::fs::remove_file(&cluster).expect("rm");
    std::os::unix::fs::symlink("/usr/share/ganeti/default/gnt-cluster", &cluster).expect("symlink");
    let plan = try_plan(&flat, &root, "3.0.2", true).expect("no conflict");
    let text = plan::render_text(&plan);
    assert!(
        text.contains("relink  /usr/sbin/gnt-cluster -> ../share/ganeti/default/gnt-cluster (farm; was /usr/share/ganeti/default/gnt-cluster)"),
        "{text}"
    );
    assert!(text.contains(": 1 changes\n"), "{text}");
    install(&flat, &root, "3.0.2", true);
    assert_eq!(
        std::fs::read_link(&cluster).expect("link"),
        PathBuf::from("../share/ganeti/default/gnt-cluster")
    );
}

#[allow(dead_code)]
fn chmod(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}
