//! The floors of the toolkit, as executable rules.
//!
//! 1. The node kernel (`layout/src/node/`) never imports the install tool
//!    (`layout/src/install/`), and no module of `layout` names a sibling
//!    through the flat names the crate root keeps for `ganeti-upgrade`.
//! 2. The switcher, the maintainer-script helpers and (once ported) the
//!    upgrade import only `ganeti_layout::node` (and the shared `cli` and
//!    `command`): they never reach into the install tool.
//! 3. The root does not leak: nobody outside `layout/src/node` calls
//!    `InstallPaths::host`, and no well-known file name is spelled outside
//!    `layout/src/node/paths.rs`.
//!
//! Rules 2 and 3 for `upgrade/src` wait for the upgrade's port to the
//! node API (issue 18): they are `#[ignore]`d with that reason; run them
//! with `cargo test -p ganeti-layout --test kernel_boundary -- --ignored`.

use std::path::{Path, PathBuf};

/// The workspace root.
fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("layout/ has a parent")
        .to_path_buf()
}

/// Every `.rs` file under `dir` (relative to the workspace; a file is
/// itself), sorted.
fn rust_files(dir: &str) -> Vec<PathBuf> {
    let top = workspace().join(dir);
    if top.is_file() {
        return vec![top];
    }
    let mut out = Vec::new();
    let mut stack = vec![top];
    while let Some(d) = stack.pop() {
        for entry in fs_err::read_dir(&d).expect("read source directory") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

/// The code of a file, line by line, comments (`//`, `///`, `//!`) cut,
/// up to its unit tests (a `#[cfg(test)]` module, at the end by custom:
/// a test may spell what it checks).
fn code_lines(path: &Path) -> Vec<(usize, String)> {
    let text = fs_err::read_to_string(path).expect("read source");
    text.lines()
        .enumerate()
        .take_while(|(_, line)| line.trim() != "#[cfg(test)]")
        .map(|(n, line)| (n + 1, line.split("//").next().unwrap_or("").to_string()))
        .collect()
}

fn shown(path: &Path) -> String {
    path.strip_prefix(workspace())
        .unwrap_or(path)
        .display()
        .to_string()
}

/// The first path segments named after `ganeti_layout::` in `code`
/// (`ganeti_layout::node::X` -> `node`; `ganeti_layout::{node, cli}` ->
/// `node`, `cli`).
fn layout_roots(code: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = code;
    while let Some(i) = rest.find("ganeti_layout::") {
        rest = &rest[i + "ganeti_layout::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            // A group: the first segment of each item at depth 0.
            let mut depth = 0;
            let mut item = String::new();
            for c in group.chars() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        out.push(first_segment(&item));
                        item.clear();
                        continue;
                    }
                    _ => {}
                }
                item.push(c);
            }
            out.push(first_segment(&item));
        } else {
            out.push(first_segment(rest));
        }
    }
    out.retain(|s| !s.is_empty());
    out
}

fn first_segment(s: &str) -> String {
    s.trim()
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect()
}

/// Uses of `ganeti_layout::X` in `dirs` with `X` not in `allowed`; a
/// file named in `exempt` (relative to the workspace) may also use
/// `install` (it drives the install tool).
fn layout_imports_outside(dirs: &[&str], allowed: &[&str], exempt: &[&str]) -> Vec<String> {
    let mut offenders = Vec::new();
    for dir in dirs {
        for path in rust_files(dir) {
            let name = shown(&path);
            // Joined, so that a `use` over several lines is one text.
            let code: String = code_lines(&path)
                .into_iter()
                .map(|(_, l)| l)
                .collect::<Vec<_>>()
                .join(" ");
            for root in layout_roots(&code) {
                let ok = allowed.contains(&root.as_str())
                    || (root == "install" && exempt.contains(&name.as_str()));
                if !ok {
                    offenders.push(format!("{name}: ganeti_layout::{root}"));
                }
            }
        }
    }
    offenders.sort();
    offenders.dedup();
    offenders
}

/// Lines in `dirs` (outside `except`) whose code contains one of `needles`.
fn lines_containing(dirs: &[&str], needles: &[&str], except: &[&str]) -> Vec<String> {
    let mut offenders = Vec::new();
    for dir in dirs {
        for path in rust_files(dir) {
            let name = shown(&path);
            if except.iter().any(|e| name.starts_with(e)) {
                continue;
            }
            for (n, code) in code_lines(&path) {
                if needles.iter().any(|needle| code.contains(needle)) {
                    offenders.push(format!("{name}:{n}: {}", code.trim()));
                }
            }
        }
    }
    offenders
}

/// The sources held to the rules now (upgrade's wait for its port).
const PORTED: &[&str] = &["layout/src", "switcher/src", "packaging/src"];

/// What the other crates may import from `ganeti-layout`.
const NODE_ONLY: &[&str] = &["node", "cli", "command"];

/// Well-known file names: each is spelled in `node/paths.rs` only.
const WELL_KNOWN: &[&str] = &[
    "\"ssconf_",
    "\"config.data\"",
    "\"watcher.pause\"",
    "\"queue/drain\"",
    "\"known_hosts\"",
    "\"ganeti-upgrade.journal\"",
    "\"intent-to-upgrade\"",
    "\"lib/dpkg/info\"",
    "\"default/ganeti",
    "\"run/ganeti-upgrade\"",
    "\"commands.log\"",
    "ganeti-upgrade/pending\"",
];

#[test]
fn the_node_kernel_does_not_import_the_install_tool() {
    // The flat names are refused everywhere by the next rule.
    let offenders = lines_containing(&["layout/src/node"], &["crate::install"], &[]);
    assert_eq!(offenders, Vec::<String>::new());
}

#[test]
fn layout_names_its_modules_by_their_tree_not_by_the_flat_shims() {
    let flat = [
        "crate::apply",
        "crate::demo",
        "crate::inspect",
        "crate::plan",
        "crate::spec",
        "crate::stage",
        "crate::manifest",
        "crate::durable",
        "crate::paths",
        "crate::version",
        "crate::active",
        "crate::InstallPaths",
        "crate::DirVersion",
    ];
    let offenders = lines_containing(&["layout/src"], &flat, &["layout/src/lib.rs"]);
    assert_eq!(offenders, Vec::<String>::new());
}

#[test]
fn the_switcher_and_the_maintainer_scripts_import_only_the_node_kernel() {
    let offenders = layout_imports_outside(
        &["switcher/src", "packaging/src", "layout/src/main.rs"],
        NODE_ONLY,
        // The `debian/rules` helper and layout's own binary drive the
        // install tool.
        &["packaging/src/debian.rs", "layout/src/main.rs"],
    );
    assert_eq!(offenders, Vec::<String>::new());
}

#[test]

fn the_upgrade_imports_only_the_node_kernel() {
    let offenders = layout_imports_outside(&["upgrade/src"], NODE_ONLY, &[]);
    assert_eq!(offenders, Vec::<String>::new());
}

#[test]
fn the_root_does_not_leak_out_of_the_node_kernel() {
    let offenders = lines_containing(PORTED, &[".host("], &["layout/src/node"]);
    assert_eq!(offenders, Vec::<String>::new());
}

#[test]
fn well_known_files_are_named_only_in_paths_rs() {
    let offenders = lines_containing(PORTED, WELL_KNOWN, &["layout/src/node/paths.rs"]);
    assert_eq!(offenders, Vec::<String>::new());
}

#[test]

fn the_upgrade_does_not_leak_the_root_or_spell_well_known_files() {
    let mut offenders = lines_containing(&["upgrade/src"], &[".host("], &[]);
    offenders.extend(lines_containing(&["upgrade/src"], WELL_KNOWN, &[]));
    assert_eq!(offenders, Vec::<String>::new());
}
