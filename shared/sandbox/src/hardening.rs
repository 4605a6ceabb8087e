//! The hardened container definition: every limit and isolation option of a sandbox run.
//!
//! Kept apart from the run loop so the whole security posture reads in one place; the
//! integration test `the_container_is_hardened_while_it_runs_and_cancel_removes_it` checks it
//! on a live container with `docker inspect`.

use std::collections::HashMap;

use bollard::container::Config;
use bollard::models::{HostConfig, HostConfigLogConfig, Mount, MountTypeEnum, ResourcesUlimits};

use super::settings::SandboxSettings;

/// Label on every sandbox container; [`super::Sandbox::sweep`] selects on it.
pub const SANDBOX_LABEL: &str = "algoagent.sandbox";
/// Label on warm-pool containers; its value identifies the worker process that owns them,
/// so a sweep never removes another live worker's pool.
pub const POOL_LABEL: &str = "algoagent.pool";

/// The harness's user: nobody:nogroup, whatever the image says.
const SANDBOX_USER: &str = "65534:65534";
/// Largest file the code may write (RLIMIT_FSIZE).
const MAX_FILE_BYTES: i64 = 16 * 1024 * 1024;
/// Open files (RLIMIT_NOFILE) and processes (RLIMIT_NPROC) inside the container.
const MAX_OPEN_FILES: i64 = 256;
const MAX_PROCESSES: i64 = 256;
/// CPU seconds a process may use on top of the job's share (the imports, a slow start).
const CPU_MARGIN_SECS: i64 = 30;

/// RLIMIT_CPU for every process: the CPU the job could use within its wall-clock limit,
/// plus a margin. The worker kills at the timeout anyway; this stops a runaway loop whose
/// worker crashed (nobody left to kill it) long before the sweep gets to it.
fn cpu_seconds(s: &SandboxSettings) -> i64 {
    let cpus = (s.nano_cpus + 999_999_999) / 1_000_000_000;
    let timeout = i64::try_from(s.timeout.as_secs()).unwrap_or(i64::MAX);
    timeout.saturating_add(1).saturating_mul(cpus.max(1)).saturating_add(CPU_MARGIN_SECS)
}

/// The hardened container definition for one run (docs/ARCHITECTURE.md, invariant 6).
pub(crate) fn container_config(s: &SandboxSettings, labels: &HashMap<String, String>) -> Config<String> {
    let mut labels = labels.clone();
    labels.insert(SANDBOX_LABEL.to_owned(), "1".to_owned());
    let ulimit = |name: &str, limit: i64| ResourcesUlimits {
        name: Some(name.to_owned()),
        soft: Some(limit),
        hard: Some(limit),
    };
    let mounts = s.datasets_dir.as_ref().map(|dir| {
        vec![Mount {
            target: Some("/datasets".to_owned()),
            source: Some(dir.to_string_lossy().into_owned()),
            typ: Some(MountTypeEnum::BIND),
            read_only: Some(true),
            ..Default::default()
        }]
    });
    Config {
        image: Some(s.image.clone()),
        // Every container (warm or cold) imports first, says ready, then reads the request:
        // one code path, and the job's deadline and CPU time start at the hand-off.
        cmd: Some(vec!["--ready".to_owned()]),
        // The image's ENV plus HOME; nothing of the worker's environment (secrets!).
        env: Some(vec!["HOME=/tmp".to_owned()]),
        labels: Some(labels),
        user: Some(SANDBOX_USER.to_owned()),
        working_dir: Some("/tmp".to_owned()),
        attach_stdin: Some(true),
        attach_stdout: Some(true),
        attach_stderr: Some(true),
        open_stdin: Some(true),
        // Docker closes the container's stdin when our attach closes it.
        stdin_once: Some(true),
        tty: Some(false),
        network_disabled: Some(true),
        host_config: Some(HostConfig {
            network_mode: Some("none".to_owned()),
            readonly_rootfs: Some(true),
            tmpfs: Some(HashMap::from([(
                "/tmp".to_owned(),
                format!("rw,noexec,nosuid,nodev,mode=1777,size={}", s.tmpfs_bytes),
            )])),
            cap_drop: Some(vec!["ALL".to_owned()]),
            security_opt: Some(vec!["no-new-privileges".to_owned()]),
            // memory_swap == memory: no swap at all, so a memory bomb meets the OOM killer.
            memory: Some(s.memory_bytes),
            memory_swap: Some(s.memory_bytes),
            nano_cpus: Some(s.nano_cpus),
            pids_limit: Some(s.pids_limit),
            ulimits: Some(vec![
                ulimit("nofile", MAX_OPEN_FILES),
                ulimit("nproc", MAX_PROCESSES),
                ulimit("fsize", MAX_FILE_BYTES),
                ulimit("cpu", cpu_seconds(s)),
            ]),
            runtime: s.runtime.clone(),
            mounts,
            // Output is read over the attach stream; the json-file driver would also
            // store a flood on the host's disk.
            log_config: Some(HostConfigLogConfig { typ: Some("none".to_owned()), config: None }),
            // We inspect the exit state before removing, so no auto-remove.
            auto_remove: Some(false),
            ..Default::default()
        }),
        ..Default::default()
    }
}
