//! The history of one strategy on `main`: which commits changed `strategies/<name>/`, and what
//! each of them put there (merged version, rollback, ...).

use git2::{Commit, Oid, Repository};

use super::StrategyRepo;
use super::error::GitError;
use super::message::Trailers;
use super::names::check_strategy_name;
use super::repo::main_oid;
use super::tree::strategy_dir;

/// What a commit on `main` did to a strategy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CommitKind {
    /// A merge of a version commit from `strategy/<name>`.
    Merge,
    /// A rollback commit restoring earlier files.
    Rollback,
    /// A version commit that reached `main` directly (not produced by this module).
    Version,
    /// Anything else that touched the directory (a manual commit).
    Other,
}

/// One commit of a strategy's history on `main`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CommitInfo {
    /// Full hex id.
    pub commit: String,
    /// What the commit did.
    pub kind: CommitKind,
    /// The first line of the message.
    pub summary: String,
    /// The whole message.
    pub message: String,
    /// Commit time, seconds since the Unix epoch.
    pub time: i64,
    /// The version (database id) whose files this commit put on `main`: the merged version, or
    /// the version a rollback restored when that is known.
    pub version_id: Option<i64>,
    /// The version number within the strategy, for merges.
    pub version_no: Option<i32>,
    /// The run that produced the version, for merges.
    pub run_id: Option<String>,
    /// "generated" or "fixed", for merges.
    pub origin: Option<String>,
    /// The version commit on `strategy/<name>`, for merges.
    pub version_commit: Option<String>,
    /// The commit whose files a rollback restored.
    pub rolled_back_to: Option<String>,
}

impl StrategyRepo {
    /// The commits on `main`'s first-parent line that changed `strategies/<name>/`, newest
    /// first: merges of versions and rollbacks. Empty when the strategy was never merged.
    pub fn history(&self, name: &str) -> Result<Vec<CommitInfo>, GitError> {
        check_strategy_name(name)?;
        let session = self.session()?;
        let repo = &session.repo;
        touching_commits(repo, main_oid(&session)?, name, usize::MAX)?
            .iter()
            .map(|(oid, _)| describe(repo, &repo.find_commit(*oid)?))
            .collect()
    }
}

/// The commits on the first-parent line from `start` whose `strategies/<name>` differs from
/// their first parent's, newest first, with the directory's tree id after each (at most
/// `limit` of them).
pub(crate) fn touching_commits(
    repo: &Repository,
    start: Oid,
    name: &str,
    limit: usize,
) -> Result<Vec<(Oid, Option<Oid>)>, GitError> {
    let mut out = Vec::new();
    let mut current = repo.find_commit(start)?;
    let mut dir = strategy_dir(repo, &current.tree()?, name)?;
    while out.len() < limit {
        let parent = match current.parent_count() {
            0 => None,
            _ => Some(current.parent(0)?),
        };
        let parent_dir = match &parent {
            Some(p) => strategy_dir(repo, &p.tree()?, name)?,
            None => None,
        };
        if dir != parent_dir {
            out.push((current.id(), dir));
        }
        match parent {
            Some(p) => {
                current = p;
                dir = parent_dir;
            }
            None => break,
        }
    }
    Ok(out)
}

/// Describes a commit of `main` from its own trailers and, for a merge, its merged version's.
pub(crate) fn describe(repo: &Repository, commit: &Commit<'_>) -> Result<CommitInfo, GitError> {
    let message = String::from_utf8_lossy(commit.message_bytes()).into_owned();
    let own = Trailers::parse(&message);
    let mut info = CommitInfo {
        commit: commit.id().to_string(),
        kind: CommitKind::Other,
        summary: message.lines().next().unwrap_or_default().to_owned(),
        message: message.clone(),
        time: commit.time().seconds(),
        version_id: None,
        version_no: None,
        run_id: None,
        origin: None,
        version_commit: None,
        rolled_back_to: None,
    };
    if let Some(to) = own.rollback_to {
        info.kind = CommitKind::Rollback;
        info.rolled_back_to = Some(to);
        info.version_id = own.restored_version;
    } else if own.version_id.is_some() {
        info.kind = CommitKind::Version;
        fill_version(&mut info, own, commit.id());
    } else if commit.parent_count() >= 2 {
        let merged = repo.find_commit(commit.parent_id(1)?)?;
        let theirs = Trailers::parse(&String::from_utf8_lossy(merged.message_bytes()));
        if theirs.version_id.is_some() {
            info.kind = CommitKind::Merge;
            fill_version(&mut info, theirs, merged.id());
        }
    }
    Ok(info)
}

/// Copies the version trailers of `version_commit` into `info`.
fn fill_version(info: &mut CommitInfo, trailers: Trailers, version_commit: Oid) {
    info.version_id = trailers.version_id;
    info.version_no = trailers.version_no;
    info.run_id = trailers.run_id;
    info.origin = trailers.origin;
    info.version_commit = Some(version_commit.to_string());
}
