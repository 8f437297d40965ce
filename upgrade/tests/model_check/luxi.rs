//! A LUXI fake for the model check: luxid's query socket, served by a
//! thread while a run lasts, answering the six calls the upgrade makes
//! (`QueryJobs`, `QueryFilters`, `ReplaceFilter`, `DeleteFilter`,
//! `SetWatcherPause`, `SetDrainFlag`) from the same state the model's
//! command-line tools change, with luxid's faults: an answer lost after the
//! call took effect, a call dropped before it did (luxid restarting), luxid's
//! own silence on `SetDrainFlag(false)` when the queue is not drained, a
//! queued job that our PAUSE filter holds, and a kill right after a call.
//!
//! The wire format is luxid's (see `upgrade/src/luxi.rs`): one JSON object
//! per message, ended by the byte 0x03.

use std::io::{Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};

use serde_json::{json, Value};

use super::{Filter, GanetiCmd, Model, Queue, State};
use ganeti_upgrade::ganeti::Call;

const ETX: u8 = 0x03;

impl Model {
    /// luxid's socket in the model's data directory.
    pub(super) fn luxi_path(&self) -> PathBuf {
        self.data("luxi.sock")
    }

    /// Runs `f` while a thread serves luxid's socket (when the case talks
    /// LUXI at all); the socket is gone afterwards.
    pub(super) fn serving_luxi<T>(&self, f: impl FnOnce() -> T) -> T {
        if !self.faults().luxi {
            return f();
        }
        let path = self.luxi_path();
        let _ = fs_err::remove_file(&path);
        let listener = UnixListener::bind(&path).expect("bind the LUXI fake's socket");
        let done = AtomicBool::new(false);
        std::thread::scope(|s| {
            s.spawn(|| {
                for conn in listener.incoming() {
                    if done.load(Ordering::SeqCst) {
                        break;
                    }
                    if let Ok(conn) = conn {
                        self.serve_luxi(conn);
                    }
                }
            });
            let out = f();
            done.store(true, Ordering::SeqCst);
            // Wakes the accept, which then sees `done`.
            let _ = UnixStream::connect(&path);
            out
        })
    }

    /// One connection: one request, at most one answer.
    fn serve_luxi(&self, mut conn: UnixStream) {
        let mut request = Vec::new();
        let mut buf = [0u8; 4096];
        let end = loop {
            match conn.read(&mut buf) {
                Ok(0) | Err(_) => return,
                Ok(n) => request.extend_from_slice(&buf[..n]),
            }
            if let Some(end) = request.iter().position(|b| *b == ETX) {
                break end;
            }
        };
        let Ok(v) = serde_json::from_slice::<Value>(&request[..end]) else {
            return;
        };
        let method = v["method"].as_str().unwrap_or_default().to_string();
        let args = v["args"].clone();
        let mut st = self.state();
        st.luxi_calls += 1;
        let k = st.luxi_calls;
        st.log
            .push(format!("{}: LUXI {method} {args}", self.master));
        let (dropped, lost) = {
            let f = self.faults();
            (f.luxi_drop.contains(&k), f.luxi_lose.contains(&k))
        };
        if dropped {
            // luxid restarts before it handles the call: the connection
            // closes, nothing changed.
            return;
        }
        let answer = self.luxi_answer(&mut st, &method, &args);
        if self.count_command(&mut st) {
            // Killed right after luxid carried it out: the engine dies at
            // its next line of commands.log, before it reads an answer.
            st.kill_pending = true;
            return;
        }
        drop(st);
        if let (Some(answer), false) = (answer, lost) {
            let mut bytes = answer.to_string().into_bytes();
            bytes.push(ETX);
            let _ = conn.write_all(&bytes);
        }
    }

    /// luxid's answer to `method`, or `None` where luxid does not answer.
    fn luxi_answer(&self, st: &mut State, method: &str, args: &Value) -> Option<Value> {
        let master = self.master.clone();
        let ok = |result: Value| Some(json!({ "success": true, "result": result }));
        let refused =
            |why: &str| Some(json!({ "success": false, "result": ["OpPrereqError", [why]] }));
        let tool = |st: &mut State, cmd: GanetiCmd| {
            let call = Call::new(cmd, &self.paths);
            self.apply(st, &master, &call, None)
        };
        match method {
            "QueryJobs" => {
                let ran = tool(st, GanetiCmd::ListJobs);
                if ran.code != Some(0) {
                    return refused(ran.stderr.trim());
                }
                let rows: Vec<Value> = ran
                    .stdout
                    .lines()
                    .filter_map(|l| {
                        let (id, status) = l.split_once(' ')?;
                        Some(json!([id.parse::<u64>().ok()?, status.trim()]))
                    })
                    .collect();
                ok(json!(rows))
            }
            "QueryFilters" => {
                let rows: Vec<Value> = st
                    .filters
                    .iter()
                    .map(|(uuid, reason)| json!([uuid, [["gnt:user", reason, 1]]]))
                    .collect();
                ok(json!(rows))
            }
            "ReplaceFilter" => {
                let reason = args[4][0][1].as_str().unwrap_or_default().to_string();
                let uuid = format!("uuid-{}", st.next_uuid);
                st.next_uuid += 1;
                if self.faults().add_not_kept {
                    return ok(json!(uuid));
                }
                st.filters.push((uuid.clone(), reason));
                if self.faults().lose_filter_add {
                    // Added, but the answer is lost.
                    return None;
                }
                ok(json!(uuid))
            }
            "DeleteFilter" => {
                let uuid = args[0].as_str().unwrap_or_default().to_string();
                let ran = tool(st, GanetiCmd::Filter(Filter::Delete { uuid }));
                if ran.code == Some(0) {
                    ok(Value::Null)
                } else {
                    refused(ran.stderr.trim())
                }
            }
            "SetWatcherPause" => {
                let until = args[0].as_f64().map(|t| t as u64);
                self.set_pause(st, &master, until);
                ok(Value::Null)
            }
            "SetDrainFlag" => {
                let drain = args[0].as_bool().unwrap_or(false);
                let drained = self.data("queue/drain").exists();
                if !drain && !drained {
                    // luxid fails to remove the file and never answers.
                    return None;
                }
                let q = if drain { Queue::Drain } else { Queue::Undrain };
                tool(st, GanetiCmd::Queue(q));
                ok(Value::Null)
            }
            other => refused(&format!("the LUXI fake does not know {other}")),
        }
    }
}
