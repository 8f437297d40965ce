//! Benchmark: `ganeti-layout install` of a staged tree of 30,000 files,
//! against `cp -a` of the same tree, alternated in the same run.
//! Run: cargo bench -p ganeti-layout  (BENCH_FILES overrides the size)

use std::process::Command;
use std::time::{Duration, Instant};

use ganeti_layout::install::plan::Request;
use ganeti_layout::install::{apply, demo, spec::Spec, stage::Stage};
use ganeti_layout::node::{DirStyle, InstallPaths};

fn main() {
    let files: usize = std::env::var("BENCH_FILES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(30_000);
    let tmp =
        tempfile::tempdir_in(std::env::var("BENCH_DIR").unwrap_or_else(|_| "/var/tmp".into()))
            .expect("tmp");
    let stage = tmp.path().join("stage");
    demo::write_stage(
        &stage,
        &"3.0.2".parse().expect("release"),
        &InstallPaths::default(),
    )
    .expect("demo stage");
    // The bulk: a Python package of `files` modules, 0.5-16 KiB each,
    // 20 modules per directory, as a large Ganeti build would be.
    let pkg = stage.join("usr/lib/python3/dist-packages/ganeti/bulk");
    let mut seed: u64 = 7;
    let mut total = 0u64;
    for i in 0..files {
        let dir = pkg
            .join(format!("mod{:03}", i / 400))
            .join(format!("sub{:02}", (i / 20) % 20));
        if i % 20 == 0 {
            fs_err::create_dir_all(&dir).expect("mkdir");
        }
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let size = 512 + (seed >> 33) as usize % (16 * 1024 - 512);
        total += size as u64;
        fs_err::write(dir.join(format!("m{i}.py")), vec![b'#'; size]).expect("write");
    }
    println!("stage: {files} files, {:.1} MiB", total as f64 / 1048576.0);
    let mut ours = Vec::new();
    let mut cp = Vec::new();
    for round in 0..3 {
        let _ = Command::new("sync").status();
        let dest = tmp.path().join(format!("dest{round}"));
        let t = Instant::now();
        let paths = InstallPaths::default().with_root(&dest).expect("root");
        let scanned = Stage::scan(&stage, &paths).expect("scan");
        let spec = Spec::builtin();
        let req = Request {
            stage: &scanned,
            spec: &spec,
            paths: &paths,
            release: "3.0.2".parse().expect("r"),
            style: DirStyle::Short,
            activate: true,
            keep_existing: false,
        };
        let plan = ganeti_layout::install::plan_install(&req).expect("plan");
        apply::apply(&plan, &paths, &scanned).expect("install");
        ours.push(t.elapsed());

        let _ = Command::new("sync").status();
        let copy = tmp.path().join(format!("copy{round}"));
        let t = Instant::now();
        assert!(Command::new("cp")
            .arg("-a")
            .arg(&stage)
            .arg(&copy)
            .status()
            .expect("cp")
            .success());
        cp.push(t.elapsed());
        for d in [&dest, &copy] {
            fs_err::remove_dir_all(d).expect("clean");
        }
    }
    let med = |mut v: Vec<Duration>| {
        v.sort();
        v[v.len() / 2]
    };
    let (o, c) = (med(ours), med(cp));
    println!("install benchmark, 3 alternated rounds, medians:");
    println!(
        "  ganeti-layout install (scan, plan, copy, manifest, syncfs, rename): {:.3} s",
        o.as_secs_f64()
    );
    println!(
        "  cp -a of the same stage:                                          {:.3} s",
        c.as_secs_f64()
    );
    println!(
        "  ratio install / cp -a = {:.2} (target <= 1.3)",
        o.as_secs_f64() / c.as_secs_f64()
    );
}
