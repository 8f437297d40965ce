//! The floors of `upgrade/src` (drawn in `src/lib.rs`): a module names only
//! modules on lower floors, so the crate has no import cycle and the
//! procedure reads top-down (the engine runs the step table, the steps use
//! the context, the context the executor and the journal, and all of them
//! the vocabulary at the bottom). Any `crate::MODULE` a file names on its
//! own floor or above fails this test, with the file, line and both floors.

use std::collections::BTreeMap;
use std::path::Path;

/// Bottom first. Keep in step with the table in `src/lib.rs`.
const FLOORS: &[(&str, &[&str])] = &[
    (
        "vocabulary",
        &["env", "clock", "step_id", "ran", "command", "health"],
    ),
    (
        "node files and commands",
        &[
            "cluster",
            "intent",
            "settings",
            "luxi",
            "ganeti",
            "transition",
        ],
    ),
    ("records", &["journal", "error"]),
    ("data and execution", &["view", "exec", "resume", "options"]),
    ("events", &["events"]),
    ("context", &["context"]),
    (
        "policies",
        &[
            "queue",
            "watcher",
            "backup",
            "rehearsal",
            "baseline",
            "stale_code",
            "vote",
            "settled",
            "gate",
        ],
    ),
    ("fences", &["fence"]),
    ("procedure", &["preflight", "steps"]),
    ("views", &["show"]),
    ("runner", &["engine"]),
];

fn floor_of() -> BTreeMap<&'static str, usize> {
    let mut map = BTreeMap::new();
    for (i, (_, modules)) in FLOORS.iter().enumerate() {
        for m in *modules {
            assert!(map.insert(*m, i).is_none(), "{m} is on two floors");
        }
    }
    map
}

/// Every `crate::NAME` in `text` (code, comments and doc links: a doc link
/// upward is a reader's arrow upward), with its line number; the unit
/// tests at the end of a file (from `#[cfg(test)]` on) stand above every
/// floor and are left out.
fn crate_refs(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let code = text.split("\n#[cfg(test)]").next().unwrap_or(text);
    for (n, line) in code.lines().enumerate() {
        let mut rest = line;
        while let Some(i) = rest.find("crate::") {
            let tail = &rest[i + "crate::".len()..];
            let name: String = tail
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            // `ganeti_upgrade::` is another crate's view, not ours.
            let before = &rest[..i];
            rest = &tail[name.len()..];
            if !before.ends_with("ganeti_upgrade::") && !name.is_empty() {
                out.push((n + 1, name));
            }
        }
    }
    out
}

fn violations() -> Vec<String> {
    let floors = floor_of();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut bad = Vec::new();
    let mut seen = Vec::new();
    for entry in fs_err::read_dir(&dir).expect("src") {
        let path = entry.expect("entry").path();
        let Some(module) = path.file_stem().and_then(|s| s.to_str()) else {
            continue;
        };
        if matches!(module, "lib" | "main") {
            continue;
        }
        seen.push(module.to_string());
        let Some(&own) = floors.get(module) else {
            bad.push(format!("{module}.rs is on no floor: add it to FLOORS"));
            continue;
        };
        let text = fs_err::read_to_string(&path).expect("read");
        for (line, name) in crate_refs(&text) {
            match floors.get(name.as_str()) {
                Some(&f) if f < own => {}
                Some(&f) => bad.push(format!(
                    "{module}.rs:{line}: crate::{name} is on floor {} ({}), {module} on floor {own} ({})",
                    f, FLOORS[f].0, FLOORS[own].0
                )),
                None => bad.push(format!("{module}.rs:{line}: crate::{name} is no module of the floor list")),
            }
        }
    }
    for m in floors.keys() {
        if !seen.iter().any(|s| s == m) {
            bad.push(format!("{m} is in FLOORS but has no file"));
        }
    }
    bad.sort();
    bad
}

#[test]
fn every_module_names_only_lower_floors() {
    assert_eq!(violations(), Vec::<String>::new());
}

#[test]
fn the_floor_list_is_the_one_in_lib_rs() {
    let lib = fs_err::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("src/lib.rs"))
        .expect("lib.rs");
    for (name, modules) in FLOORS {
        let row = lib
            .lines()
            .find(|l| l.contains(&format!("| {name} |")))
            .unwrap_or_else(|| panic!("src/lib.rs has no row for the floor {name:?}"));
        for m in *modules {
            assert!(
                row.contains(&format!("`{m}`")),
                "{m} missing from the row {row:?}"
            );
        }
    }
}
