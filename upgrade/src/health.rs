//! The cluster's health before the upgrade, and an honest verdict after
//! it (issue 22 item 3), as data: `gnt-cluster verify --error-codes` and
//! each instance's state, as the `record-health` step records them before
//! new jobs are held (kept in the journal, asked by the baseline module);
//! the `verify-cluster` step at the end counts only the errors that were
//! not there before, lists the others as pre-existing, and names every
//! instance whose state changed.
//!
//! Errors are told apart by code and object (`ENODESETUP` on
//! `node1.example.com`), never by their text, which carries figures that
//! change between runs. Errors given with `--verify-ignore` are warnings
//! to `gnt-cluster verify` and appear in neither list. The disks' health
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
    fn same_as(&self, other: &Finding) -> bool {
        if self.code.is_empty() || other.code.is_empty() {
            self.code == other.code && self.text == other.text
        } else {
            self.code == other.code && self.object == other.object
        }
    }
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
    /// `gnt-cluster verify`'s errors; `None`: verify did not run (its
    /// answer is in the messages), so every error at the end counts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub errors: Option<Vec<Finding>>,
    /// Instance name -> `gnt-instance list`'s status (`running`,
    /// `ADMIN_down`, `ERROR_down`, ...); `None`: not known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instances: Option<BTreeMap<String, String>>,
}

/// The errors in `gnt-cluster verify --error-codes` output; a line
/// `... - ERROR: TEXT` without a code (an older or different format)
/// is kept whole.
pub fn parse_verify(out: &str) -> Vec<Finding> {
    let mut found = Vec::new();
    for line in out.lines() {
        let Some(at) = line.find("ERROR:") else {
            continue;
        };
        let rest = &line[at + "ERROR:".len()..];
        let parts: Vec<&str> = rest.splitn(4, ':').collect();
        let coded = parts.len() == 4
            && parts[0].len() > 1
            && parts[0].starts_with('E')
            && parts[0]
                .chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit());
        let finding = if coded {
            Finding {
                code: parts[0].to_string(),
                object: format!("{} {}", parts[1], parts[2]).trim().to_string(),
                text: parts[3].trim().to_string(),
            }
        } else {
            Finding {
                code: String::new(),
                object: String::new(),
                text: rest.trim().to_string(),
            }
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

/// The errors an upgrade should not start on, as a refusal with its fix.
pub fn fix_first(health: &Health) -> Option<String> {
    let blocking: Vec<String> = health
        .errors
        .iter()
        .flatten()
        .filter(|f| FIX_FIRST.contains(&f.code.as_str()))
        .map(|f| format!("  {f}"))
        .collect();
    if blocking.is_empty() {
        return None;
    }
    let codes: Vec<&str> = FIX_FIRST
        .iter()
        .copied()
        .filter(|c| blocking.iter().any(|b| b.trim_start().starts_with(c)))
        .collect();
    Some(format!(
        "gnt-cluster verify reports errors an upgrade should not start on:\n{}\nhint: fix them first (gnt-cluster verify shows them; ECLUSTERCFG is fixed with gnt-cluster modify or the gnt-* command for the object named, ENODEVERSION by bringing that node to the cluster's version); to upgrade regardless, add {}",
        blocking.join("\n"),
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
    /// state (`ERROR_down`, `ERROR_nodedown`, ...) or gone now.
    pub fn harmed(&self) -> Vec<&(String, String, String)> {
        self.changed
            .iter()
            .filter(|(_, was, now)| was == "running" && (now.starts_with("ERROR") || now == "-"))
            .collect()
    }
}

/// Compares the end with `before` (no baseline: every error is new).
pub fn verdict(
    before: Option<&Health>,
    now: &[Finding],
    instances: Option<&BTreeMap<String, String>>,
) -> Verdict {
    let was: &[Finding] = before.and_then(|h| h.errors.as_deref()).unwrap_or_default();
    let (old, new): (Vec<Finding>, Vec<Finding>) = now
        .iter()
        .cloned()
        .partition(|f| was.iter().any(|w| w.same_as(f)));
    let gone = was
        .iter()
        .filter(|w| !now.iter().any(|f| f.same_as(w)))
        .cloned()
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
    }

    #[test]
    fn only_new_errors_and_harmed_instances_count() {
        let before = Health {
            errors: Some(parse_verify(
                "  - ERROR:ENODESETUP:node:node1:sysrq missing (3 s)\n  - ERROR:ENODEDRBD:node:node2:drbd minor 3 StandAlone\n",
            )),
            instances: Some(parse_instances("inst1 running\ninst2 ADMIN_down\ninst3 running\n")),
        };
        let now = parse_verify(
            "  - ERROR:ENODESETUP:node:node1:sysrq missing (4 s)\n  - ERROR:ENODEHV:node:node1:hypervisor broken\n",
        );
        let instances = parse_instances("inst1 ERROR_down\ninst2 running\ninst4 running\n");
        let v = verdict(Some(&before), &now, Some(&instances));
        assert_eq!(v.new.len(), 1);
        assert_eq!(v.new[0].code, "ENODEHV");
        assert_eq!(v.old.len(), 1, "the same code and object, another text");
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
        assert_eq!(harmed, vec!["inst1", "inst3"]);
        // No baseline: everything counts.
        assert_eq!(verdict(None, &now, None).new.len(), 2);
    }

    #[test]
    fn fix_first_names_the_errors_and_the_option() {
        let h = Health {
            errors: Some(parse_verify(
                "  - ERROR:ENODESETUP:node:n1:x\n  - ERROR:ENODEVERSION:node:n2:incompatible protocol versions\n",
            )),
            instances: None,
        };
        let text = fix_first(&h).expect("refused");
        assert!(
            text.contains("ENODEVERSION node n2: incompatible"),
            "{text}"
        );
        assert!(!text.contains("ENODESETUP"), "{text}");
        assert!(text.ends_with("--verify-ignore ENODEVERSION"), "{text}");
        assert_eq!(fix_first(&Health::default()), None);
    }
}
