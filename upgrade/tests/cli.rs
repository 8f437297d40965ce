//! Snapshots of what the admin reads: `--help`, and every refusal with its
//! exit code, so that none of it drifts unnoticed.

use std::path::PathBuf;

use ganeti_layout::node::version::Triple;
use ganeti_upgrade::error::UpgradeError;
use ganeti_upgrade::transition::{Refusal, TransitionError};

#[test]
fn help_text() {
    let help = ganeti_upgrade::command::command()
        .term_width(100)
        .render_long_help()
        .to_string();
    insta::assert_snapshot!("help", help);
}

#[test]
fn refusals_and_their_exit_codes() {
    let v = |s: &str| s.parse().expect("version");
    let errors = vec![
        UpgradeError::Usage,
        UpgradeError::Transition(TransitionError::Incompatible {
            from: v("2.16"),
            to: v("3.1"),
            refusal: Refusal::MajorChange {
                from: Triple::new(2, 16, 0),
                to: Triple::new(3, 1, 0),
            },
        }),
        UpgradeError::Transition(TransitionError::DowngradeActions {
            release: "2.13.3".into(),
            to: v("2.12"),
            actions: "copy the master's DSA ssh keys to every node",
        }),
        UpgradeError::NotRoot,
        UpgradeError::NotMaster {
            me: "node2.example".into(),
            master: "node1.example".into(),
        },
        UpgradeError::Busy {
            holder: "pid 4242 (ganeti-switch)".into(),
        },
        UpgradeError::InProgress {
            from: "3.0.2".into(),
            to: v("3.1"),
        },
        UpgradeError::RollbackPending { to: v("3.1") },
        UpgradeError::ForeignIntent {
            running: "3.0.2".into(),
            target: "3.1".into(),
        },
        UpgradeError::OrphanIntent {
            intent: PathBuf::from("/var/lib/ganeti/intent-to-upgrade"),
            journal: PathBuf::from("/var/lib/ganeti/ganeti-upgrade.journal"),
            running: "3.0.2".into(),
            target: "3.1".into(),
        },
        UpgradeError::Transition(TransitionError::NoActiveVersion {
            lib: PathBuf::from("/etc/ganeti/lib"),
            share: PathBuf::from("/etc/ganeti/share"),
            switch: "ganeti-switch --libdir /usr/lib64".into(),
        }),
        UpgradeError::MasterNotConfirmed {
            votes: 1,
            online: 3,
            master: "node1.example".into(),
            detail: " (node2.example names node2.example; node3.example did not answer)".into(),
        },
        UpgradeError::RolledBack {
            reason: "switch-version failed: node3.example: `ganeti-switch to 3.1` failed (exit 1)".into(),
            from: v("3.0"),
            backup: " (the backup /var/backups/ganeti-upgrade-1.tar is kept)".into(),
            changed: true,
        },
        UpgradeError::RolledBack {
            reason: "record-health: refused: ECLUSTERCFG cluster: duplicate IP address\nhint: fix it, or add --verify-ignore ECLUSTERCFG".into(),
            from: v("3.0"),
            backup: String::new(),
            changed: false,
        },
        UpgradeError::RollbackIncomplete {
            reason: "switch-version failed: node3.example: unreachable".into(),
            failures: vec!["undo switch-version: node3.example: `ganeti-switch to 3.0` failed (exit 255)".into()],
        },
        UpgradeError::RollbackNotRecorded {
            reason: "upgrade-config failed and left the configuration unchanged: node1.example: `/usr/lib/ganeti/tools/cfgupgrade -f` failed (exit 1)".into(),
            journal: PathBuf::from("/var/lib/ganeti/ganeti-upgrade.journal"),
            cause: "append to /var/lib/ganeti/ganeti-upgrade.journal: No space left on device (os error 28)".into(),
        },
        UpgradeError::Pending {
            step: "post-upgrade",
            to: v("3.1"),
            message: "node1.example: `/usr/lib/ganeti/tools/post-upgrade 3.0.2` failed (exit 1)".into(),
            nodes: vec![],
        },
        UpgradeError::Pending {
            step: "start-daemons",
            to: v("3.1"),
            message: "node3.example: `/usr/lib/ganeti/daemon-util start-all` failed (exit 255)".into(),
            nodes: vec!["node3.example".into()],
        },
        UpgradeError::SkipRefused {
            node: "node1.example".into(),
            why: "it is the master, where the upgrade runs".into(),
        },
        UpgradeError::AnotherProcess {
            detail: "pid 4711 (/usr/bin/python3 /usr/sbin/gnt-cluster upgrade) rewrote the intent file".into(),
            step: "stop-daemons",
        },
        UpgradeError::PlanRefused {
            refusals: vec!["node3.example: /usr/sbin/ganeti-switch not found or not working (exit 127)\n  fix: install this toolkit there, or give its path with --switch-command".into()],
        },
        UpgradeError::AbortRefused {
            step: "upgrade-config",
            from: v("3.0"),
            to: v("3.1"),
        },
        UpgradeError::VerifyErrors {
            errors: "ERROR: node node2: ENODESETUP: fake".into(),
            left: vec![],
        },
        UpgradeError::NotMasterResume {
            removed_intent: true,
        },
    ];
    let text: String = errors
        .iter()
        .map(|e| format!("exit {}: {e}\n---\n", e.exit_code()))
        .collect();
    insta::assert_snapshot!("refusals", text);
}
