//! Removing what crashed workers left behind, without touching live workers' containers.
//!
//! A live worker's containers are bounded in age: a cold one lives through the start-up,
//! the job's timeout and the drain after a kill; a warm one also through its idle time in
//! the pool (rotated after [`MAX_IDLE`]). When a worker dies its attach connections close,
//! Docker closes the containers' stdin and the harnesses exit, so a dead worker's pool
//! shows up as exited containers. Hence: this process's own pool is never swept; an exited
//! container goes once it is older than `older_than` (a pool one after at most a minute);
//! a running one only once no live worker could still own it.

use std::collections::HashMap;
use std::time::Duration;

use bollard::Docker;
use bollard::container::ListContainersOptions;
use tracing::warn;

use super::error::{SandboxError, is_conflict, is_not_found};
use super::hardening::{POOL_LABEL, SANDBOX_LABEL};
use super::lifecycle::force_remove;

/// A warm container idle longer than this is replaced by a fresh one (which bounds the age
/// of a live pool's containers, so the sweep can tell them from a dead worker's).
pub(crate) const MAX_IDLE: Duration = Duration::from_secs(10 * 60);
/// Start-up, drain after a kill and exit wait on top of a run's timeout, rounded up.
const LIFETIME_MARGIN: Duration = Duration::from_secs(2 * 60);
/// An exited pool container of another process is a dead worker's after this long.
const EXITED_POOL_GRACE: Duration = Duration::from_secs(60);

/// Whose a container is, as far as the sweep can tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Owner {
    /// A cold run's container.
    Run,
    /// A warm container of this process's pool.
    OwnPool,
    /// A warm container of another (possibly dead) process.
    OtherPool,
}

/// Whether a container of `owner`, running or not, `age` old, is a leftover.
fn is_stale(owner: Owner, running: bool, age: Duration, older_than: Duration) -> bool {
    match (owner, running) {
        (Owner::OwnPool, _) => false,
        (Owner::Run, false) => age >= older_than,
        (Owner::Run, true) => age >= older_than + LIFETIME_MARGIN,
        (Owner::OtherPool, false) => age >= older_than.min(EXITED_POOL_GRACE),
        (Owner::OtherPool, true) => age >= older_than + MAX_IDLE + LIFETIME_MARGIN,
    }
}

/// Removes stale sandbox containers that carry all of `labels`; returns how many.
pub(crate) async fn sweep(
    docker: &Docker,
    older_than: Duration,
    labels: &HashMap<String, String>,
    own_pool: &str,
) -> Result<usize, SandboxError> {
    let mut filters = vec![format!("{SANDBOX_LABEL}=1")];
    filters.extend(labels.iter().map(|(k, v)| format!("{k}={v}")));
    let containers = docker
        .list_containers(Some(ListContainersOptions::<String> {
            all: true,
            filters: HashMap::from([("label".to_owned(), filters)]),
            ..Default::default()
        }))
        .await
        .map_err(|source| SandboxError::Docker { operation: "list containers", source })?;
    let now = chrono::Utc::now().timestamp();
    let mut removed = 0;
    for container in containers {
        let (Some(id), Some(created)) = (container.id, container.created) else {
            continue;
        };
        let owner = match container.labels.as_ref().and_then(|l| l.get(POOL_LABEL)) {
            None => Owner::Run,
            Some(pool) if pool == own_pool => Owner::OwnPool,
            Some(_) => Owner::OtherPool,
        };
        let running = matches!(container.state.as_deref(), Some("running" | "restarting" | "paused"));
        let age = Duration::from_secs(u64::try_from(now.saturating_sub(created)).unwrap_or(0));
        if !is_stale(owner, running, age, older_than) {
            continue;
        }
        match docker.remove_container(&id, Some(force_remove())).await {
            Ok(()) => removed += 1,
            Err(e) if is_not_found(&e) || is_conflict(&e) => {} // gone or being removed
            Err(source) => {
                return Err(SandboxError::Docker { operation: "remove container", source });
            }
        }
    }
    if removed > 0 {
        warn!(removed, "swept leftover sandbox containers");
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TIMEOUT: Duration = Duration::from_secs(120);

    #[test]
    fn a_live_workers_containers_are_kept() {
        let minutes = |m: u64| Duration::from_secs(m * 60);

        assert!(!is_stale(Owner::OwnPool, false, minutes(600), Duration::ZERO));
        assert!(!is_stale(Owner::Run, true, minutes(3), TIMEOUT));
        assert!(!is_stale(Owner::OtherPool, true, minutes(13), TIMEOUT));
        assert!(!is_stale(Owner::OtherPool, false, Duration::from_secs(30), TIMEOUT));
    }

    #[test]
    fn a_dead_workers_containers_go() {
        let minutes = |m: u64| Duration::from_secs(m * 60);

        assert!(is_stale(Owner::Run, false, minutes(2), TIMEOUT));
        assert!(is_stale(Owner::Run, true, minutes(5), TIMEOUT));
        assert!(is_stale(Owner::OtherPool, false, minutes(1), TIMEOUT));
        assert!(is_stale(Owner::OtherPool, true, minutes(15), TIMEOUT));
        assert!(is_stale(Owner::OtherPool, false, Duration::ZERO, Duration::ZERO));
    }
}
