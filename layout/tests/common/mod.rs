//! Helpers shared by the layout's integration tests: plan and install a
//! stage into a destination, run the binary.

#![allow(dead_code)]

use std::path::Path;
use std::process::Command;

use ganeti_layout::install::apply;
use ganeti_layout::install::plan::{Conflict, Plan, Request};
use ganeti_layout::install::spec::Spec;
use ganeti_layout::install::stage::Stage;
use ganeti_layout::node::{DirStyle, InstallPaths, Release};

/// Debian's configure-time paths under `root`.
pub fn paths(root: &Path) -> InstallPaths {
    InstallPaths::default()
        .with_root(root)
        .expect("absolute root")
}

/// The plan of installing `stage` as `release` into `dest`.
pub fn try_plan(
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
    ganeti_layout::install::plan_install(&req)
}

/// Installs `stage` into `dest`; any conflict fails the test.
pub fn install(stage: &Path, dest: &Path, release: &str, activate: bool) -> apply::Report {
    let p = paths(dest);
    let plan =
        try_plan(stage, dest, release, activate).unwrap_or_else(|c| panic!("conflicts: {c:#?}"));
    let scanned = Stage::scan(stage, &p).expect("scan");
    apply::apply(&plan, &p, &scanned).expect("apply")
}

/// `ganeti-layout ARGS`: exit code, stdout, stderr.
pub fn run_layout(args: &[&str]) -> (i32, String, String) {
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
