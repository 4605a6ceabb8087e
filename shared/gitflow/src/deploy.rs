//! Deploy (an annotated tag on the strategy's latest commit on `main`) and rollback (a new
//! commit on `main` restoring the strategy's directory as of an earlier commit).
//!
//! Neither rewrites history, and both are safe to retry: deploying the same tag to the same
//! commit again is a no-op, and rolling back to files `main` already has makes no empty commit.

use super::StrategyRepo;
use super::error::GitError;
use super::history::{describe, touching_commits};
use super::message;
use super::names::{check_strategy_name, check_tag_name};
use super::refs::{Applied, RefUpdate, with_retries};
use super::repo::{MAIN_REF, find_commit_hex, main_oid};
use super::tree::{strategy_dir, with_strategy_dir};

impl StrategyRepo {
    /// Creates the annotated tag `tag` on the last commit of `main` that changed
    /// `strategies/<name>/` and returns that commit. Tags are global to the repository, so
    /// callers should namespace them (`<name>/v1.0.0`). An existing tag on the same commit is
    /// accepted (idempotent); one pointing elsewhere is a [`GitError::Conflict`].
    pub fn deploy(&self, name: &str, tag: &str, message: &str) -> Result<String, GitError> {
        check_strategy_name(name)?;
        check_tag_name(tag)?;
        let tag_ref = format!("refs/tags/{tag}");
        let commit = with_retries("deploy", || {
            let session = self.session()?;
            let repo = &session.repo;
            let main = main_oid(&session)?;
            let target = match touching_commits(repo, main, name, 1)?.first() {
                Some((oid, Some(_))) => *oid,
                _ => return Err(GitError::NotFound(format!("strategy {name} on main"))),
            };
            if let Some(existing) = session.ref_oid(&tag_ref)? {
                let pointed = repo.find_object(existing, None)?.peel_to_commit()?.id();
                return if pointed == target {
                    Ok(Some(target))
                } else {
                    Err(GitError::Conflict(format!(
                        "tag {tag} already exists and points at {pointed}, not at {target}"
                    )))
                };
            }
            let object = repo.find_object(target, None)?;
            let text = message::deploy_tag(name, message);
            let tag_object = repo.tag_annotation_create(tag, &object, &self.signature()?, &text)?;
            let update = RefUpdate { name: tag_ref.clone(), old: None, new: tag_object };
            Ok(match self.apply(repo, &[update], "deploy")? {
                Applied::Done => Some(target),
                Applied::Lost => None,
            })
        })?;
        tracing::info!(strategy = name, tag, %commit, "strategy deployed");
        Ok(commit.to_string())
    }

    /// Makes a new commit on `main` whose `strategies/<name>/` is exactly as it was in
    /// `to_commit` (4 to 40 hex digits; `main` or one of its ancestors, containing that
    /// directory) and returns it. Other strategies are untouched. When `main` already has
    /// those files, no empty commit is made and the last commit that changed them is returned.
    pub fn rollback(&self, name: &str, to_commit: &str, reason: &str) -> Result<String, GitError> {
        check_strategy_name(name)?;
        let commit = with_retries("rollback", || {
            let session = self.session()?;
            let repo = &session.repo;
            let main = main_oid(&session)?;
            let target = find_commit_hex(repo, to_commit)?;
            if target.id() != main && !repo.graph_descendant_of(main, target.id())? {
                return Err(GitError::input(
                    "commit",
                    format!("{} is not on main (not an ancestor of it)", target.id()),
                ));
            }
            let Some(dir) = strategy_dir(repo, &target.tree()?, name)? else {
                return Err(GitError::NotFound(format!("strategies/{name} in commit {}", target.id())));
            };
            let head = repo.find_commit(main)?;
            let head_tree = head.tree()?;
            if strategy_dir(repo, &head_tree, name)? == Some(dir) {
                let last = touching_commits(repo, main, name, 1)?;
                return Ok(Some(last.first().map_or(main, |(oid, _)| *oid)));
            }
            let restored_version = match touching_commits(repo, target.id(), name, 1)?.first() {
                Some((oid, _)) => describe(repo, &repo.find_commit(*oid)?)?.version_id,
                None => None,
            };
            let tree = with_strategy_dir(repo, Some(&head_tree), name, Some(dir))?;
            let tree = repo.find_tree(tree)?;
            let signature = self.signature()?;
            let text = message::rollback_commit(name, &target.id().to_string(), reason, restored_version);
            let commit = repo.commit(None, &signature, &signature, &text, &tree, &[&head])?;
            let update = RefUpdate { name: MAIN_REF.to_owned(), old: Some(main), new: commit };
            Ok(match self.apply(repo, &[update], "rollback")? {
                Applied::Done => Some(commit),
                Applied::Lost => None,
            })
        })?;
        tracing::info!(strategy = name, to_commit, %commit, "strategy rolled back");
        Ok(commit.to_string())
    }
}
