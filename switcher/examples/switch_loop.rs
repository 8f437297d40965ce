//! Switches a node back and forth between two versions until killed; the
//! crash tests SIGKILL it at random moments. Usage: switch_loop PREFIXDIR V1 V2
use ganeti_layout::node::DirVersion;
use std::path::Path;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let base = Path::new(&args[1]);
    let paths = ganeti_test_support::paths_under(base);
    let versions: Vec<DirVersion> = args[2..]
        .iter()
        .map(|v| v.parse().expect("valid version"))
        .collect();
    for i in 0usize.. {
        let v = &versions[i % versions.len()];
        ganeti_switch::switch_to(&paths, v, ganeti_switch::SwitchOptions::default())
            .expect("switch");
    }
}
