//! Git patch flow on the strategies repository (git2, bare repository, no working tree).
//!
//! Layout of `main`: `strategies/<name>/{strategy.py,spec.json,results.json}`. Every version
//! of a run is one commit on `strategy/<name>` whose message says "generated" or "fixed" and
//! why, with trailers `AlgoAgent-Strategy`, `AlgoAgent-Run`, `AlgoAgent-Version` (database id),
//! `AlgoAgent-Version-No` and `AlgoAgent-Origin`; it is merged into `main` by a real
//! two-parent merge commit (`Merge strategy/<name> version <n> (run <uuid>)`). In that merge
//! the version's directory always wins, so a version merged after a rollback lands exactly.
//! Deploy is a deploy commit on `main` carrying the caller's message (the tree unchanged;
//! trailers `AlgoAgent-Strategy`, `AlgoAgent-Deployed` naming the last commit that changed
//! the strategy's files, and `AlgoAgent-Tag`), plus, when asked, an annotated tag on it (tags
//! are global: name them `<name>/<version>`); rollback is a new commit on `main` restoring
//! the directory as of an earlier commit (trailers `AlgoAgent-Rollback-To`,
//! `AlgoAgent-Restored-Version`).
//! History is never rewritten; the only ref ever deleted is the branch of a strategy nothing
//! of which reached `main` (`cleanup`, on an operator's request).
//!
//! Concurrency: every ref move is a compare-and-swap, and an operation that loses a race is
//! redone from fresh refs (see `refs`), so concurrent workers never lose or duplicate an
//! update; merge, deploy and rollback are idempotent. Every method blocks on disk (and on the
//! remote): call them from `tokio::task::spawn_blocking`.
//!
//! `STRATEGY_REPO` is a path (created as a bare repository if missing) or a `file://` URL of an
//! existing bare repository, mirrored under the cache directory. git2 is built without its
//! network transports (`default-features = false`), so `https://`, `ssh://` and `host:path`
//! locations are refused with [`GitError::UnsupportedRemote`]; see `location`.

mod cleanup;
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

pub use cleanup::BranchCleanup;
pub use deploy::Deployment;
pub use error::GitError;
pub use history::{CommitInfo, CommitKind};
pub use merge::{MergeOutcome, VersionFiles};
pub use repo::{Identity, StrategyRepo};
