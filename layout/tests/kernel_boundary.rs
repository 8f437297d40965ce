//! The node kernel (`src/node/`) never imports the install tool
//! (`src/install/`): the switcher, the upgrade and the maintainer scripts
//! depend on the kernel, and the kernel stays small. A `use` of an install
//! module in a kernel file fails this test.

use std::path::Path;

const INSTALL_MODULES: &[&str] = &[
    "apply", "demo", "inspect", "install", "manifest", "plan", "spec", "stage",
];

#[test]
fn the_node_kernel_does_not_import_the_install_tool() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/node");
    let mut offenders = Vec::new();
    for entry in fs_err::read_dir(&dir).expect("src/node") {
        let path = entry.expect("entry").path();
        let text = fs_err::read_to_string(&path).expect("read");
        for (n, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or("");
            for module in INSTALL_MODULES {
                if code.contains(&format!("crate::{module}")) {
                    offenders.push(format!("{}:{}: {}", path.display(), n + 1, line.trim()));
                }
            }
        }
    }
    assert_eq!(offenders, Vec::<String>::new());
}
