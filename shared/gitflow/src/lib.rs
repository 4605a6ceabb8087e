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
//! `STRATEGY_REPO` is one of:
//! - a path (created as a bare repository if missing): one host, or a volume every writer
//!   mounts (compose). Ref updates are compare-and-swaps on the ref files themselves;
//! - a `file://` URL of an existing bare repository, mirrored under the cache directory; the
//!   refs are compare-and-swapped in the remote repository by path (see `refs`);
//! - an `https://` (or `http://`) URL: replicas that share no disk (Kubernetes pods). Each
//!   process keeps a bare mirror under its cache directory; every attempt fetches the remote's
//!   branches and tags into it (its snapshot), writes the new commits there with libgit2, and
//!   pushes them with `git push --atomic --force-with-lease=<ref>:<value read>` for every ref
//!   it moves. A rival's push in between makes ours fail without changing anything (the lease
//!   is checked by the client against the advertisement and again by the server's
//!   `receive-pack` inside its ref transaction), and the attempt is redone from a fresh fetch,
//!   so the version commit already on the remote is found by its trailers and never doubled.
//!   Fetch and push run the `git` program (see `transport` for why not libgit2's transports,
//!   which this workspace builds without: `default-features = false`). The token comes from
//!   `STRATEGY_REPO_TOKEN_FILE` ([`RemoteCredentials`]) and never appears in a command line,
//!   a log or an error.
//!
//! SSH locations (`ssh://`, `user@host:path`) are refused with [`GitError::UnsupportedRemote`].
//!
//! No lock is held across an operation: correctness rests on the compare-and-swap alone, which
//! is itself the fence (a writer that stalled past any lock's expiry still cannot overwrite a
//! newer `main`, because its lease names the value it read). The merge job handler may also
//! take a Redis lock around a merge to avoid retry storms; see the worker.

mod cleanup;
mod credentials;
mod deploy;
mod error;
mod history;
mod location;
mod merge;
mod message;
mod names;
mod refs;
mod repo;
mod transport;
mod tree;

pub use cleanup::BranchCleanup;
pub use credentials::RemoteCredentials;
pub use deploy::Deployment;
pub use error::GitError;
pub use history::{CommitInfo, CommitKind};
pub use merge::{MergeOutcome, VersionFiles};
pub use repo::{Identity, StrategyRepo};
