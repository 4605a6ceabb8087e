//! The messages that travel through RabbitMQ: job envelopes (coordinator -> workers) and job
//! events (workers -> coordinator). Both carry a version field and decode strictly, so a
//! message from an incompatible deploy is poison, not a silent misreading.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::ids::{JobId, RunId, StrategyId, VersionId};

/// The pipeline steps a worker can perform.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
    utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum JobKind {
    /// Spec -> code.
    Generate,
    /// Code -> safety and structure findings.
    Validate,
    /// Code -> backtest in the sandbox.
    Test,
    /// Failed code -> corrected code.
    Fix,
    /// Tested code -> commit on the strategies repository.
    Merge,
    /// A standalone sandbox run asked for through the API (sandbox-test, run-sandbox): no
    /// pipeline step, so its outcome never moves a run.
    Sandbox,
}

impl JobKind {
    /// Every kind, in pipeline order.
    pub const ALL: [JobKind; 6] =
        [Self::Generate, Self::Validate, Self::Test, Self::Fix, Self::Merge, Self::Sandbox];

    /// The lowercase name used in queue names, metrics and the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Generate => "generate",
            Self::Validate => "validate",
            Self::Test => "test",
            Self::Fix => "fix",
            Self::Merge => "merge",
            Self::Sandbox => "sandbox",
        }
    }

    /// True for kinds that run on their own, outside a run's pipeline: their events are
    /// recorded on the job row and never move the run they hang off.
    pub fn is_standalone(self) -> bool {
        matches!(self, Self::Sandbox)
    }

    /// Attempts allowed for transient failures before the job is dead-lettered.
    pub fn max_attempts(self) -> i32 {
        match self {
            Self::Generate | Self::Fix => 5,
            Self::Validate => 3,
            Self::Test | Self::Merge => 5,
            Self::Sandbox => 3,
        }
    }
}

impl fmt::Display for JobKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for JobKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL.into_iter().find(|k| k.as_str() == s).ok_or_else(|| format!("unknown job kind '{s}'"))
    }
}

/// What a job works on; versioned variants keep messages already queued decodable after a
/// deploy that adds fields.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "type", deny_unknown_fields)]
pub enum JobPayload {
    /// Generate the first version of the run's strategy from its spec.
    #[serde(rename = "generate.v1")]
    GenerateV1 {},
    /// Validate one version.
    #[serde(rename = "validate.v1")]
    ValidateV1 {
        /// The version to check.
        version_id: VersionId,
    },
    /// Backtest one version.
    #[serde(rename = "test.v1")]
    TestV1 {
        /// The version to run.
        version_id: VersionId,
    },
    /// Repair one version.
    #[serde(rename = "fix.v1")]
    FixV1 {
        /// The version that failed.
        version_id: VersionId,
    },
    /// Commit and merge one version.
    #[serde(rename = "merge.v1")]
    MergeV1 {
        /// The version to merge.
        version_id: VersionId,
    },
    /// Run one version's code in the sandbox on its run's dataset, on request
    /// (`POST /api/production/strategies/sandbox-test/`).
    #[serde(rename = "sandbox_test.v1")]
    SandboxTestV1 {
        /// The version to run.
        version_id: VersionId,
        /// The request's limits.
        limits: SandboxLimits,
    },
    /// Backtest one version on request on the given datasets and dates
    /// (`POST /api/production/backtests/run-sandbox/`).
    #[serde(rename = "sandbox_backtest.v1")]
    SandboxBacktestV1 {
        /// The version to run.
        version_id: VersionId,
        /// The request's limits (the timeout covers every symbol together).
        limits: SandboxLimits,
        /// What to run it on.
        backtest: SandboxBacktest,
    },
}

/// Per-request limits of a standalone sandbox job, already checked by the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SandboxLimits {
    /// Wall-clock limit in seconds.
    pub timeout_secs: u32,
    /// Memory (and memory + swap) limit in MiB.
    pub memory_mb: u32,
    /// CPU quota in thousandths of a CPU (500 = half a CPU).
    pub cpu_millis: u32,
}

/// One symbol of a standalone backtest and the dataset that holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SymbolDataset {
    /// The symbol as the caller named it (`GOOG`, `AAPL`).
    pub symbol: String,
    /// The sandbox dataset (`GOOG`, `csv:AAPL.csv`, `parquet:MSFT.parquet`).
    pub dataset: String,
}

/// What a standalone backtest runs on, resolved and checked by the API.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SandboxBacktest {
    /// The stored backtest config the settings came from, if any.
    pub config_id: Option<i64>,
    /// The symbols, each backtested on its own with the full capital.
    pub symbols: Vec<SymbolDataset>,
    /// First day (`YYYY-MM-DD`), inclusive.
    pub start_date: Option<String>,
    /// Last day (`YYYY-MM-DD`), inclusive.
    pub end_date: Option<String>,
    /// Starting cash.
    pub cash: f64,
    /// Commission rate per trade side.
    pub commission: f64,
    /// Slippage, as backtesting.py's spread.
    pub spread: f64,
}

impl JobPayload {
    /// The payload tags this build decodes (the `type` field), so an unknown one is told apart
    /// from a malformed message without reading serde's error text.
    pub const TYPES: [&'static str; 7] = [
        "generate.v1",
        "validate.v1",
        "test.v1",
        "fix.v1",
        "merge.v1",
        "sandbox_test.v1",
        "sandbox_backtest.v1",
    ];

    /// The kind of job this payload belongs to.
    pub fn kind(&self) -> JobKind {
        match self {
            Self::GenerateV1 {} => JobKind::Generate,
            Self::ValidateV1 { .. } => JobKind::Validate,
            Self::TestV1 { .. } => JobKind::Test,
            Self::FixV1 { .. } => JobKind::Fix,
            Self::MergeV1 { .. } => JobKind::Merge,
            Self::SandboxTestV1 { .. } | Self::SandboxBacktestV1 { .. } => JobKind::Sandbox,
        }
    }

    /// The version the job works on, if any.
    pub fn version_id(&self) -> Option<VersionId> {
        match self {
            Self::GenerateV1 {} => None,
            Self::ValidateV1 { version_id }
            | Self::TestV1 { version_id }
            | Self::FixV1 { version_id }
            | Self::MergeV1 { version_id }
            | Self::SandboxTestV1 { version_id, .. }
            | Self::SandboxBacktestV1 { version_id, .. } => Some(*version_id),
        }
    }
}

/// Envelope format version written by this build.
pub const ENVELOPE_VERSION: u32 = 1;

/// A job message as published to `<ns>.jobs`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct JobEnvelope {
    /// Envelope format version.
    #[schemars(extend("const" = ENVELOPE_VERSION))]
    pub v: u32,
    /// The job row this message stands for.
    pub job_id: JobId,
    /// The run the job belongs to.
    pub run_id: RunId,
    /// The run's strategy (for logs and traces).
    pub strategy_id: StrategyId,
    /// Which queue and handler.
    pub kind: JobKind,
    /// The attempt the publisher expected to run next (informational; the row is the truth).
    pub attempt: i32,
    /// What to work on.
    pub payload: JobPayload,
}

/// Why an envelope was refused; the reason goes into the dead-letter headers.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// Not JSON, or not the envelope shape.
    #[error("undecodable message: {0}")]
    Malformed(#[source] serde_json::Error),
    /// An envelope whose `kind` (or payload `type`) this build does not know: a newer
    /// producer, or a message sent to the wrong system.
    #[error("unknown job kind '{0}'")]
    UnknownKind(String),
    /// A format version this build does not know.
    #[error("unsupported envelope version {0}")]
    Version(u32),
    /// Kind and payload disagree.
    #[error("envelope kind {kind} does not match its payload ({payload})")]
    KindMismatch {
        /// The envelope's kind.
        kind: JobKind,
        /// The payload's kind.
        payload: JobKind,
    },
}

impl DecodeError {
    /// The dead-letter reason recorded with the refused message.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Malformed(_) => "undecodable",
            Self::UnknownKind(_) => "unknown_kind",
            Self::Version(_) => "unsupported_version",
            Self::KindMismatch { .. } => "kind_mismatch",
        }
    }
}

impl JobEnvelope {
    /// Decodes and checks an envelope from message bytes.
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let value: serde_json::Value = serde_json::from_slice(bytes).map_err(DecodeError::Malformed)?;
        if let Some(kind) = value.get("kind").and_then(serde_json::Value::as_str) {
            kind.parse::<JobKind>().map_err(|_| DecodeError::UnknownKind(kind.to_owned()))?;
        }
        if let Some(tag) = value.pointer("/payload/type").and_then(serde_json::Value::as_str)
            && !JobPayload::TYPES.contains(&tag)
        {
            return Err(DecodeError::UnknownKind(tag.to_owned()));
        }
        let envelope: Self = serde_json::from_value(value).map_err(DecodeError::Malformed)?;
        if envelope.v != ENVELOPE_VERSION {
            return Err(DecodeError::Version(envelope.v));
        }
        if envelope.payload.kind() != envelope.kind {
            return Err(DecodeError::KindMismatch { kind: envelope.kind, payload: envelope.payload.kind() });
        }
        Ok(envelope)
    }
}

/// What a successful job produced, as reported to the coordinator.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum JobResult {
    /// A new version exists.
    Generated {
        /// The version created.
        version_id: VersionId,
    },
    /// The version was checked.
    Validated {
        /// The version checked.
        version_id: VersionId,
        /// Whether it may run.
        accepted: bool,
        /// First findings, for the run's error.
        summary: String,
    },
    /// The version was backtested.
    Tested {
        /// The version run.
        version_id: VersionId,
        /// The stored backtest.
        backtest_id: i64,
        /// Whether it met the acceptance criteria.
        passed: bool,
        /// Why not, when it did not pass.
        reason: Option<String>,
    },
    /// The version is on `main` of the strategies repository.
    Merged {
        /// The version merged.
        version_id: VersionId,
        /// The version's commit on `strategy/<name>`.
        version_commit: String,
        /// The merge commit on `main`.
        merge_commit: String,
    },
    /// A standalone sandbox job ran (its code may still have failed: see the report).
    SandboxRan {
        /// The version run.
        version_id: VersionId,
        /// The stored backtest, for run-sandbox jobs.
        backtest_id: Option<i64>,
        /// What happened, in the API's words.
        report: SandboxReport,
    },
}

/// What a standalone sandbox job observed, as the API reports it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SandboxReport {
    /// The code ran to the end without an error on every dataset.
    pub success: bool,
    /// The container's exit code (of the last run; 0 ok, 1 code error, 2 invalid request).
    pub exit_code: Option<i64>,
    /// What the code printed and a summary of the backtest.
    pub output: String,
    /// Why it failed, with the traceback; empty on success.
    pub errors: String,
    /// A run was killed at the wall-clock limit.
    pub timed_out: bool,
    /// Seconds spent in the sandbox (every run together).
    pub execution_time: f64,
    /// Peak memory (MiB) and CPU use (percent of one CPU over the execution time).
    pub resource_usage: SandboxUsage,
    /// The backtest's summary in the guide's words (fractions), when it ran.
    pub results: Option<serde_json::Value>,
    /// One entry per symbol (run-sandbox), with its dataset, metrics and error.
    #[serde(default)]
    pub per_symbol: Vec<serde_json::Value>,
}

/// Resource use of a standalone sandbox job.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SandboxUsage {
    /// Peak memory of the container(s), in MiB.
    pub max_memory_mb: Option<u64>,
    /// CPU time over wall time, in percent of one CPU.
    pub cpu_percent: Option<f64>,
}

/// A job's outcome as reported on `<ns>.events`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case", deny_unknown_fields)]
pub enum JobOutcome {
    /// The handler finished; the result is committed.
    Succeeded {
        /// What it produced.
        result: JobResult,
    },
    /// The job cannot succeed as it is (permanent error): the run moves on (fix or fail).
    Failed {
        /// Human-readable reason.
        error: String,
    },
    /// The job was dead-lettered (attempts spent, poison): the run is dead until replayed.
    Dead {
        /// Machine reason (`attempts_exhausted`, ...).
        reason: String,
        /// Last error.
        error: String,
    },
}

impl JobOutcome {
    /// The word used in event routing keys (`job.<kind>.<word>`).
    pub fn word(&self) -> &'static str {
        match self {
            Self::Succeeded { .. } => "succeeded",
            Self::Failed { .. } => "failed",
            Self::Dead { .. } => "dead",
        }
    }
}

/// A job event published by workers and consumed by the coordinator's state machine.
/// (No `deny_unknown_fields` here: serde cannot combine it with the flattened outcome; the
/// outcome variants deny unknown fields themselves.)
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobEvent {
    /// Event format version.
    pub v: u32,
    /// The job that finished.
    pub job_id: JobId,
    /// Its run.
    pub run_id: RunId,
    /// Its kind.
    pub kind: JobKind,
    /// The attempt that produced the outcome.
    pub attempt: i32,
    /// What happened.
    #[serde(flatten)]
    pub outcome: JobOutcome,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_envelope_round_trips() {
        let env = JobEnvelope {
            v: ENVELOPE_VERSION,
            job_id: JobId::new(),
            run_id: RunId::new(),
            strategy_id: StrategyId(4),
            kind: JobKind::Test,
            attempt: 1,
            payload: JobPayload::TestV1 { version_id: VersionId(7) },
        };
        let bytes = serde_json::to_vec(&env).expect("encode");
        assert_eq!(JobEnvelope::decode(&bytes).expect("decode"), env);
    }

    #[test]
    fn the_payload_tags_are_exactly_the_serialized_ones() {
        let v = VersionId(1);
        let payloads = [
            JobPayload::GenerateV1 {},
            JobPayload::ValidateV1 { version_id: v },
            JobPayload::TestV1 { version_id: v },
            JobPayload::FixV1 { version_id: v },
            JobPayload::MergeV1 { version_id: v },
            JobPayload::SandboxTestV1 {
                version_id: v,
                limits: SandboxLimits { timeout_secs: 1, memory_mb: 64, cpu_millis: 100 },
            },
            JobPayload::SandboxBacktestV1 {
                version_id: v,
                limits: SandboxLimits { timeout_secs: 1, memory_mb: 64, cpu_millis: 100 },
                backtest: SandboxBacktest {
                    config_id: None,
                    symbols: Vec::new(),
                    start_date: None,
                    end_date: None,
                    cash: 1.0,
                    commission: 0.0,
                    spread: 0.0,
                },
            },
        ];
        let tags: Vec<String> = payloads
            .iter()
            .map(|p| serde_json::to_value(p).expect("encode")["type"].as_str().expect("tag").to_owned())
            .collect();
        assert_eq!(tags, JobPayload::TYPES);
    }

    #[test]
    fn garbage_unknown_kinds_and_mismatches_are_refused() {
        assert!(matches!(JobEnvelope::decode(b"not json"), Err(DecodeError::Malformed(_))));
        let unknown = br#"{"v":1,"job_id":"0190b3f0-0000-7000-8000-000000000000","run_id":"0190b3f0-0000-7000-8000-000000000000","strategy_id":1,"kind":"explode","attempt":1,"payload":{"type":"generate.v1"}}"#;
        assert!(matches!(JobEnvelope::decode(unknown), Err(DecodeError::UnknownKind(k)) if k == "explode"));
        let unknown_payload = br#"{"v":1,"job_id":"0190b3f0-0000-7000-8000-000000000000","run_id":"0190b3f0-0000-7000-8000-000000000000","strategy_id":1,"kind":"generate","attempt":1,"payload":{"type":"generate.v9"}}"#;
        assert!(
            matches!(JobEnvelope::decode(unknown_payload), Err(DecodeError::UnknownKind(k)) if k == "generate.v9")
        );
        let bad_shape = br#"{"v":1,"job_id":"not-a-uuid","run_id":"0190b3f0-0000-7000-8000-000000000000","strategy_id":1,"kind":"generate","attempt":1,"payload":{"type":"generate.v1"}}"#;
        assert_eq!(JobEnvelope::decode(bad_shape).map_err(|e| e.reason()).err(), Some("undecodable"));
        let mismatch = br#"{"v":1,"job_id":"0190b3f0-0000-7000-8000-000000000000","run_id":"0190b3f0-0000-7000-8000-000000000000","strategy_id":1,"kind":"test","attempt":1,"payload":{"type":"generate.v1"}}"#;
        assert!(matches!(JobEnvelope::decode(mismatch), Err(DecodeError::KindMismatch { .. })));
        let future = br#"{"v":9,"job_id":"0190b3f0-0000-7000-8000-000000000000","run_id":"0190b3f0-0000-7000-8000-000000000000","strategy_id":1,"kind":"generate","attempt":1,"payload":{"type":"generate.v1"}}"#;
        assert!(matches!(JobEnvelope::decode(future), Err(DecodeError::Version(9))));
    }

    #[test]
    fn an_event_round_trips_with_its_outcome_flattened() {
        let event = JobEvent {
            v: ENVELOPE_VERSION,
            job_id: JobId::new(),
            run_id: RunId::new(),
            kind: JobKind::Merge,
            attempt: 2,
            outcome: JobOutcome::Failed { error: "boom".into() },
        };
        let text = serde_json::to_string(&event).expect("encode");
        assert!(text.contains(r#""outcome":"failed""#), "{text}");
        assert_eq!(serde_json::from_str::<JobEvent>(&text).expect("decode"), event);
    }
}
