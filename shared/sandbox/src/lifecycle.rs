//! Container lifecycle helpers: guaranteed removal, kills that tolerate a container already gone.

use bollard::Docker;
use bollard::container::{KillContainerOptions, RemoveContainerOptions};
use tracing::{debug, warn};

use super::error::{is_conflict, is_not_found};

/// Owns a container's removal: `remove()` on the normal paths, `Drop` (a spawned removal)
/// when the run's future is dropped half-way. The sweep catches what both miss (a crash).
pub(crate) struct ContainerGuard {
    docker: Docker,
    id: Option<String>,
}

impl ContainerGuard {
    pub(crate) fn new(docker: Docker, id: String) -> Self {
        Self { docker, id: Some(id) }
    }

    pub(crate) async fn remove(mut self) {
        if let Some(id) = self.id.take() {
            remove(&self.docker, &id).await;
        }
    }
}

impl Drop for ContainerGuard {
    fn drop(&mut self) {
        let Some(id) = self.id.take() else { return };
        let docker = self.docker.clone();
        match tokio::runtime::Handle::try_current() {
            Ok(handle) => {
                handle.spawn(async move { remove(&docker, &id).await });
            }
            Err(_) => {
                warn!(container_id = %short(&id), "no runtime to remove the sandbox container; the sweep will")
            }
        }
    }
}

pub(crate) fn force_remove() -> RemoveContainerOptions {
    RemoveContainerOptions { force: true, v: true, ..Default::default() }
}

pub(crate) async fn remove(docker: &Docker, id: &str) {
    match docker.remove_container(id, Some(force_remove())).await {
        Ok(()) => debug!(container_id = %short(id), "sandbox container removed"),
        Err(e) if is_not_found(&e) => {}
        // Not fatal for the run; the next sweep removes it.
        Err(error) => warn!(container_id = %short(id), %error, "could not remove sandbox container"),
    }
}

pub(crate) async fn kill(docker: &Docker, id: &str) {
    match docker.kill_container(id, None::<KillContainerOptions<String>>).await {
        Ok(()) => {}
        // Already exited or already gone: nothing to kill.
        Err(e) if is_not_found(&e) || is_conflict(&e) => {}
        Err(error) => warn!(container_id = %short(id), %error, "could not kill sandbox container"),
    }
}

/// The short (12-hex) form of a container id, for logs.
pub(crate) fn short(id: &str) -> &str {
    id.get(..12).unwrap_or(id)
}
