//! Resource usage of a run, from the container's cgroup.
//!
//! The harness reads its container's cgroup as it writes the result line and reports it
//! there (`deploy/sandbox/README.md`): instant and exact. The engine's stats API cannot do
//! that job: a stopped container has no statistics (all zero) and a running one answers
//! only on its collector's one-second tick, which would double a warm run's latency. So
//! the stats API is only the fallback for a run killed at its timeout (read just before
//! the kill); after an OOM kill the memory limit is the peak.

use std::time::Duration;

use bollard::Docker;
use bollard::container::{Stats, StatsOptions};
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use tracing::debug;

use super::lifecycle::short;

/// How long one stats call may take before the run goes on without it.
const STATS_TIMEOUT: Duration = Duration::from_secs(2);

/// What one run cost, from the container's cgroup. `None` when it could not be read (the
/// process died before a sample could be taken, or the engine did not report it).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResourceUsage {
    /// Peak memory of the container in bytes, page cache included (cgroup v1
    /// `max_usage_in_bytes`; on cgroup v2 the usage at the last sample, a lower bound). For
    /// a run killed by the OOM killer, the memory limit.
    pub peak_memory_bytes: Option<u64>,
    /// CPU time (user + system, all processes of the container) spent on the job, in
    /// milliseconds: from the moment the harness was ready (imports done) to its result.
    /// For a run killed at its timeout, the container's whole CPU time, start-up included.
    pub cpu_time_ms: Option<u64>,
}

/// One reading of a container's cgroup.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct UsageSample {
    /// Peak memory so far (cgroup v1), else the current usage.
    peak_memory_bytes: Option<u64>,
    /// Cumulative CPU time in nanoseconds.
    cpu_ns: Option<u64>,
}

impl UsageSample {
    fn from_stats(stats: &Stats) -> Self {
        let memory = &stats.memory_stats;
        let peak_memory_bytes = memory.max_usage.or(memory.usage).filter(|b| *b > 0);
        let cpu = stats.cpu_stats.cpu_usage.total_usage;
        // A stopped container reports zeros everywhere; zero CPU means "no reading".
        Self { peak_memory_bytes, cpu_ns: (cpu > 0).then_some(cpu) }
    }
}

/// Reads the container's cgroup once; `None` when the engine has nothing (stopped, gone,
/// slow).
pub(crate) async fn sample(docker: &Docker, id: &str) -> Option<UsageSample> {
    let options = StatsOptions { stream: false, one_shot: true };
    let read = tokio::time::timeout(STATS_TIMEOUT, docker.stats(id, Some(options)).next()).await;
    match read {
        Ok(Some(Ok(stats))) => {
            let sample = UsageSample::from_stats(&stats);
            (sample != UsageSample::default()).then_some(sample)
        }
        Ok(Some(Err(error))) => {
            debug!(container_id = %short(id), %error, "reading container stats failed");
            None
        }
        Ok(None) | Err(_) => None,
    }
}

/// The usage of one run: what the harness reported, else the engine's reading before a
/// kill; an OOM kill means the peak was the limit.
pub(crate) fn usage(
    reported: Option<ResourceUsage>,
    before_kill: Option<UsageSample>,
    oom_killed: bool,
    memory_limit: i64,
) -> ResourceUsage {
    let mut usage = reported.unwrap_or_else(|| ResourceUsage {
        peak_memory_bytes: before_kill.and_then(|s| s.peak_memory_bytes),
        cpu_time_ms: before_kill.and_then(|s| s.cpu_ns).map(|ns| ns / 1_000_000),
    });
    if oom_killed {
        // The kernel killed it for reaching the limit; its cgroup is gone, the limit is known.
        let limit = u64::try_from(memory_limit).unwrap_or(0);
        usage.peak_memory_bytes = Some(usage.peak_memory_bytes.unwrap_or(0).max(limit));
    }
    usage
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_harness_report_wins_and_the_engine_reading_is_the_fallback() {
        let reported = ResourceUsage { peak_memory_bytes: Some(100), cpu_time_ms: Some(250) };
        let sample = UsageSample { peak_memory_bytes: Some(300), cpu_ns: Some(2_000_000_000) };

        assert_eq!(usage(Some(reported), Some(sample), false, 1000), reported);
        assert_eq!(
            usage(None, Some(sample), false, 1000),
            ResourceUsage { peak_memory_bytes: Some(300), cpu_time_ms: Some(2000) }
        );
    }

    #[test]
    fn an_oom_kill_reports_the_limit() {
        let usage = usage(None, None, true, 1000);

        assert_eq!(usage, ResourceUsage { peak_memory_bytes: Some(1000), cpu_time_ms: None });
    }
}
