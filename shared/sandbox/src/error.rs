//! The sandbox module's one error type, and which of its errors are worth a retry.

/// Why a sandbox operation could not produce a [`super::SandboxRun`].
///
/// A run that happened but failed (the code raised, timed out, ran out of memory...) is not
/// an error: it is a `SandboxRun` whose `failure_reason()` says what went wrong.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    /// The settings cannot work (empty image, relative datasets path...).
    #[error("invalid sandbox settings: {reason}")]
    InvalidSettings {
        /// What is wrong, naming the setting.
        reason: String,
    },
    /// The Docker engine could not be reached or its API version not negotiated.
    #[error("cannot reach the Docker engine")]
    Connect(#[source] bollard::errors::Error),
    /// A Docker API call failed.
    #[error("Docker {operation} failed")]
    Docker {
        /// Which call ("create container", "attach", ...).
        operation: &'static str,
        /// The engine's or the transport's error.
        #[source]
        source: bollard::errors::Error,
    },
    /// The sandbox image is not on the engine; nothing can run until it is built.
    #[error(
        "sandbox image {image} is not present on the Docker engine (build it with deploy/sandbox/build-image.sh)"
    )]
    ImageMissing {
        /// The image reference from the settings.
        image: String,
    },
    /// The request could not be serialised (never expected: the types are plain data).
    #[error("cannot encode the harness request")]
    Encode(#[source] serde_json::Error),
    /// The caller's cancellation token fired; the container was killed and removed.
    #[error("the sandbox run was cancelled")]
    Cancelled,
}

impl SandboxError {
    /// True when trying again later may succeed: the engine was unreachable, answered 5xx,
    /// timed out or dropped the connection, or the run was cancelled by a shutdown (the job
    /// goes back to the queue). A missing image, bad settings or a request the engine
    /// refuses (4xx) will fail the same way every time.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Connect(_) | Self::Cancelled => true,
            Self::Docker { source, .. } => is_transient_docker(source),
            Self::InvalidSettings { .. } | Self::ImageMissing { .. } | Self::Encode(_) => false,
        }
    }

    /// The `exit_reason` label of a run that ended in this error, for
    /// `algoagent_sandbox_runs_total`: `cancelled`, `image_missing` or `engine_error`.
    pub fn exit_reason(&self) -> &'static str {
        match self {
            Self::Cancelled => "cancelled",
            Self::ImageMissing { .. } => "image_missing",
            Self::InvalidSettings { .. } | Self::Connect(_) | Self::Docker { .. } | Self::Encode(_) => {
                "engine_error"
            }
        }
    }
}

fn is_transient_docker(error: &bollard::errors::Error) -> bool {
    use bollard::errors::Error as E;
    match error {
        E::DockerResponseServerError { status_code, .. } => {
            *status_code >= 500 || *status_code == 408 || *status_code == 429
        }
        E::JsonDataError { .. }
        | E::JsonSerdeError { .. }
        | E::APIVersionParseError {}
        | E::URLEncodedError { .. }
        | E::URLParseError { .. }
        | E::InvalidURIError { .. }
        | E::InvalidURIPartsError { .. }
        | E::UnsupportedURISchemeError { .. }
        | E::StrParseError { .. }
        | E::StrFmtError { .. } => false,
        // I/O, hyper, request timeouts, stream errors, socket not found: the engine blinked.
        _ => true,
    }
}

/// True for the engine's "not found" answer (HTTP 404).
pub(crate) fn is_not_found(error: &bollard::errors::Error) -> bool {
    matches!(error, bollard::errors::Error::DockerResponseServerError { status_code: 404, .. })
}

/// True for the engine's "conflict" answer (HTTP 409), e.g. killing a stopped container.
pub(crate) fn is_conflict(error: &bollard::errors::Error) -> bool {
    matches!(error, bollard::errors::Error::DockerResponseServerError { status_code: 409, .. })
}
