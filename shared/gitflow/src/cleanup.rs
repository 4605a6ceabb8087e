//! Deleting the branch of a strategy that never reached `main` (`algoagent git cleanup`).
//!
//! A branch is deleted only when its tip is not on `main` (nothing of it was merged), and only
//! if it still has the tip that was checked: libgit2 deletes a reference only when it has not
//! changed since it was read, so a version committed meanwhile keeps the branch. With a
//! `file://` remote the remote's branch is deleted (the source of truth), then the mirror's;
//! with an `https://` remote, by a push that deletes it only if it still has the checked tip.
//! A writer fetching at the very moment a branch disappears can fail that one fetch; its job
//! is retried like any other git failure.

use git2::{ErrorCode, Repository};

use super::StrategyRepo;
use super::error::{GitError, is_race};
use super::location::Location;
use super::names::check_strategy_name;
use super::refs::Applied;
use super::repo::main_oid;
use super::transport;

/// What happened (or, in a dry run, would happen) to one strategy's branch.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case", tag = "outcome")]
pub enum BranchCleanup {
    /// There is no `strategy/<name>` branch.
    Absent,
    /// The branch's tip is on `main`: kept.
    Merged {
        /// The branch's tip.
        tip: String,
    },
    /// The branch was deleted, or would be in a dry run.
    Deleted {
        /// The tip it had.
        tip: String,
    },
    /// The branch changed while it was being deleted: kept.
    Moved,
}

impl StrategyRepo {
    /// Deletes `strategy/<name>` when nothing of it is on `main` (its tip is neither `main` nor
    /// an ancestor of it); with `dry_run`, only says whether it would.
    pub fn delete_unmerged_branch(&self, name: &str, dry_run: bool) -> Result<BranchCleanup, GitError> {
        check_strategy_name(name)?;
        let branch = format!("refs/heads/strategy/{name}");
        let session = self.session()?;
        let repo = &session.repo;
        let Some(tip) = session.ref_oid(&branch)? else {
            return Ok(BranchCleanup::Absent);
        };
        let main = main_oid(&session)?;
        if tip == main || repo.graph_descendant_of(main, tip)? {
            return Ok(BranchCleanup::Merged { tip: tip.to_string() });
        }
        if dry_run {
            return Ok(BranchCleanup::Deleted { tip: tip.to_string() });
        }
        if let Some(remote) = self.network() {
            // The push deletes the branch only if it still has the tip checked above.
            return Ok(match transport::delete(&remote, &branch, tip)? {
                Applied::Done => {
                    tracing::info!(strategy = name, %tip, "unmerged strategy branch deleted");
                    BranchCleanup::Deleted { tip: tip.to_string() }
                }
                Applied::Lost => BranchCleanup::Moved,
            });
        }
        let remote = match &self.location {
            Location::FileRemote { remote_path, .. } => Some(Repository::open_bare(remote_path)?),
            Location::Local(_) | Location::Network { .. } => None,
        };
        let truth = remote.as_ref().unwrap_or(repo);
        let mut reference = match truth.find_reference(&branch) {
            Ok(reference) => reference,
            Err(e) if e.code() == ErrorCode::NotFound => return Ok(BranchCleanup::Moved),
            Err(e) => return Err(e.into()),
        };
        if reference.target() != Some(tip) {
            return Ok(BranchCleanup::Moved);
        }
        match reference.delete() {
            Ok(()) => {}
            Err(e) if is_race(&e) || e.code() == ErrorCode::NotFound => return Ok(BranchCleanup::Moved),
            Err(e) => return Err(e.into()),
        }
        if remote.is_some()
            && let Ok(mut mirrored) = repo.find_reference(&branch)
            && let Err(e) = mirrored.delete()
        {
            // The mirror is a cache: its next fetch no longer lists the branch.
            tracing::debug!(refname = %branch, error = %e, "mirror branch not deleted (cache only)");
        }
        tracing::info!(strategy = name, %tip, "unmerged strategy branch deleted");
        Ok(BranchCleanup::Deleted { tip: tip.to_string() })
    }
}
