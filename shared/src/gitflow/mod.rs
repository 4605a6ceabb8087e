//! Git patch flow on the strategies repository (git2, bare repository, no working tree).
//!
//! Every version of a run is one commit on `strategy/<name>`, merged into `main` with a real
//! two-parent merge; deploy is an annotated tag; rollback is a new commit on `main` restoring
//! an earlier version's files. History is never rewritten. All ref moves are
//! compare-and-swap with whole-operation retries, so concurrent workers never lose an update
//! (see `refs`). Every method blocks on disk (and, with a remote, on the remote): call them
//! from `tokio::task::spawn_blocking`.
//!
//! Only local paths and `file://` remotes are supported in this build (git2 is built without
//! its network transports); see `location`.

mod deploy;
mod error;
mod history;
mod location;
mod merge;
mod message;
mod names;
mod refs;
mod repo;
mod tree;

pub use error::GitError;
pub use history::{CommitInfo, CommitKind};
pub use merge::{MergeOutcome, VersionFiles};
pub use repo::{Identity, StrategyRepo};
