//! Benchmark: the median time of one durable switch (fsync included),
//! against two `ln -s -f -T` processes (what Ganeti runs) and against
//! `update-alternatives --set`, all measured in this run.
//! Run: cargo bench -p ganeti-switch

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use ganeti_switch::SwitchOptions;

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    let tmp = tempfile::tempdir().expect("tmp");
    let base = tmp.path();
    let paths = ganeti_test_support::node_under(base);
    let versions = ["3.1".parse().expect("v"), "3.0".parse().expect("v")];
    let runs = 300;
    let mut ours = Vec::new();
    let mut ln = Vec::new();
    let mut ua = Vec::new();
    let mut cli = Vec::new();
    let alt = base.join("alt");
    let (altdir, admindir) = (alt.join("etc"), alt.join("admin"));
    fs_err::create_dir_all(&altdir).expect("mkdir");
    fs_err::create_dir_all(&admindir).expect("mkdir");
    let ua_cmd = |args: &[&str]| {
        let ok = Command::new("update-alternatives")
            .arg("--quiet")
            .arg("--altdir")
            .arg(&altdir)
            .arg("--admindir")
            .arg(&admindir)
            .args(args)
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        assert!(ok, "update-alternatives {args:?}");
    };
    let link = alt.join("ganeti-lib").to_string_lossy().into_owned();
    let (t1, t2) = (
        paths
            .version_lib(&versions[0])
            .to_string_lossy()
            .into_owned(),
        paths
            .version_lib(&versions[1])
            .to_string_lossy()
            .into_owned(),
    );
    ua_cmd(&["--install", &link, "ganeti-lib", &t1, "10"]);
    ua_cmd(&["--install", &link, "ganeti-lib", &t2, "20"]);
    let exe = std::env::current_exe().expect("exe");
    let switch_bin = exe
        .parent()
        .and_then(Path::parent)
        .expect("target")
        .join("ganeti-switch");
    for i in 0..runs {
        let v = &versions[i % 2];
        let t = Instant::now();
        ganeti_switch::switch_to(&paths, v, SwitchOptions::default()).expect("switch");
        ours.push(t.elapsed());

        let t = Instant::now();
        for (target, l) in [
            (paths.version_lib(v), paths.active_lib_link()),
            (paths.version_share(v), paths.active_share_link()),
        ] {
            let ok = Command::new("ln")
                .arg("-s")
                .arg("-f")
                .arg("-T")
                .arg(&target)
                .arg(&l)
                .status()
                .expect("ln")
                .success();
            assert!(ok);
        }
        ln.push(t.elapsed());

        let t = Instant::now();
        ua_cmd(&["--set", "ganeti-lib", if i % 2 == 0 { &t1 } else { &t2 }]);
        ua.push(t.elapsed());

        if switch_bin.exists() {
            let t = Instant::now();
            let ok = Command::new(&switch_bin)
                .arg("--prefix")
                .arg(base.join("usr"))
                .arg("--sysconfdir")
                .arg(base.join("etc"))
                .arg("--localstatedir")
                .arg(base.join("var"))
                .args(["to", versions[(i + 1) % 2].as_str()])
                .stdout(std::process::Stdio::null())
                .status()
                .expect("ganeti-switch")
                .success();
            assert!(ok);
            cli.push(t.elapsed());
            // Put the node back where the in-process loop expects it.
            ganeti_switch::switch_to(&paths, &versions[(i + 1) % 2], SwitchOptions::default())
                .expect("switch");
        }
    }
    let (o, l, u) = (median(ours), median(ln), median(ua));
    println!("switch benchmark, {runs} runs each, medians:");
    println!(
        "  ganeti-switch (library, journal + 2 renames + fsyncs): {:>8.3} ms",
        o.as_secs_f64() * 1e3
    );
    println!(
        "  two `ln -s -f -T` processes (Ganeti's switch, no fsync): {:>8.3} ms",
        l.as_secs_f64() * 1e3
    );
    println!(
        "  update-alternatives --set (1 link):                     {:>8.3} ms",
        u.as_secs_f64() * 1e3
    );
    println!(
        "  ratio ours/ln = {:.2}, ours/update-alternatives = {:.2}",
        o.as_secs_f64() / l.as_secs_f64(),
        o.as_secs_f64() / u.as_secs_f64()
    );
    if !cli.is_empty() {
        let c = median(cli);
        println!("  ganeti-switch as a process:                              {:>8.3} ms (ratio to ln: {:.2}, to update-alternatives: {:.2})", c.as_secs_f64() * 1e3, c.as_secs_f64() / l.as_secs_f64(), c.as_secs_f64() / u.as_secs_f64());
    }
}
