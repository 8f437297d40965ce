//! The cluster's health before the upgrade, and an honest verdict after
//! it (issue 22 item 3), as data: `gnt-cluster verify --error-codes` and
//! each instance's state, as the `record-health` step records them before
//! new jobs are held (kept on the master beside the journal by the
//! baseline module); the `verify-cluster` step at the end counts only the
//! errors that were not there before, lists the others as pre-existing,
//! and names every instance whose state changed.
//!
//! Errors are told apart by code, object and text with its figures masked
//! (a number standing alone: `2 different checksums`); each error at the
//! end is paired with at most one of before. An error whose wording
//! changed between the versions counts as new: a false alarm is shown,
//! a hidden error is not. A verify job that failed always counts. Errors
//! given with `--verify-ignore` are warnings to `gnt-cluster verify` and
//! appear in neither list. The disks' health
//! is part of what `gnt-cluster verify` reports (`ENODEDRBD`,
//! `EINSTANCEFAULTYDISK`, `EINSTANCEMISSINGDISK`), so it is compared with
//! the rest.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Codes that refuse the upgrade before anything changes: the cluster is
/// not in a state an upgrade can start from. `ECLUSTERCFG`: the
/// configuration does not verify (the conversion works on it);
/// `ENODEVERSION` as an error: a node speaks another protocol version (an
/// upgrade that did not finish there). Given with `--verify-ignore`, they
/// are warnings and do not refuse.
pub const FIX_FIRST: &[&str] = &["ECLUSTERCFG", "ENODEVERSION"];

/// One error of `gnt-cluster verify --error-codes`
/// (`ERROR:CODE:KIND:OBJECT:TEXT`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    /// `ENODESETUP`; empty for an error line without a code.
    pub code: String,
    /// `node node1.example.com`, `instance inst1`, `cluster c`.
    pub object: String,
    /// Its message, as verify printed it.
    pub text: String,
}

impl Finding {
    /// A verify job that failed (it checked nothing, so it is always new).
    pub fn is_job_failure(&self) -> bool {
        self.code.is_empty() && self.text.starts_with("gnt-cluster verify: ")
    }
    /// The same error: code and object, and the text with its figures
    /// masked (`2 different checksums`, `expires in 25 days`). The text
    /// counts because an object can carry several errors of one code
    /// (every file check is `ECLUSTERFILECHECK` of the cluster; every DRBD
    /// minor of a node is `ENODEDRBD` of that node).
    fn same_as(&self, other: &Finding) -> bool {
        self.code == other.code
            && self.object == other.object
            && masked(&self.text) == masked(&other.text)
    }
}

/// `text` with each number standing alone (digits not joined to letters:
/// `minor 3`, `2 different`, `25 days`, but not `node3`) as `#`.
fn masked(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        if chars[i].is_ascii_digit() {
            let start = i;
            while i < chars.len() && chars[i].is_ascii_digit() {
                i += 1;
            }
            let joined = (start > 0 && chars[start - 1].is_alphabetic())
                || (i < chars.len() && chars[i].is_alphabetic());
            if joined {
                out.extend(&chars[start..i]);
            } else {
                out.push('#');
            }
        } else {
            out.push(chars[i]);
            i += 1;
        }
    }
    out
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.code.is_empty() {
            write!(f, "{}", self.text)
        } else {
            write!(f, "{} {}: {}", self.code, self.object, self.text)
        }
    }
}

/// What `record-health` found, kept in the journal.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Health {
    /// The upgrade that recorded it (the journal's id): a baseline of
    /// another upgrade is never compared with.
    #[serde(default)]
    pub upgrade: String,
    /// `gnt-cluster verify`'s errors; `None`: verify did not run (its
    /// answer is in the messages), so every error at the end counts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub errors: Option<Vec<Finding>>,
    /// Instance name -> `gnt-instance list`'s status (`running`,
    /// `ADMIN_down`, `ERROR_down`, ...); `None`: not known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instances: Option<BTreeMap<String, String>>,
}

/// The errors in `gnt-cluster verify --error-codes` output (its feedback
/// lines `<time>   - ERROR:CODE:KIND:OBJECT:TEXT`; a line `... - ERROR:
/// TEXT` without a code, an older or different format, is kept whole),
/// and each verify job that failed (`N job(s) failed while verifying the
/// cluster.`, `Job N has failed: ...`): a verify that could not check
/// something has not found it healthy.
pub fn parse_verify(out: &str) -> Vec<Finding> {
    let mut found = Vec::new();
    for line in out.lines() {
        let finding = if let Some(at) = line.find("- ERROR:") {
            let rest = &line[at + "- ERROR:".len()..];
            let parts: Vec<&str> = rest.splitn(4, ':').collect();
            let coded = parts.len() == 4
                && parts[0].len() > 1
                && parts[0].starts_with('E')
                && parts[0]
                    .chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit());
            if coded {
                // Upstream names no object for cluster-wide errors: "None".
                let object = match parts[2] {
                    "" | "None" => parts[1].to_string(),
                    item => format!("{} {item}", parts[1]),
                };
                Finding {
                    code: parts[0].to_string(),
                    object,
                    text: parts[3].trim().to_string(),
                }
            } else {
                Finding {
                    code: String::new(),
                    object: String::new(),
                    text: rest.trim().to_string(),
                }
            }
        } else if line.contains("job(s) failed while verifying the cluster")
            || (line.trim_start().starts_with("Job ") && line.contains(" has failed"))
        {
            Finding {
                code: String::new(),
                object: String::new(),
                text: format!("gnt-cluster verify: {}", line.trim()),
            }
        } else {
            continue;
        };
        if !found.contains(&finding) {
            found.push(finding);
        }
    }
    found
}

/// `gnt-instance list --no-headers -o name,status`: name -> status.
pub fn parse_instances(out: &str) -> BTreeMap<String, String> {
    out.lines()
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            Some((w.next()?.to_string(), w.next()?.to_string()))
        })
        .collect()
}

/// The errors an upgrade should not start on ([`FIX_FIRST`]), as a
/// refusal with its fix; codes the admin gave with `--verify-ignore`
/// (`overridden`) do not refuse: they are compared at the end as any
/// other error.
pub fn fix_first(health: &Health, overridden: &[String]) -> Option<String> {
    let blocking: Vec<&Finding> = health
        .errors
        .iter()
        .flatten()
        .filter(|f| FIX_FIRST.contains(&f.code.as_str()) && !overridden.contains(&f.code))
        .collect();
    if blocking.is_empty() {
        return None;
    }
    let mut codes: Vec<&str> = blocking.iter().map(|f| f.code.as_str()).collect();
    codes.sort_unstable();
    codes.dedup();
    Some(format!(
        "gnt-cluster verify reports errors an upgrade should not start on:\n{}\nhint: fix them first (gnt-cluster verify shows them; ECLUSTERCFG is fixed with gnt-cluster modify or the gnt-* command for the object named, ENODEVERSION by bringing that node to the cluster's version); to upgrade regardless, add {} (these errors are then compared at the end like any other: only new ones count)",
        blocking
            .iter()
            .map(|f| format!("  {f}"))
            .collect::<Vec<_>>()
            .join("\n"),
        codes
            .iter()
            .map(|c| format!("--verify-ignore {c}"))
            .collect::<Vec<_>>()
            .join(" ")
    ))
}

/// A sentence listing the errors that are there before the upgrade
/// (`at_end`: the end's list of those that were, and still are).
pub fn pre_existing_line(errors: &[Finding], at_end: bool) -> Option<String> {
    let one = errors.len() == 1;
    (!errors.is_empty()).then(|| {
        format!(
            "gnt-cluster verify reports {} error{} {}: {}",
            errors.len(),
            if one { "" } else { "s" },
            match (at_end, one) {
                (true, true) => "that was there before the upgrade (not counted against it)",
                (true, false) => "that were there before the upgrade (not counted against it)",
                (false, true) => "before the upgrade; it will not count against the upgrade",
                (false, false) => "before the upgrade; they will not count against the upgrade",
            },
            errors
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; ")
        )
    })
}

/// The end compared with the baseline.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Verdict {
    /// Errors that were not there before: these fail the upgrade (exit 3).
    pub new: Vec<Finding>,
    /// Errors that were there before and still are.
    pub old: Vec<Finding>,
    /// Errors that were there before and are gone.
    pub gone: Vec<Finding>,
    /// (instance, before, now) for each instance whose state changed;
    /// `-` for one that was not there.
    pub changed: Vec<(String, String, String)>,
}

impl Verdict {
    /// Instances the upgrade left worse: running before, in an error
    /// state now (`ERROR_down`, `ERROR_nodedown`, ...). One that is gone
    /// is named, not counted: a job held during the upgrade may have
    /// removed it.
    pub fn harmed(&self) -> Vec<&(String, String, String)> {
        self.changed
            .iter()
            .filter(|(_, was, now)| was == "running" && now.starts_with("ERROR"))
            .collect()
    }
}

/// What to do about an instance in `state`, for the admin.
pub fn instance_hint(name: &str, state: &str) -> String {
    match state {
        "ERROR_nodedown" | "ERROR_nodeoffline" => format!(
            "its primary node is down or offline: gnt-instance info {name} names it; once it is back, gnt-instance start {name}"
        ),
        "ERROR_wrongnode" => format!(
            "it runs on another node than its primary: gnt-instance info {name}, then gnt-instance migrate or failover it back"
        ),
        _ => format!("gnt-instance info {name}, then gnt-instance start {name}"),
    }
}

/// Compares the end with `before` (no baseline: every error is new).
pub fn verdict(
    before: Option<&Health>,
    now: &[Finding],
    instances: Option<&BTreeMap<String, String>>,
) -> Verdict {
    let was: &[Finding] = before.and_then(|h| h.errors.as_deref()).unwrap_or_default();
    // Each error now paired with at most one of before.
    let mut used = vec![false; was.len()];
    let mut old = Vec::new();
    let mut new = Vec::new();
    for f in now {
        let pair = (!f.is_job_failure())
            .then(|| (0..was.len()).find(|&i| !used[i] && was[i].same_as(f)))
            .flatten();
        match pair {
            Some(i) => {
                used[i] = true;
                old.push(f.clone());
            }
            None => new.push(f.clone()),
        }
    }
    let gone = was
        .iter()
        .zip(&used)
        .filter(|(w, u)| !**u && !w.is_job_failure())
        .map(|(w, _)| w.clone())
        .collect();
    let mut changed = Vec::new();
    if let (Some(then), Some(now)) = (before.and_then(|h| h.instances.as_ref()), instances) {
        for (name, state) in then {
            let current = now.get(name).map_or("-", String::as_str);
            if current != state {
                changed.push((name.clone(), state.clone(), current.to_string()));
            }
        }
        for (name, state) in now {
            if !then.contains_key(name) {
                changed.push((name.clone(), "-".to_string(), state.clone()));
            }
        }
    }
    Verdict {
        new,
        old,
        gone,
        changed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const VERIFY: &str = "\
Submitted jobs 4, 5
Waiting for job 4 ...
Mon Dec  7 13:00:00 2026 * Verifying cluster config
Waiting for job 5 ...
Mon Dec  7 13:00:01 2026 * Verifying node status
Mon Dec  7 13:00:01 2026   - ERROR:ENODESETUP:node:node1.gnt.test:the sysrq file is missing
Mon Dec  7 13:00:01 2026   - WARNING:ENODEVERSION:node:node2.gnt.test:software version mismatch
Mon Dec  7 13:00:01 2026   - ERROR:EINSTANCEDOWN:instance:inst1:instance not running on its primary node node1.gnt.test
";

    #[test]
    fn verify_errors_are_parsed_by_code_and_object() {
        let found = parse_verify(VERIFY);
        assert_eq!(found.len(), 2, "{found:?}");
        assert_eq!(found[0].code, "ENODESETUP");
        assert_eq!(found[0].object, "node node1.gnt.test");
        assert_eq!(found[0].text, "the sysrq file is missing");
        assert_eq!(found[1].object, "instance inst1");
        let old = parse_verify("Mon   - ERROR: node node1: something odd: with colons");
        assert_eq!(old[0].code, "");
        assert_eq!(old[0].text, "node node1: something odd: with colons");
        // Cluster-wide errors have no object; hook output and warnings
        // that quote "ERROR:" are not errors; a failed verify job is.
        let more = parse_verify(
            "  - ERROR:ECLUSTERFILECHECK:cluster:None:File /var/lib/ganeti/config.data found with 2 different checksums\n\
             Mon   - WARNING:ENODEHOOKS:node:n1:hook says ERROR: x\n\
             Mon   ERROR: inside hook output\n\
             1 job(s) failed while verifying the cluster.\n",
        );
        assert_eq!(more.len(), 2, "{more:?}");
        assert_eq!(more[0].object, "cluster");
        assert!(more[1].text.contains("1 job(s) failed"), "{more:?}");
    }

    #[test]
    fn only_new_errors_and_harmed_instances_count() {
        let before = Health {
            errors: Some(parse_verify(
                "  - ERROR:ENODESETUP:node:node1:sysrq missing (3 s)\n  - ERROR:ENODEDRBD:node:node2:drbd minor 3 StandAlone\n",
            )),
            instances: Some(parse_instances("inst1 running\ninst2 ADMIN_down\ninst3 running\n")),
            ..Health::default()
        };
        let now = parse_verify(
            "  - ERROR:ENODESETUP:node:node1:sysrq missing (4 s)\n  - ERROR:ENODEHV:node:node1:hypervisor broken\n",
        );
        let instances = parse_instances("inst1 ERROR_down\ninst2 running\ninst4 running\n");
        let v = verdict(Some(&before), &now, Some(&instances));
        // Another file check of the cluster is another error.
        let files = |t: &str| Health {
            errors: Some(parse_verify(&format!(
                "  - ERROR:ECLUSTERFILECHECK:cluster:None:{t}\n"
            ))),
            ..Health::default()
        };
        let w = verdict(
            Some(&files("File /etc/ganeti/rapi_users is optional, but it must exist on all or no nodes")),
            &parse_verify("  - ERROR:ECLUSTERFILECHECK:cluster:None:File /var/lib/ganeti/config.data found with 2 different checksums\n"),
            None,
        );
        assert_eq!(w.new.len(), 1, "{w:?}");
        assert_eq!(v.new.len(), 1);
        assert_eq!(v.new[0].code, "ENODEHV");
        assert_eq!(v.old.len(), 1, "the same error, other figures");
        assert_eq!(v.gone[0].code, "ENODEDRBD");
        assert_eq!(
            v.changed,
            vec![
                ("inst1".into(), "running".into(), "ERROR_down".into()),
                ("inst2".into(), "ADMIN_down".into(), "running".into()),
                ("inst3".into(), "running".into(), "-".into()),
                ("inst4".into(), "-".into(), "running".into()),
            ]
        );
        let harmed: Vec<&str> = v.harmed().iter().map(|c| c.0.as_str()).collect();
        assert_eq!(harmed, vec!["inst1"], "inst3 is gone: named, not counted");
        // No baseline: everything counts.
        assert_eq!(verdict(None, &now, None).new.len(), 2);
    }

    #[test]
    fn errors_pair_one_to_one_and_failed_jobs_always_count() {
        assert_eq!(
            masked("node3 minor 3 of 2 disks, 25 days"),
            "node3 minor # of # disks, # days"
        );
        let before = Health {
            errors: Some(parse_verify(
                "  - ERROR:ENODEDRBD:node:n1:unallocated drbd minor 3 is in use\n\
                 1 job(s) failed while verifying the cluster.\n  - ERROR:ENODENET:node:n1:tcp communication with node 'node3': failure\n",
            )),
            ..Health::default()
        };
        let now = parse_verify(
            "  - ERROR:ENODEDRBD:node:n1:unallocated drbd minor 4 is in use\n\
             \x20 - ERROR:ENODEDRBD:node:n1:unallocated drbd minor 5 is in use\n\
             2 job(s) failed while verifying the cluster.\n  - ERROR:ENODENET:node:n1:tcp communication with node 'node2': failure\n",
        );
        let v = verdict(Some(&before), &now, None);
        assert_eq!(v.old.len(), 1, "{v:?}");
        let new: Vec<&str> = v.new.iter().map(|f| f.text.as_str()).collect();
        assert_eq!(new.len(), 3, "{new:?}");
        assert!(new.iter().any(|t| t.contains("2 job(s) failed")), "{new:?}");
        assert!(new.iter().any(|t| t.contains("'node2'")), "{new:?}");
        assert_eq!(
            v.gone.len(),
            1,
            "the node3 error; not the job failure: {v:?}"
        );
    }

    #[test]
    fn fix_first_names_the_errors_and_the_option() {
        let h = Health {
            errors: Some(parse_verify(
                "  - ERROR:ENODESETUP:node:n1:x\n  - ERROR:ENODEVERSION:node:n2:incompatible protocol versions\n",
            )),
            ..Health::default()
        };
        let text = fix_first(&h, &[]).expect("refused");
        assert!(
            text.contains("ENODEVERSION node n2: incompatible"),
            "{text}"
        );
        assert!(!text.contains("ENODESETUP"), "{text}");
        assert!(
            text.contains("add --verify-ignore ENODEVERSION ("),
            "{text}"
        );
        assert_eq!(fix_first(&h, &["ENODEVERSION".into()]), None);
        assert_eq!(fix_first(&Health::default(), &[]), None);
    }
}
