//! A client for LUXI, the protocol of Ganeti's own command-line tools with
//! `ganeti-luxid` on the master (`${localstatedir}/run/ganeti/socket/ganeti-query`).
//!
//! Ganeti's `gnt-cluster upgrade` uses it the same way, in-process, for the
//! queue and watcher before the switch; each `gnt-*` call instead costs a
//! Python start-up (about 0.3 s). We use it only for the few calls whose
//! arguments have been stable since filters came in (2.13): job and filter
//! queries, adding and deleting a filter, the drain flag and the watcher
//! pause. Every caller falls back to the equivalent `gnt-*` command when
//! the call fails (an older Ganeti, or no luxid such as in a fake), so this
//! is a shortcut, never the only way. A call that failed after it was sent
//! ([`LuxiError::maybe_applied`]) may have taken effect: callers for which a
//! repeat is not harmless look at the state again before the fallback.
//!
//! The wire format: one JSON object per request, `{"method": M, "args": [..]}`,
//! answered by `{"success": bool, "result": ..}`, each message ended by the
//! byte 0x03 (ETX). Ganeti's Python client also sends its LUXI version, which
//! luxid (Haskell) never checks; we send none, so one client fits every
//! version's luxid, before and after the switch.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// The end-of-message byte.
const ETX: u8 = 0x03;

#[derive(Debug, thiserror::Error)]
pub enum LuxiError {
    #[error("cannot connect to luxid at {path}: {source}")]
    Connect {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("LUXI {method} on {path}: {source}")]
    Io {
        method: String,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("LUXI {method} on {path}: unreadable answer: {detail}")]
    Protocol {
        method: String,
        path: PathBuf,
        detail: String,
    },
    #[error("LUXI {method} on {path}: luxid refused: {message}")]
    Refused {
        method: String,
        path: PathBuf,
        message: String,
    },
}

impl LuxiError {
    /// Whether luxid may have carried out the call: it was sent, but its
    /// answer was lost or unreadable.
    pub fn maybe_applied(&self) -> bool {
        matches!(self, LuxiError::Io { .. } | LuxiError::Protocol { .. })
    }
}

/// One connection per call: luxid serves each client in its own thread, and
/// a call is rare enough here that reuse buys nothing.
#[derive(Debug, Clone)]
pub struct Luxi {
    socket: PathBuf,
    /// For the answer; connecting gets [`Luxi::connect_timeout`].
    timeout: Duration,
    connect_timeout: Duration,
}

impl Luxi {
    pub fn new(socket: PathBuf) -> Luxi {
        Luxi {
            socket,
            // Ganeti's own clients wait 60 s for an answer; a filter change
            // waits for wconfd's configuration lock.
            timeout: Duration::from_secs(60),
            // luxid may be a moment behind `daemon-util start-all`.
            connect_timeout: Duration::from_secs(5),
        }
    }

    pub fn with_timeouts(mut self, connect: Duration, answer: Duration) -> Luxi {
        self.connect_timeout = connect;
        self.timeout = answer;
        self
    }

    fn connect(&self) -> Result<UnixStream, LuxiError> {
        let deadline = Instant::now() + self.connect_timeout;
        loop {
            match UnixStream::connect(&self.socket) {
                Ok(s) => return Ok(s),
                // The socket is there but nobody listens: luxid is
                // restarting. No socket at all means no luxid here; the
                // caller's command-line fallback then waits as Ganeti's
                // tools do.
                Err(e)
                    if e.kind() == std::io::ErrorKind::ConnectionRefused
                        && Instant::now() < deadline =>
                {
                    std::thread::sleep(Duration::from_millis(100));
                }
                Err(source) => {
                    return Err(LuxiError::Connect {
                        path: self.socket.clone(),
                        source,
                    })
                }
            }
        }
    }

    /// Calls `method` with `args` (a JSON array) and returns its result.
    pub fn call(&self, method: &str, args: Value) -> Result<Value, LuxiError> {
        let io = |source| LuxiError::Io {
            method: method.to_string(),
            path: self.socket.clone(),
            source,
        };
        let protocol = |detail: String| LuxiError::Protocol {
            method: method.to_string(),
            path: self.socket.clone(),
            detail,
        };
        let mut stream = self.connect()?;
        stream.set_read_timeout(Some(self.timeout)).map_err(io)?;
        stream.set_write_timeout(Some(self.timeout)).map_err(io)?;
        let mut request = json!({ "method": method, "args": args })
            .to_string()
            .into_bytes();
        request.push(ETX);
        stream.write_all(&request).map_err(io)?;

        let mut answer = Vec::new();
        let mut buf = [0u8; 8192];
        loop {
            let n = stream.read(&mut buf).map_err(io)?;
            if n == 0 {
                return Err(protocol(format!(
                    "connection closed after {} bytes without an end-of-message byte",
                    answer.len()
                )));
            }
            answer.extend_from_slice(&buf[..n]);
            if let Some(end) = answer.iter().position(|b| *b == ETX) {
                answer.truncate(end);
                break;
            }
        }
        let value: Value =
            serde_json::from_slice(&answer).map_err(|e| protocol(format!("not JSON ({e})")))?;
        let (Some(success), Some(result)) = (
            value.get("success").and_then(Value::as_bool),
            value.get("result"),
        ) else {
            return Err(protocol(format!("no success/result in {value}")));
        };
        if success {
            Ok(result.clone())
        } else {
            Err(LuxiError::Refused {
                method: method.to_string(),
                path: self.socket.clone(),
                message: refusal_text(result),
            })
        }
    }

    /// Every job in the queue as (id, status).
    pub fn jobs(&self) -> Result<Vec<(u64, String)>, LuxiError> {
        let rows = self.call("QueryJobs", json!([[], ["id", "status"]]))?;
        rows_of(&rows)
            .and_then(|rows| {
                rows.iter()
                    .map(|r| Some((r.first()?.as_u64()?, r.get(1)?.as_str()?.to_string())))
                    .collect::<Option<Vec<_>>>()
            })
            .ok_or_else(|| self.shape("QueryJobs", &rows))
    }

    /// Every filter rule as (uuid, reasons of its reason trail).
    pub fn filters(&self) -> Result<Vec<(String, Vec<String>)>, LuxiError> {
        let rows = self.call("QueryFilters", json!([[], ["uuid", "reason_trail"]]))?;
        rows_of(&rows)
            .and_then(|rows| {
                rows.iter()
                    .map(|r| {
                        let uuid = r.first()?.as_str()?.to_string();
                        // A trail entry is [source, reason, timestamp].
                        let reasons = r
                            .get(1)?
                            .as_array()?
                            .iter()
                            .filter_map(|e| e.get(1).and_then(Value::as_str).map(String::from))
                            .collect();
                        Some((uuid, reasons))
                    })
                    .collect::<Option<Vec<_>>>()
            })
            .ok_or_else(|| self.shape("QueryFilters", &rows))
    }

    /// Adds a filter rule; returns its uuid. `reason` goes into its trail
    /// as a user-given reason, as `gnt-filter add --reason` does.
    pub fn add_filter(
        &self,
        priority: u32,
        predicates: Value,
        action: &str,
        reason: &str,
    ) -> Result<String, LuxiError> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let trail = json!([["gnt:user", reason, nanos as u64]]);
        let uuid = self.call(
            "ReplaceFilter",
            json!([null, priority, predicates, action, trail]),
        )?;
        uuid.as_str()
            .map(String::from)
            .ok_or_else(|| self.shape("ReplaceFilter", &uuid))
    }

    pub fn delete_filter(&self, uuid: &str) -> Result<(), LuxiError> {
        self.call("DeleteFilter", json!([uuid])).map(drop)
    }

    /// Pauses the watcher until `until` (epoch seconds), or ends the pause.
    pub fn set_watcher_pause(&self, until: Option<f64>) -> Result<(), LuxiError> {
        self.call("SetWatcherPause", json!([until])).map(drop)
    }

    /// Sets the drain flag. Never call it with `false` while the queue is
    /// not drained: luxid then fails to remove the file and does not answer.
    pub fn set_drain_flag(&self, drained: bool) -> Result<(), LuxiError> {
        self.call("SetDrainFlag", json!([drained])).map(drop)
    }

    fn shape(&self, method: &str, value: &Value) -> LuxiError {
        LuxiError::Protocol {
            method: method.to_string(),
            path: self.socket.clone(),
            detail: format!("unexpected result {value}"),
        }
    }
}

fn rows_of(value: &Value) -> Option<Vec<&Vec<Value>>> {
    value.as_array()?.iter().map(Value::as_array).collect()
}

/// luxid's refusals are a string, or Ganeti's encoded exception
/// `[class, [arguments]]`.
fn refusal_text(result: &Value) -> String {
    match result {
        Value::String(s) => s.clone(),
        Value::Array(parts) => match (parts.first().and_then(Value::as_str), parts.get(1)) {
            (Some(class), Some(Value::Array(args))) => {
                let args: Vec<String> = args
                    .iter()
                    .map(|a| {
                        a.as_str()
                            .map(String::from)
                            .unwrap_or_else(|| a.to_string())
                    })
                    .collect();
                format!("{class}: {}", args.join(", "))
            }
            _ => result.to_string(),
        },
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixListener;

    /// A one-shot luxid: reads one request, checks it, sends `answer` raw.
    fn serve(answer: &[u8], expect_method: &'static str) -> (tempfile::TempDir, Luxi) {
        let answer = answer.to_vec();
        let dir = tempfile::tempdir().expect("test fixture");
        let path = dir.path().join("ganeti-query");
        let listener = UnixListener::bind(&path).expect("test fixture");
        std::thread::spawn(move || {
            let (mut s, _) = listener.accept().expect("test fixture");
            let mut req = Vec::new();
            let mut b = [0u8; 1];
            while s.read(&mut b).expect("test fixture") == 1 && b[0] != ETX {
                req.push(b[0]);
            }
            let v: Value = serde_json::from_slice(&req).expect("test fixture");
            assert_eq!(v["method"], expect_method);
            assert!(v["args"].is_array());
            assert!(v.get("version").is_none());
            // Split the answer across writes, as a socket may deliver it.
            let (a, b) = answer.split_at(answer.len() / 2);
            s.write_all(a).expect("test fixture");
            s.flush().expect("test fixture");
            std::thread::sleep(Duration::from_millis(20));
            s.write_all(b).expect("test fixture");
        });
        let luxi = Luxi::new(path).with_timeouts(Duration::from_secs(2), Duration::from_secs(5));
        (dir, luxi)
    }

    #[test]
    fn jobs_are_parsed() {
        let (_d, l) = serve(
            b"{\"success\":true,\"result\":[[1,\"success\"],[7,\"running\"]]}\x03",
            "QueryJobs",
        );
        assert_eq!(
            l.jobs().expect("test fixture"),
            vec![(1, "success".to_string()), (7, "running".to_string())]
        );
    }

    #[test]
    fn filter_reasons_come_from_the_trail() {
        let (_d, l) = serve(
            format!(
                "{}\x03",
                r#"{"success":true,"result":[["u-1",[["gnt:user","ganeti-upgrade:abc",1],["luxid","",2]]],["u-2",[]]]}"#
            )
            .as_bytes(),
            "QueryFilters",
        );
        let f = l.filters().expect("test fixture");
        assert_eq!(f[0].0, "u-1");
        assert_eq!(
            f[0].1,
            vec!["ganeti-upgrade:abc".to_string(), String::new()]
        );
        assert!(f[1].1.is_empty());
    }

    #[test]
    fn refusals_name_the_method_and_ganeti_error() {
        let (_d, l) = serve(
            b"{\"success\":false,\"result\":[\"GenericError\",[\"Filter rule with UUID x does not exist\"]]}\x03",
            "DeleteFilter",
        );
        let e = l.delete_filter("x").expect_err("must fail");
        assert!(!e.maybe_applied());
        let e = e.to_string();
        assert!(e.starts_with("LUXI DeleteFilter on /"), "{e}");
        assert!(
            e.ends_with(
                "/ganeti-query: luxid refused: GenericError: Filter rule with UUID x does not exist"
            ),
            "{e}"
        );
    }

    #[test]
    fn a_truncated_answer_is_a_protocol_error() {
        let (_d, l) = serve(b"{\"success\":true,", "SetDrainFlag");
        let e = l.set_drain_flag(true).expect_err("must fail");
        assert!(matches!(e, LuxiError::Protocol { .. }), "{e}");
        assert!(e.maybe_applied(), "sent, so it may have been applied");
        assert!(
            e.to_string().contains("without an end-of-message byte"),
            "{e}"
        );
    }

    #[test]
    fn an_unexpected_result_shape_is_a_protocol_error() {
        let (_d, l) = serve(b"{\"success\":true,\"result\":{\"a\":1}}\x03", "QueryJobs");
        let e = l.jobs().expect_err("must fail").to_string();
        assert!(e.contains("unexpected result"), "{e}");
    }

    #[test]
    fn no_socket_is_a_connect_error_naming_the_path_at_once() {
        let dir = tempfile::tempdir().expect("test fixture");
        let l = Luxi::new(dir.path().join("ganeti-query"));
        let t = Instant::now();
        let e = l.jobs().expect_err("must fail").to_string();
        assert!(
            t.elapsed() < Duration::from_secs(1),
            "no wait without a socket"
        );
        assert!(e.starts_with("cannot connect to luxid at "), "{e}");
        assert!(e.contains("ganeti-query"), "{e}");
    }

    #[test]
    fn a_socket_nobody_listens_on_is_retried_until_luxid_is_back() {
        let dir = tempfile::tempdir().expect("test fixture");
        let path = dir.path().join("ganeti-query");
        // A stale socket file: connecting is refused.
        drop(UnixListener::bind(&path).expect("test fixture"));
        let l =
            Luxi::new(path.clone()).with_timeouts(Duration::from_secs(5), Duration::from_secs(5));
        let server = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(300));
            // Bound aside and renamed over: no moment without a socket.
            let aside = path.with_file_name("ganeti-query.new");
            let listener = UnixListener::bind(&aside).expect("test fixture");
            fs_err::rename(&aside, &path).expect("test fixture");
            let (mut s, _) = listener.accept().expect("test fixture");
            let mut b = [0u8; 1];
            while s.read(&mut b).expect("test fixture") == 1 && b[0] != ETX {}
            s.write_all(b"{\"success\":true,\"result\":true}\x03")
                .expect("test fixture");
        });
        let t = Instant::now();
        l.set_drain_flag(true).expect("test fixture");
        assert!(t.elapsed() >= Duration::from_millis(300));
        server.join().expect("test fixture");
    }

    #[test]
    fn a_refused_connection_gives_up_at_the_deadline() {
        let dir = tempfile::tempdir().expect("test fixture");
        let path = dir.path().join("ganeti-query");
        drop(UnixListener::bind(&path).expect("test fixture"));
        let l = Luxi::new(path).with_timeouts(Duration::from_millis(300), Duration::from_secs(1));
        let t = Instant::now();
        let e = l.set_watcher_pause(None).expect_err("must fail");
        assert!(t.elapsed() >= Duration::from_millis(300));
        assert!(matches!(e, LuxiError::Connect { .. }), "{e}");
    }
}
