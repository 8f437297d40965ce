//! Which pid files count as running Ganeti daemons: exactly those another
//! process holds a lock on, as Ganeti decides it. A live pid alone is not
//! enough (pids are reused after a crash or a reboot), and a symlink is
//! never followed.
//! The lock holders are `python3` children (see `common`).

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{have_python3, Holder};

use ganeti_layout::node::InstallPaths;

fn node(base: &Path) -> (InstallPaths, PathBuf) {
    let paths = ganeti_test_support::paths_under(base);
    let rundir = paths.fs().host_path(&paths.rundir());
    fs_err::create_dir_all(&rundir).expect("mkdir rundir");
    (paths, rundir)
}

#[test]
fn pid_file_of_a_live_but_unlocked_pid_is_stale() {
    let tmp = tempfile::tempdir().expect("tmp");
    let (paths, rundir) = node(tmp.path());
    // Our own pid: alive, but we hold no lock on the file.
    fs_err::write(
        rundir.join("ganeti-noded.pid"),
        format!("{}\n", std::process::id()),
    )
    .expect("write");
    // Another live process that is not a daemon (a reused pid).
    let mut sleeper = Command::new("sleep").arg("120").spawn().expect("sleep");
    fs_err::write(
        rundir.join("ganeti-luxid.pid"),
        format!("{}\n", sleeper.id()),
    )
    .expect("write");
    let daemons = ganeti_switch::live_daemons(&paths);
    let _ = sleeper.kill();
    let _ = sleeper.wait();
    assert_eq!(daemons, Vec::<String>::new());
}

#[test]
fn pid_file_locked_by_its_daemon_is_running() {
    if !have_python3() {
        return;
    }
    let tmp = tempfile::tempdir().expect("tmp");
    let (paths, rundir) = node(tmp.path());
    let luxid = rundir.join("ganeti-luxid.pid");
    fs_err::write(&luxid, "").expect("write");
    // A POSIX record lock, as the Haskell daemons hold; the pid in the
    // file is reported.
    let haskell = Holder::new(&luxid, "lockf");
    fs_err::write(&luxid, format!("{}\n", haskell.pid())).expect("write pid");
    assert_eq!(
        ganeti_switch::live_daemons(&paths),
        vec![format!("ganeti-luxid (pid {})", haskell.pid())]
    );
    // A BSD flock, as the Python daemons (noded, rapi) hold. Its pid file
    // is still empty: the daemon has locked it but not written its pid.
    let noded = rundir.join("ganeti-noded.pid");
    fs_err::write(&noded, "").expect("write");
    let python = Holder::new(&noded, "flock");
    assert_eq!(
        ganeti_switch::live_daemons(&paths),
        vec![
            format!("ganeti-luxid (pid {})", haskell.pid()),
            "ganeti-noded (pid unknown)".to_string(),
        ]
    );
    // Testing left no lock behind: the daemons' own lock calls still
    // succeed once the holders are gone.
    drop(haskell);
    drop(python);
    assert_eq!(ganeti_switch::live_daemons(&paths), Vec::<String>::new());
    let _relock = Holder::new(&luxid, "lockf");
    let _reflock = Holder::new(&noded, "flock");
}

#[test]
fn pid_file_symlink_is_not_followed() {
    if !have_python3() {
        return;
    }
    let tmp = tempfile::tempdir().expect("tmp");
    let (paths, rundir) = node(tmp.path());
    // The target is locked, so following the link would count a daemon.
    let target = tmp.path().join("elsewhere");
    fs_err::write(&target, "1\n").expect("write");
    let _holder = Holder::new(&target, "lockf");
    fs_err::os::unix::fs::symlink(&target, rundir.join("ganeti-confd.pid")).expect("symlink");
    // Neither a FIFO (opening it must not hang) nor a directory counts.
    rustix::fs::mknodat(
        rustix::fs::CWD,
        rundir.join("ganeti-rapi.pid"),
        rustix::fs::FileType::Fifo,
        rustix::fs::Mode::from_raw_mode(0o600),
        0,
    )
    .expect("mkfifo");
    fs_err::create_dir(rundir.join("ganeti-mond.pid")).expect("mkdir");
    assert_eq!(ganeti_switch::live_daemons(&paths), Vec::<String>::new());
    assert_eq!(fs_err::read_to_string(&target).expect("read"), "1\n");
}
