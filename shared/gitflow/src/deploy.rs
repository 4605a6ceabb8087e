//! Deploy (a deploy commit on `main`, tagged when asked) and rollback (a new commit on `main`
//! restoring the strategy's directory as of an earlier commit).
//!
//! Neither rewrites history, and both are safe to retry: deploying the same tag to the same
//! commit again is a no-op, and rolling back to files `main` already has makes no empty commit.

use git2::Oid;

use super::StrategyRepo;
use super::error::GitError;
use super::history::{describe, touching_commits};
use super::message::{self, Trailers};
use super::names::{check_strategy_name, check_tag_name};
use super::refs::{Applied, RefUpdate};
use super::repo::{MAIN_REF, find_commit_hex, main_oid};
use super::tree::{strategy_dir, with_strategy_dir};

/// What [`StrategyRepo::deploy`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deployment {
    /// The deploy commit on `main`, whose message is the caller's (the tag points at it).
    pub commit: String,
    /// The last commit that changed `strategies/<name>/`: the files that are deployed.
    pub deployed: String,
}

impl StrategyRepo {
    /// Deploys the strategy's files as they are on `main`: a deploy commit on `main` with
    /// `message` (the tree unchanged, like `git commit --allow-empty`; trailers name the
    /// strategy, the last commit that changed `strategies/<name>/` and the tag) and, with a
    /// `tag`, an annotated tag on that deploy commit. Tags are global to the repository, so
    /// callers should namespace them (`<name>/v1.0.0`). Safe to retry: an existing tag on a
    /// deploy of the same files is that deploy, one deploying other files is a
    /// [`GitError::Conflict`]; an untagged deploy whose commit is still `main`'s head with the
    /// same message is not made twice.
    pub fn deploy(&self, name: &str, tag: Option<&str>, message: &str) -> Result<Deployment, GitError> {
        check_strategy_name(name)?;
        if let Some(tag) = tag {
            check_tag_name(tag)?;
        }
        let tag_ref = tag.map(|t| format!("refs/tags/{t}"));
        let deployment = self.with_retries("deploy", || {
            let session = self.session()?;
            let repo = &session.repo;
            let main = main_oid(&session)?;
            let target = match touching_commits(repo, main, name, 1)?.first() {
                Some((oid, Some(_))) => *oid,
                _ => return Err(GitError::NotFound(format!("strategy {name} on main"))),
            };
            let done = |commit: Oid| Deployment { commit: commit.to_string(), deployed: target.to_string() };
            if let Some(tag_ref) = &tag_ref
                && let Some(existing) = session.ref_oid(tag_ref)?
            {
                let pointed = repo.find_object(existing, None)?.peel_to_commit()?;
                let deployed = Trailers::parse(&String::from_utf8_lossy(pointed.message_bytes())).deployed;
                // A tag made before deploy commits existed points at the deployed commit itself.
                let same = pointed.id() == target || deployed.as_deref() == Some(target.to_string().as_str());
                return if same {
                    Ok(Some(done(pointed.id())))
                } else {
                    Err(GitError::Conflict(format!(
                        "tag {} already exists and deploys {}, not {target}",
                        tag.unwrap_or_default(),
                        deployed.unwrap_or_else(|| pointed.id().to_string())
                    )))
                };
            }
            let text = message::deploy_commit(name, message, &target.to_string(), tag);
            let head = repo.find_commit(main)?;
            if tag.is_none() && head.message_bytes() == text.as_bytes() {
                return Ok(Some(done(main)));
            }
            let signature = self.signature()?;
            let commit = repo.commit(None, &signature, &signature, &text, &head.tree()?, &[&head])?;
            // `main` first: a lost race on the tag then leaves a harmless extra deploy commit
            // on `main`, never a tag on a commit that is not on `main`.
            let mut updates = vec![RefUpdate { name: MAIN_REF.to_owned(), old: Some(main), new: commit }];
            if let (Some(tag), Some(tag_ref)) = (tag, &tag_ref) {
                let object = repo.find_object(commit, None)?;
                let tag_object = repo.tag_annotation_create(
                    tag,
                    &object,
                    &signature,
                    &message::deploy_tag(name, message),
                )?;
                updates.push(RefUpdate { name: tag_ref.clone(), old: None, new: tag_object });
            }
            Ok(match self.apply(repo, &updates, "deploy")? {
                Applied::Done => Some(done(commit)),
                Applied::Lost => None,
            })
        })?;
        tracing::info!(strategy = name, ?tag, commit = %deployment.commit, deployed = %deployment.deployed, "strategy deployed");
        Ok(deployment)
    }

    /// Makes a new commit on `main` whose `strategies/<name>/` is exactly as it was in
    /// `to_commit` (4 to 40 hex digits; `main` or one of its ancestors, containing that
    /// directory) and returns it. Other strategies are untouched. When `main` already has
    /// those files, no empty commit is made and the last commit that changed them is returned.
    pub fn rollback(&self, name: &str, to_commit: &str, reason: &str) -> Result<String, GitError> {
        check_strategy_name(name)?;
        let commit = self.with_retries("rollback", || {
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
