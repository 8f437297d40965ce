//! The cluster as Ganeti describes it to its nodes: the ssconf files in
//! `${localstatedir}/lib/ganeti`. Re-read before every step, so a node
//! marked offline during the run is skipped from then on.

use std::path::PathBuf;

use ganeti_layout::node::durable::DurableError;
use ganeti_layout::node::{InstallPaths, Node};

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Cluster {
    pub name: String,
    pub master: String,
    pub nodes: Vec<String>,
    /// Online nodes, master last.
    pub online: Vec<String>,
    /// The master candidates (`ssconf_master_candidates`): the nodes that
    /// hold the configuration and can become master.
    pub candidates: Vec<String>,
    pub offline: Vec<String>,
    /// `-4` or `-6`, from `ssconf_primary_ip_family`.
    pub ip_flag: &'static str,
}

#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error("cannot read {path}; is this node part of a Ganeti cluster?")]
    Missing {
        path: PathBuf,
        #[source]
        source: Option<DurableError>,
    },
    #[error("{path} is empty")]
    Empty { path: PathBuf },
}

/// The ssconf value `name`, trimmed; an error names its file.
fn read(paths: &InstallPaths, name: &str) -> Result<String, ClusterError> {
    match Node::new(paths).ssconf(name) {
        Ok(Some(value)) => Ok(value),
        Ok(None) => Err(ClusterError::Missing {
            path: paths.fs().shown(&paths.ssconf(name)),
            source: None,
        }),
        Err(e) => Err(ClusterError::Missing {
            path: paths.fs().shown(&paths.ssconf(name)),
            source: Some(e),
        }),
    }
}

fn lines(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect()
}

impl Cluster {
    pub fn read(paths: &InstallPaths) -> Result<Cluster, ClusterError> {
        let name = read(paths, "cluster_name")?;
        let master = read(paths, "master_node")?;
        if master.is_empty() {
            return Err(ClusterError::Empty {
                path: paths.fs().shown(&paths.ssconf("master_node")),
            });
        }
        let nodes = lines(&read(paths, "node_list").unwrap_or_default());
        let offline = lines(&read(paths, "offline_nodes").unwrap_or_default());
        let candidates = lines(&read(paths, "master_candidates").unwrap_or_default());
        let mut online = match read(paths, "online_nodes") {
            Ok(t) => lines(&t),
            Err(_) => nodes
                .iter()
                .filter(|n| !offline.contains(n))
                .cloned()
                .collect(),
        };
        online.retain(|n| n != &master);
        if !offline.contains(&master) {
            online.push(master.clone());
        }
        let ip_flag = if read(paths, "primary_ip_family").unwrap_or_default() == "10" {
            "-6"
        } else {
            "-4"
        };
        Ok(Cluster {
            name,
            master,
            nodes,
            online,
            candidates,
            offline,
            ip_flag,
        })
    }

    /// The same cluster with `skipped` left out of the online nodes (the
    /// master is never left out).
    pub fn without(&self, skipped: &[String]) -> Cluster {
        let mut c = self.clone();
        c.online
            .retain(|n| *n == self.master || !skipped.contains(n));
        c
    }

    /// The online master candidates, the master last: the nodes that hold
    /// the job queue and its archive.
    pub fn online_candidates(&self) -> Vec<String> {
        self.online
            .iter()
            .filter(|n| **n == self.master || self.candidates.contains(n))
            .cloned()
            .collect()
    }

    /// Online master candidates other than the master: where the copies
    /// of the journal go.
    pub fn other_candidates(&self) -> Vec<String> {
        self.others()
            .into_iter()
            .filter(|n| self.candidates.contains(n))
            .collect()
    }

    /// The online nodes by count, never a wall of names: `all 101 online
    /// nodes (master node1 last)`, or `its one online node, the master
    /// node1`.
    pub fn online_phrase(&self) -> String {
        match self.online.len() {
            1 => format!("its one online node, the master {}", self.master),
            n => format!("all {n} online nodes (master {} last)", self.master),
        }
    }

    /// Online nodes other than the master.
    pub fn others(&self) -> Vec<String> {
        self.online
            .iter()
            .filter(|n| **n != self.master)
            .cloned()
            .collect()
    }
}

/// This host's name as Ganeti compares it with `ssconf_master_node`.
pub fn this_host() -> String {
    if let Ok(name) = std::env::var(crate::env::HOSTNAME) {
        return name;
    }
    let out = std::process::Command::new("hostname")
        .arg("--fqdn")
        .output();
    match out {
        Ok(o) if o.status.success() && !o.stdout.is_empty() => {
            String::from_utf8_lossy(&o.stdout).trim().to_string()
        }
        _ => fs_err::read_to_string("/proc/sys/kernel/hostname")
            .map(|s| s.trim().to_string())
            .unwrap_or_default(),
    }
}

/// Does `host` name the node `node` (full name or its first label)?
pub fn same_host(host: &str, node: &str) -> bool {
    host == node || node.split('.').next() == Some(host) || host.split('.').next() == Some(node)
}
