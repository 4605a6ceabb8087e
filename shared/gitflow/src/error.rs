//! The error type of the git patch flow, and which of its failures are worth retrying.
//!
//! Callers (the merge / deploy / rollback job handlers) map [`GitError::is_transient`] to
//! "retry with backoff" and everything else to a permanent failure of the job.

use std::path::PathBuf;

use git2::{ErrorClass, ErrorCode};

/// Everything that can go wrong while reading or updating the strategies repository.
#[derive(Debug, thiserror::Error)]
pub enum GitError {
    /// libgit2 reported an error (I/O, corrupt object, lock contention, transport...).
    #[error("git error: {0}")]
    Git(#[from] git2::Error),

    /// A strategy name or tag name that is not acceptable as (part of) a ref or path.
    #[error("invalid {what} {value:?}: {reason}")]
    InvalidName {
        /// What was being named: "strategy name" or "tag name".
        what: &'static str,
        /// The refused value.
        value: String,
        /// Why it was refused.
        reason: &'static str,
    },

    /// Some other argument was refused (run id, origin, commit id, file name, location).
    #[error("invalid {field}: {reason}")]
    InvalidInput {
        /// The argument that was refused.
        field: &'static str,
        /// Why it was refused.
        reason: String,
    },

    /// The thing asked for does not exist (commit, strategy directory on main, remote repository).
    #[error("not found: {0}")]
    NotFound(String),

    /// The request contradicts the repository's state (tag already points elsewhere, a merge
    /// conflict outside the strategy's own directory).
    #[error("conflict: {0}")]
    Conflict(String),

    /// `STRATEGY_REPO` points at an existing path that is not a git repository.
    #[error(
        "{path} exists but is not a git repository (STRATEGY_REPO must be a bare repository or a missing/empty directory)"
    )]
    NotARepository {
        /// The offending path.
        path: PathBuf,
        /// Why libgit2 could not open it, when it tried.
        #[source]
        source: Option<git2::Error>,
    },

    /// `STRATEGY_REPO` (or a `file://` remote) is a repository with a working tree.
    #[error("{path} is a repository with a working tree; the strategies repository must be bare")]
    NotBare {
        /// The offending path.
        path: PathBuf,
    },

    /// The remote URL uses a transport this build cannot speak.
    #[error("unsupported strategies repository URL {url:?}: {reason}")]
    UnsupportedRemote {
        /// The URL as configured.
        url: String,
        /// Why it is not supported.
        reason: &'static str,
    },

    /// The remote refused a reference update during a push.
    #[error("push of {refname} rejected by the remote: {message}")]
    PushRejected {
        /// The reference the remote refused.
        refname: String,
        /// The remote's reason.
        message: String,
    },

    /// The `git` program (which speaks to `https://` remotes) could not be started.
    #[error("cannot run `git` (needed for an https strategies repository; install git in the image)")]
    GitProgram {
        /// Why it could not be started (usually: not installed).
        #[source]
        source: std::io::Error,
    },

    /// The remote refused our credentials (or asked for some and none were configured).
    #[error(
        "the strategies repository {url} refused the credentials (check STRATEGY_REPO_TOKEN_FILE): {detail}"
    )]
    RemoteAuth {
        /// The URL, without any password.
        url: String,
        /// What git said, with every secret replaced by `***`.
        detail: String,
    },

    /// The remote refused a reference update for a reason retrying will not fix (a protected
    /// branch, a hook, a full disk).
    #[error("the strategies repository {url} refused to update {refname}: {reason}")]
    RemoteRefused {
        /// The URL, without any password.
        url: String,
        /// The reference it refused.
        refname: String,
        /// The remote's reason.
        reason: String,
    },

    /// A `git fetch` or `git push` to a network remote failed (unreachable host, timeout,
    /// server error): worth retrying.
    #[error("git {op} with the strategies repository {url} failed: {detail}")]
    Remote {
        /// `fetch` or `push`.
        op: &'static str,
        /// The URL, without any password.
        url: String,
        /// What git said, with every secret replaced by `***`.
        detail: String,
    },

    /// Other writers kept winning the race for the same references.
    #[error("{op} lost the race for the repository's references {attempts} times; giving up")]
    Contended {
        /// The operation that gave up.
        op: &'static str,
        /// How many attempts were made.
        attempts: u32,
    },

    /// A file stored in the repository is not UTF-8 text.
    #[error("{path} in the strategies repository is not UTF-8 text")]
    NotUtf8 {
        /// The path of the file inside the repository.
        path: String,
    },

    /// A filesystem operation outside libgit2 failed (creating directories).
    #[error("I/O error on {path}")]
    Io {
        /// The path involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
}

impl GitError {
    /// Whether retrying the same call later may succeed: lock contention, a lost race on a
    /// reference, a rejected push or a network failure. Everything else is permanent.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Git(e) => is_transient_git(e),
            Self::Contended { .. } | Self::PushRejected { .. } | Self::Remote { .. } => true,
            _ => false,
        }
    }

    /// Shorthand for [`GitError::InvalidInput`].
    pub(crate) fn input(field: &'static str, reason: impl Into<String>) -> Self {
        Self::InvalidInput { field, reason: reason.into() }
    }
}

/// Whether a libgit2 error is contention or a network failure rather than a real problem.
pub(crate) fn is_transient_git(e: &git2::Error) -> bool {
    is_race(e)
        || matches!(e.code(), ErrorCode::Timeout)
        || matches!(e.class(), ErrorClass::Net | ErrorClass::Http | ErrorClass::Ssh | ErrorClass::Ssl)
}

/// Whether a libgit2 error means another writer got to a reference (or its lock) first.
pub(crate) fn is_race(e: &git2::Error) -> bool {
    matches!(e.code(), ErrorCode::Locked | ErrorCode::Modified | ErrorCode::Exists)
}
