//! A command as it ran on a node, and how command lines are quoted for the
//! remote shell and for messages.

/// A command's result, with everything needed to report it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Ran {
    pub node: String,
    pub command: String,
    /// Exit code; `None` when it could not run or died of a signal.
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Ran {
    pub fn ok(&self) -> bool {
        self.code == Some(0)
    }
    /// One line for an error message.
    pub fn summary(&self) -> String {
        let detail = self.stderr.trim().lines().last().unwrap_or("").to_string();
        let code = self
            .code
            .map(|c| format!("exit {c}"))
            .unwrap_or_else(|| "did not run to the end".into());
        if detail.is_empty() {
            format!("{}: `{}` failed ({code})", self.node, self.command)
        } else {
            format!(
                "{}: `{}` failed ({code}): {detail}",
                self.node, self.command
            )
        }
    }
}

/// Quotes an argument for the remote shell.
pub fn shell_quote(arg: &str) -> String {
    if !arg.is_empty()
        && arg
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./=:,+@%".contains(&b))
    {
        arg.to_string()
    } else {
        format!("'{}'", arg.replace('\'', "'\\''"))
    }
}

pub fn join_argv(argv: &[String]) -> String {
    argv.iter()
        .map(|a| shell_quote(a))
        .collect::<Vec<_>>()
        .join(" ")
}
