//! Resource usage of a run, from the container's cgroup as the engine reports it.
//!
//! A stopped container has no cgroup any more (its stats are all zero), so the statistics
//! are read while it still runs: once when the harness is ready (the baseline) and once
//! when the result line has arrived (the harness lingers until stdin closes, see
//! `deploy/sandbox/README.md`) or just before a kill. `one-shot` stats answer at once
//! instead of waiting a second for a second CPU sample.

use std::time::Duration;

use bollard::Docker;
use bollard::container::{Stats, StatsOptions};
use futures::StreamExt;
use serde::Serialize;
use tracing::debug;

use super::lifecycle::short;

/// How long one stats call may take before the run goes on without it.
const STATS_TIMEOUT: Duration = Duration::from_secs(2);

/// What one run cost, from the container's cgroup. `None` when it could not be read (the
/// process died before a sample could be taken, or the engine did not report it).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ResourceUsage {
    /// Peak memory of the container in bytes, page cache included (cgroup v1
    /// `max_usage_in_bytes`; on cgroup v2 the usage at the last sample, a lower bound). For
    /// a run killed by the OOM killer, the memory limit.
    pub peak_memory_bytes: Option<u64>,
    /// CPU time (user + system, all processes) spent on the job, in milliseconds: from the
    /// moment the harness was ready (imports done) to its result or the kill.
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

/// The usage of one run from its baseline (harness ready) and last sample.
pub(crate) fn usage(
    baseline: Option<UsageSample>,
    last: Option<UsageSample>,
    oom_killed: bool,
    memory_limit: i64,
) -> ResourceUsage {
    let peaks = [baseline, last].into_iter().flatten().filter_map(|s| s.peak_memory_bytes);
    let mut peak_memory_bytes = peaks.max();
    if oom_killed {
        // The kernel killed it for reaching the limit; its cgroup is gone, the limit is known.
        let limit = u64::try_from(memory_limit).unwrap_or(0);
        peak_memory_bytes = Some(peak_memory_bytes.unwrap_or(0).max(limit));
    }
    let cpu_time_ms = match (baseline.and_then(|b| b.cpu_ns), last.and_then(|l| l.cpu_ns)) {
        (Some(start), Some(end)) => Some(end.saturating_sub(start) / 1_000_000),
        _ => None,
    };
    ResourceUsage { peak_memory_bytes, cpu_time_ms }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(peak: u64, cpu_ns: u64) -> Option<UsageSample> {
        Some(UsageSample { peak_memory_bytes: Some(peak), cpu_ns: Some(cpu_ns) })
    }

    #[test]
    fn cpu_time_is_the_difference_and_memory_the_highest_peak() {
        let usage = usage(sample(100, 1_500_000_000), sample(80, 1_750_000_000), false, 1000);

        assert_eq!(usage, ResourceUsage { peak_memory_bytes: Some(100), cpu_time_ms: Some(250) });
    }

    #[test]
    fn an_oom_kill_reports_the_limit_and_a_missing_sample_no_cpu() {
        let usage = usage(sample(100, 1), None, true, 1000);

        assert_eq!(usage, ResourceUsage { peak_memory_bytes: Some(1000), cpu_time_ms: None });
    }
}
