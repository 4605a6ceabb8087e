//! Committing a version to `strategy/<name>` and merging it into `main`, idempotently.
//!
//! One attempt: find the version commit by its trailers (or write it on the branch), then,
//! unless `main` already contains it, three-way merge it into `main` with a two-parent merge
//! commit. The branch and `main` are then moved by compare-and-swap; a lost race restarts the
//! attempt, which finds the version commit the earlier attempt (or a rival) already wrote.

use std::path::Path;

use git2::{Commit, Oid, Repository};

use super::StrategyRepo;
use super::error::GitError;
use super::message::{self, Trailers};
use super::names::{check_origin, check_run_id, check_strategy_name};
use super::refs::{Applied, RefUpdate};
use super::repo::{MAIN_REF, main_oid};
use super::tree::{STRATEGIES_DIR, strategy_dir, with_strategy_dir, write_version_dir};

/// The three files of one strategy version, as stored under `strategies/<name>/`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct VersionFiles {
    /// `strategy.py`: the generated code.
    pub strategy_py: String,
    /// `spec.json`: the strategy specification.
    pub spec_json: String,
    /// `results.json`: the backtest results.
    pub results_json: String,
}

/// The result of [`StrategyRepo::merge_version`].
#[derive(Debug, Clone, serde::Serialize)]
pub struct MergeOutcome {
    /// The branch the version commit is on (`strategy/<name>`).
    pub branch: String,
    /// The version commit (full hex id).
    pub version_commit: String,
    /// The merge commit on `main` that brought the version in (full hex id).
    pub merge_commit: String,
    /// Whether `main` already contained the version before this call.
    pub already_merged: bool,
}

/// Arguments of one merge, checked once.
struct Request<'a> {
    name: &'a str,
    run_id: &'a str,
    version_id: i64,
    version_no: i32,
    origin: &'a str,
    reason: &'a str,
    files: &'a VersionFiles,
}

impl StrategyRepo {
    /// Commits the version on `strategy/<name>` (unless a commit with its `AlgoAgent-Version`
    /// trailer exists already) and merges it into `main` (unless `main` contains it already).
    /// Idempotent: calling it again for the same version makes no new commit and returns
    /// `already_merged = true`. With a remote, both refs are updated on the remote.
    #[allow(clippy::too_many_arguments)] // The lead's agreed signature.
    pub fn merge_version(
        &self,
        name: &str,
        run_id: &str,
        version_id: i64,
        version_no: i32,
        origin: &str,
        reason: &str,
        files: &VersionFiles,
    ) -> Result<MergeOutcome, GitError> {
        check_strategy_name(name)?;
        check_run_id(run_id)?;
        check_origin(origin)?;
        let request = Request { name, run_id, version_id, version_no, origin, reason, files };
        let outcome = self.with_retries("merge_version", || self.try_merge(&request))?;
        tracing::info!(
            strategy = name,
            run_id,
            version_id,
            version_commit = %outcome.version_commit,
            merge_commit = %outcome.merge_commit,
            already_merged = outcome.already_merged,
            "strategy version merged into main"
        );
        Ok(outcome)
    }

    /// One attempt of [`Self::merge_version`]; `None` when a ref moved under it.
    fn try_merge(&self, req: &Request<'_>) -> Result<Option<MergeOutcome>, GitError> {
        let session = self.session()?;
        let repo = &session.repo;
        let branch = format!("strategy/{}", req.name);
        let branch_ref = format!("refs/heads/{branch}");
        let main = main_oid(&session)?;
        let branch_tip = session.ref_oid(&branch_ref)?;
        let dir = write_version_dir(repo, req.files)?;

        let mut updates = Vec::new();
        let version = match find_version_commit(repo, &[branch_tip, Some(main)], req)? {
            Some(found) => {
                warn_if_content_differs(repo, found, req, dir)?;
                found
            }
            None => {
                let created = self.write_version_commit(repo, req, branch_tip.unwrap_or(main), dir)?;
                updates.push(RefUpdate { name: branch_ref.clone(), old: branch_tip, new: created });
                created
            }
        };

        let contained = main == version || repo.graph_descendant_of(main, version)?;
        let (merge, already_merged) = if contained {
            (find_merge_commit(repo, main, version)?, true)
        } else {
            let merge = self.write_merge_commit(repo, req, main, version)?;
            updates.push(RefUpdate { name: MAIN_REF.to_owned(), old: Some(main), new: merge });
            (merge, false)
        };

        if !updates.is_empty() && self.apply(repo, &updates, "merge_version")? == Applied::Lost {
            return Ok(None);
        }
        Ok(Some(MergeOutcome {
            branch,
            version_commit: version.to_string(),
            merge_commit: merge.to_string(),
            already_merged,
        }))
    }

    /// Writes the version commit (not yet on any ref) on top of `parent`.
    fn write_version_commit(
        &self,
        repo: &Repository,
        req: &Request<'_>,
        parent: Oid,
        dir: Oid,
    ) -> Result<Oid, GitError> {
        let parent = repo.find_commit(parent)?;
        let tree = with_strategy_dir(repo, Some(&parent.tree()?), req.name, Some(dir))?;
        let tree = repo.find_tree(tree)?;
        let signature = self.signature()?;
        let text = message::version_commit(
            req.name,
            req.run_id,
            req.version_id,
            req.version_no,
            req.origin,
            req.reason,
        );
        Ok(repo.commit(None, &signature, &signature, &text, &tree, &[&parent])?)
    }

    /// Three-way merges `version` into `main` and writes the two-parent merge commit.
    ///
    /// The version's directory always wins: `strategies/<name>/` in the result is exactly the
    /// version's, even when `main` changed it meanwhile (a rollback), where a plain merge would
    /// conflict or mix the two. A conflict anywhere else is refused.
    fn write_merge_commit(
        &self,
        repo: &Repository,
        req: &Request<'_>,
        main: Oid,
        version: Oid,
    ) -> Result<Oid, GitError> {
        let ours = repo.find_commit(main)?;
        let theirs = repo.find_commit(version)?;
        let mut index = repo.merge_commits(&ours, &theirs, None)?;
        if index.has_conflicts() {
            super::refs::count_conflict("content");
            resolve_own_dir_conflicts(&mut index, req.name)?;
        }
        let merged = index.write_tree_to(repo)?;
        let merged = repo.find_tree(merged)?;
        let version_dir = strategy_dir(repo, &theirs.tree()?, req.name)?;
        let tree = with_strategy_dir(repo, Some(&merged), req.name, version_dir)?;
        let tree = repo.find_tree(tree)?;
        let signature = self.signature()?;
        let text = message::merge_commit(req.name, req.version_no, req.run_id);
        Ok(repo.commit(None, &signature, &signature, &text, &tree, &[&ours, &theirs])?)
    }
}

/// Drops the conflict entries under `strategies/<name>/` (the caller then puts the version's
/// directory there); refuses conflicts anywhere else.
fn resolve_own_dir_conflicts(index: &mut git2::Index, name: &str) -> Result<(), GitError> {
    let own = Path::new(STRATEGIES_DIR).join(name);
    let mut paths = Vec::new();
    for conflict in index.conflicts()? {
        let conflict = conflict?;
        for entry in [conflict.ancestor, conflict.our, conflict.their].into_iter().flatten() {
            let path = String::from_utf8_lossy(&entry.path).into_owned();
            if !paths.contains(&path) {
                paths.push(path);
            }
        }
    }
    let foreign: Vec<&String> = paths.iter().filter(|p| !Path::new(p).starts_with(&own)).collect();
    if !foreign.is_empty() {
        return Err(GitError::Conflict(format!(
            "merging strategy/{name} conflicts outside its directory: {foreign:?}"
        )));
    }
    for path in &paths {
        index.conflict_remove(Path::new(path))?;
    }
    Ok(())
}

/// The version commit of `req.version_id` reachable from any of `tips`, if one exists.
fn find_version_commit(
    repo: &Repository,
    tips: &[Option<Oid>],
    req: &Request<'_>,
) -> Result<Option<Oid>, GitError> {
    let mut walk = repo.revwalk()?;
    for tip in tips.iter().flatten() {
        walk.push(*tip)?;
    }
    for oid in walk {
        let oid = oid?;
        let commit = repo.find_commit(oid)?;
        if is_version_commit(&commit, req.name, req.version_id) {
            return Ok(Some(oid));
        }
    }
    Ok(None)
}

/// Whether `commit` carries the trailers of `version_id` of `name`.
fn is_version_commit(commit: &Commit<'_>, name: &str, version_id: i64) -> bool {
    commit.parent_count() == 1
        && Trailers::parse(&String::from_utf8_lossy(commit.message_bytes())).is_version(name, version_id)
}

/// Logs when an existing version commit holds other files than the ones passed in: version
/// ids are immutable, so this points at a bug upstream (the commit is still reused).
fn warn_if_content_differs(
    repo: &Repository,
    version: Oid,
    req: &Request<'_>,
    dir: Oid,
) -> Result<(), GitError> {
    let stored = strategy_dir(repo, &repo.find_commit(version)?.tree()?, req.name)?;
    if stored != Some(dir) {
        tracing::warn!(
            strategy = req.name,
            version_id = req.version_id,
            version_commit = %version,
            "version already committed with different files; keeping the existing commit"
        );
    }
    Ok(())
}

/// The commit on `main`'s first-parent line that brought `version` in: the merge whose second
/// parent it is, or else the oldest first-parent commit that contains it.
fn find_merge_commit(repo: &Repository, main: Oid, version: Oid) -> Result<Oid, GitError> {
    // Cheap pass first: no ancestry queries, just parent ids.
    let mut current = repo.find_commit(main)?;
    loop {
        if current.parent_ids().skip(1).any(|p| p == version) {
            return Ok(current.id());
        }
        if current.parent_count() == 0 {
            break;
        }
        current = current.parent(0)?;
    }
    let mut current = repo.find_commit(main)?;
    let mut oldest_containing = main;
    loop {
        if current.id() != version && !repo.graph_descendant_of(current.id(), version)? {
            return Ok(oldest_containing);
        }
        oldest_containing = current.id();
        if current.parent_count() == 0 {
            return Ok(oldest_containing);
        }
        current = current.parent(0)?;
    }
}
