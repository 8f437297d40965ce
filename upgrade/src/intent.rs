//! Ganeti's intent-to-upgrade file, in Ganeti's own format, so that Ganeti's
//! tools and an admin read it as they would read one written by
//! `gnt-cluster upgrade`: three fields (the running release, the target as
//! given, the pid), joined with `,`, with `\` and `,` inside a field escaped
//! by a backslash, no trailing newline, mode 0600, written atomically and
//! durably.

use std::path::Path;

use ganeti_layout::durable::{self, DurableError};

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Intent {
    pub running: String,
    pub target: String,
    pub pid: String,
}

/// Joins fields the way Ganeti's `EscapeAndJoin` does.
pub fn escape_and_join(fields: &[&str]) -> String {
    fields
        .iter()
        .map(|f| f.replace('\\', "\\\\").replace(',', "\\,"))
        .collect::<Vec<_>>()
        .join(",")
}

/// Splits like Ganeti's `UnescapeAndSplit`.
pub fn unescape_and_split(text: &str) -> Vec<String> {
    let mut fields = vec![String::new()];
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let (Some(next), Some(f)) = (chars.next(), fields.last_mut()) {
                    f.push(next);
                }
            }
            ',' => fields.push(String::new()),
            c => {
                if let Some(f) = fields.last_mut() {
                    f.push(c);
                }
            }
        }
    }
    fields
}

impl Intent {
    pub fn to_text(&self) -> String {
        escape_and_join(&[&self.running, &self.target, &self.pid])
    }

    /// `None` for anything that is not exactly three fields, as Ganeti does.
    pub fn parse(text: &str) -> Option<Intent> {
        let mut f = unescape_and_split(text);
        if f.len() != 3 {
            return None;
        }
        let pid = f.pop()?;
        let target = f.pop()?;
        let running = f.pop()?;
        Some(Intent {
            running,
            target,
            pid,
        })
    }

    pub fn read(path: &Path) -> std::io::Result<Option<Intent>> {
        match std::fs::read_to_string(path) {
            Ok(t) => Ok(Intent::parse(&t)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    pub fn write(&self, path: &Path) -> Result<(), DurableError> {
        durable::write_file(path, self.to_text().as_bytes(), 0o600)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ganeti_format_round_trips() {
        let i = Intent {
            running: "3.0.2".into(),
            target: "3.1".into(),
            pid: "274".into(),
        };
        assert_eq!(i.to_text(), "3.0.2,3.1,274");
        assert_eq!(
            Intent::parse("3.1.0~rc2,3.0,1725").map(|i| i.running),
            Some("3.1.0~rc2".into())
        );
        let odd = Intent {
            running: "a,b".into(),
            target: "c\\d".into(),
            pid: "1".into(),
        };
        assert_eq!(odd.to_text(), "a\\,b,c\\\\d,1");
        assert_eq!(Intent::parse(&odd.to_text()), Some(odd));
        assert_eq!(Intent::parse("3.0.2,3.1"), None);
        assert_eq!(Intent::parse(""), None);
    }
}
