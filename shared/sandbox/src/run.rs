//! The outcome of one sandbox run, including runs stopped by a limit.

use std::collections::HashMap;
use std::time::Duration;

use super::protocol::HarnessResponse;
use super::usage::ResourceUsage;

/// The limits a run was held to, kept so a failure can be explained in their terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunLimits {
    /// Wall-clock limit.
    pub timeout: Duration,
    /// Stdout cap in bytes.
    pub max_output_bytes: usize,
    /// Memory (and memory + swap) limit in bytes.
    pub memory_bytes: i64,
}

/// One finished sandbox run, including runs stopped by a limit.
#[derive(Debug, Clone)]
pub struct SandboxRun {
    /// The harness's answer; `None` when it gave none (killed, truncated, garbled).
    pub response: Option<HarnessResponse>,
    /// The container's exit code (0 ok, 1 code error, 2 invalid request, 137 killed...).
    /// When the harness answered, the code the protocol gives that answer: the harness exits
    /// with it right after writing, and the run does not wait for the engine to report it.
    pub exit_code: Option<i64>,
    /// Killed for passing the wall-clock limit.
    pub timed_out: bool,
    /// Killed by the kernel for passing the memory limit.
    pub oom_killed: bool,
    /// Output went past a cap: stdout past `max_output_bytes` (the container was killed) or
    /// stderr past its ceiling.
    pub output_truncated: bool,
    /// Why stdout could not be read as a harness answer, when it could not.
    pub protocol_error: Option<String>,
    /// The last 16 KiB of stderr (the user's prints, Python warnings, crash messages).
    pub stderr_tail: String,
    /// From the hand-off of the request to the harness's answer (or, without one, its
    /// exit); the start-up of the container, warm or cold, is not included.
    pub duration: Duration,
    /// Docker id of the (now removed) container, for logs and traces.
    pub container_id: String,
    /// The limits the run was held to.
    pub limits: RunLimits,
    /// Peak memory and CPU time, from the container's cgroup.
    pub resource_usage: ResourceUsage,
    /// The container came from the warm pool (pre-started) rather than being created for
    /// this run.
    pub warm: bool,
    /// The caller's labels (job, run...). A cold container carries them; a warm one was
    /// created before the job was known and carries the pool label instead.
    pub labels: HashMap<String, String>,
}

impl SandboxRun {
    /// `None` when the harness answered `ok`; otherwise why the run failed, in one line:
    /// "timed out after 120 s", "killed: out of memory (limit 512 MiB)",
    /// "ZeroDivisionError: division by zero (line 12)", "no result: output exceeded 1 MiB"...
    pub fn failure_reason(&self) -> Option<String> {
        if let Some(HarnessResponse::Ok(_)) = self.response {
            return None;
        }
        if self.timed_out {
            return Some(format!("timed out after {}", seconds(self.limits.timeout)));
        }
        if self.oom_killed {
            return Some(format!(
                "killed: out of memory (limit {})",
                human_bytes(u64::try_from(self.limits.memory_bytes).unwrap_or(0))
            ));
        }
        match &self.response {
            Some(HarnessResponse::Ok(_)) => None,
            Some(HarnessResponse::Error(failure)) => {
                let mut reason = failure.error_type.clone();
                let message = one_line(&failure.error);
                if !message.is_empty() {
                    reason.push_str(": ");
                    reason.push_str(&message);
                }
                if let Some(line) = failure.line {
                    reason.push_str(&format!(" (line {line})"));
                }
                Some(reason)
            }
            Some(HarnessResponse::InvalidRequest { error }) => {
                Some(format!("invalid request: {}", one_line(error)))
            }
            None if self.output_truncated => Some(format!(
                "no result: {}",
                self.protocol_error.clone().unwrap_or_else(|| format!(
                    "output exceeded {}",
                    human_bytes(self.limits.max_output_bytes as u64)
                ))
            )),
            None => {
                let mut reason = match self.exit_code {
                    Some(137) => "no result: killed (exit code 137)".to_owned(),
                    Some(code) => format!("no result: the harness exited with code {code}"),
                    None => "no result: the harness did not exit".to_owned(),
                };
                if let Some(last) = self.stderr_tail.lines().rev().find(|l| !l.trim().is_empty()) {
                    reason.push_str(" after printing: ");
                    reason.push_str(&one_line(last));
                } else if let Some(error) = &self.protocol_error {
                    reason.push_str("; ");
                    reason.push_str(&one_line(error));
                }
                Some(reason)
            }
        }
    }

    /// True when the harness answered `ok`.
    pub fn is_ok(&self) -> bool {
        matches!(self.response, Some(HarnessResponse::Ok(_)))
    }

    /// How the run ended, as one word for `algoagent_sandbox_runs_total{exit_reason}`: `ok`,
    /// `timeout`, `oom`, `code_error` (the strategy raised), `invalid_request`,
    /// `output_limit` or `no_result` (the harness died without answering).
    pub fn exit_reason(&self) -> &'static str {
        match &self.response {
            Some(HarnessResponse::Ok(_)) => "ok",
            _ if self.timed_out => "timeout",
            _ if self.oom_killed => "oom",
            Some(HarnessResponse::Error(_)) => "code_error",
            Some(HarnessResponse::InvalidRequest { .. }) => "invalid_request",
            None if self.output_truncated => "output_limit",
            None => "no_result",
        }
    }
}

/// First line of `text`, at most 300 characters.
fn one_line(text: &str) -> String {
    let first = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("").trim();
    if first.chars().count() > 300 {
        let cut: String = first.chars().take(297).collect();
        format!("{cut}...")
    } else {
        first.to_owned()
    }
}

fn seconds(duration: Duration) -> String {
    if duration.subsec_millis() == 0 {
        format!("{} s", duration.as_secs())
    } else {
        format!("{:.1} s", duration.as_secs_f64())
    }
}

/// `n` bytes in KiB/MiB/GiB when that reads better.
pub(crate) fn human_bytes(n: u64) -> String {
    const KIB: u64 = 1024;
    const MIB: u64 = 1024 * KIB;
    const GIB: u64 = 1024 * MIB;
    match n {
        n if n >= GIB && n % GIB == 0 => format!("{} GiB", n / GIB),
        n if n >= MIB && n % MIB == 0 => format!("{} MiB", n / MIB),
        n if n >= MIB => format!("{:.1} MiB", n as f64 / MIB as f64),
        n if n >= KIB && n % KIB == 0 => format!("{} KiB", n / KIB),
        n => format!("{n} bytes"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::CodeFailure;

    fn run() -> SandboxRun {
        SandboxRun {
            response: None,
            exit_code: Some(137),
            timed_out: false,
            oom_killed: false,
            output_truncated: false,
            protocol_error: None,
            stderr_tail: String::new(),
            duration: Duration::from_secs(1),
            container_id: "abc".to_owned(),
            limits: RunLimits {
                timeout: Duration::from_secs(120),
                max_output_bytes: 1024 * 1024,
                memory_bytes: 512 * 1024 * 1024,
            },
            resource_usage: ResourceUsage::default(),
            warm: false,
            labels: HashMap::new(),
        }
    }

    #[test]
    fn limits_are_named_in_the_reason() {
        let timed_out = SandboxRun { timed_out: true, ..run() };
        let oom = SandboxRun { oom_killed: true, ..run() };
        let truncated = SandboxRun { output_truncated: true, ..run() };

        assert_eq!(timed_out.failure_reason().as_deref(), Some("timed out after 120 s"));
        assert_eq!(oom.failure_reason().as_deref(), Some("killed: out of memory (limit 512 MiB)"));
        assert_eq!(truncated.failure_reason().as_deref(), Some("no result: output exceeded 1 MiB"));
    }

    #[test]
    fn a_code_failure_names_the_exception_and_line() {
        let failed = SandboxRun {
            response: Some(HarnessResponse::Error(CodeFailure {
                error_type: "ZeroDivisionError".to_owned(),
                error: "division by zero".to_owned(),
                traceback: String::new(),
                line: Some(12),
                warnings: vec![],
            })),
            exit_code: Some(1),
            ..run()
        };

        assert_eq!(failed.failure_reason().as_deref(), Some("ZeroDivisionError: division by zero (line 12)"));
    }

    #[test]
    fn a_silent_death_quotes_the_last_stderr_line() {
        let died = SandboxRun {
            exit_code: Some(139),
            stderr_tail: "starting\nSegmentation fault\n\n".to_owned(),
            ..run()
        };

        assert_eq!(
            died.failure_reason().as_deref(),
            Some("no result: the harness exited with code 139 after printing: Segmentation fault")
        );
    }

    #[test]
    fn sub_second_timeouts_keep_their_decimals() {
        assert_eq!(seconds(Duration::from_millis(1500)), "1.5 s");
        assert_eq!(human_bytes(16 * 1024), "16 KiB");
    }
}
