//! History, deploy (commit and tag), rollback, branch cleanup, and a `file://` remote mirrored
//! locally and pushed to.
#![allow(clippy::unwrap_used)] // Tests fail loudly on any unexpected error.

use algoagent_gitflow::{BranchCleanup, CommitKind, GitError, StrategyRepo, VersionFiles};
use git2::{ObjectType, Repository};
use tempfile::TempDir;

const RUN: &str = "5d6a1b9e-0c1f-4e7a-a2b3-c4d5e6f70812";

fn files(tag: &str) -> VersionFiles {
    VersionFiles {
        strategy_py: format!("class Strategy:  # {tag}\n    pass\n"),
        spec_json: format!("{{\"name\": \"{tag}\"}}\n"),
        results_json: format!("{{\"tag\": \"{tag}\"}}\n"),
    }
}

fn new_repo() -> (TempDir, StrategyRepo) {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("strategies.git");
    let repo = StrategyRepo::open_or_init(path.to_str().unwrap(), &dir.path().join("cache")).unwrap();
    (dir, repo)
}

#[test]
fn history_lists_the_strategys_merges_on_main_newest_first() {
    let (_dir, repo) = new_repo();
    let v1 = repo.merge_version("RSI", RUN, 100, 1, "generated", "spec submitted", &files("1")).unwrap();
    repo.merge_version("Other", RUN, 200, 1, "generated", "x", &files("o")).unwrap();
    let v2 = repo.merge_version("RSI", RUN, 101, 2, "fixed", "no trades", &files("2")).unwrap();

    let history = repo.history("RSI").unwrap();

    assert_eq!(history.len(), 2);
    assert_eq!(history[0].commit, v2.merge_commit);
    assert_eq!(history[0].kind, CommitKind::Merge);
    assert_eq!(history[0].version_id, Some(101));
    assert_eq!(history[0].version_no, Some(2));
    assert_eq!(history[0].origin.as_deref(), Some("fixed"));
    assert_eq!(history[0].run_id.as_deref(), Some(RUN));
    assert_eq!(history[0].version_commit.as_deref(), Some(v2.version_commit.as_str()));
    assert_eq!(history[1].commit, v1.merge_commit);
    assert_eq!(history[1].version_id, Some(100));
    assert!(history[0].time >= history[1].time);
    assert!(repo.history("Never").unwrap().is_empty());
}

#[test]
fn deploy_commits_on_main_and_tags_that_commit() {
    let (_dir, repo) = new_repo();
    let v1 = repo.merge_version("RSI", RUN, 1, 1, "generated", "x", &files("1")).unwrap();
    repo.merge_version("Other", RUN, 2, 1, "generated", "x", &files("o")).unwrap();
    let before = repo.head_of_main().unwrap();

    let deployment = repo.deploy("RSI", Some("RSI/v1.0.0"), "Deploy RSI strategy v1.0").unwrap();

    // Other's later merge did not touch RSI, so RSI's own merge is what is deployed; the
    // deploy commit is main's new head, with the caller's message and main's tree.
    assert_eq!(deployment.deployed, v1.merge_commit);
    assert_eq!(repo.head_of_main().unwrap(), deployment.commit);
    let git = Repository::open_bare(repo.git_dir()).unwrap();
    let commit = git.find_commit(deployment.commit.parse().unwrap()).unwrap();
    assert_eq!(commit.parent_id(0).unwrap().to_string(), before);
    assert_eq!(commit.tree_id(), git.find_commit(before.parse().unwrap()).unwrap().tree_id());
    let message = commit.message().unwrap();
    assert!(message.starts_with("Deploy RSI strategy v1.0\n"), "{message}");
    assert!(message.contains(&format!("AlgoAgent-Deployed: {}", v1.merge_commit)), "{message}");
    let reference = git.find_reference("refs/tags/RSI/v1.0.0").unwrap();
    let tag = reference.peel(ObjectType::Tag).unwrap().into_tag().unwrap();
    assert_eq!(tag.target_id().to_string(), deployment.commit);
    assert!(tag.message().unwrap().starts_with("Deploy RSI strategy v1.0"));
    assert_eq!(tag.tagger().unwrap().name(), Some("AlgoAgent"));
    // Same tag, same files: that deploy again, and no new commit.
    assert_eq!(repo.deploy("RSI", Some("RSI/v1.0.0"), "again").unwrap(), deployment);
    assert_eq!(repo.head_of_main().unwrap(), deployment.commit);
    // The strategy's history (commits that changed its files) has no deploy commit in it.
    assert!(repo.history("RSI").unwrap().iter().all(|c| c.commit != deployment.commit));
}

#[test]
fn an_untagged_deploy_is_a_commit_made_once_per_request() {
    let (_dir, repo) = new_repo();
    let v1 = repo.merge_version("RSI", RUN, 1, 1, "generated", "x", &files("1")).unwrap();

    let first = repo.deploy("RSI", None, "Deploy without a tag").unwrap();
    let retried = repo.deploy("RSI", None, "Deploy without a tag").unwrap();
    let other = repo.deploy("RSI", None, "Deploy again").unwrap();

    assert_eq!(first.deployed, v1.merge_commit);
    assert_eq!(retried, first);
    assert_ne!(other.commit, first.commit);
    assert_eq!(repo.head_of_main().unwrap(), other.commit);
    let git = Repository::open_bare(repo.git_dir()).unwrap();
    assert!(git.tag_names(None).unwrap().is_empty());
}

#[test]
fn deploy_refuses_bad_tag_names_and_a_tag_that_points_elsewhere() {
    let (_dir, repo) = new_repo();
    repo.merge_version("RSI", RUN, 1, 1, "generated", "x", &files("1")).unwrap();
    for bad in ["", "v1..2", "v 1", "-v1", "v1~", "v1^", "v1:x", "v1.lock", "a//b", "v1\n"] {
        let err = repo.deploy("RSI", Some(bad), "m").unwrap_err();
        assert!(matches!(err, GitError::InvalidName { .. }), "{bad:?}: {err:?}");
    }
    repo.deploy("RSI", Some("v1"), "m").unwrap();
    repo.merge_version("RSI", RUN, 2, 2, "fixed", "x", &files("2")).unwrap();

    let err = repo.deploy("RSI", Some("v1"), "m").unwrap_err();

    assert!(matches!(err, GitError::Conflict(_)), "{err:?}");
    assert!(matches!(repo.deploy("Nope", Some("v9"), "m"), Err(GitError::NotFound(_))));
}

#[test]
fn rollback_restores_the_old_files_in_a_new_commit_on_main() {
    let (_dir, repo) = new_repo();
    let v1 = repo.merge_version("RSI", RUN, 1, 1, "generated", "x", &files("good")).unwrap();
    repo.merge_version("Other", RUN, 5, 1, "generated", "x", &files("other")).unwrap();
    repo.merge_version("RSI", RUN, 2, 2, "fixed", "x", &files("bad")).unwrap();
    let before = repo.head_of_main().unwrap();

    let commit = repo.rollback("RSI", &v1.merge_commit[..10], "Bug in production").unwrap();

    assert_eq!(repo.head_of_main().unwrap(), commit);
    assert_eq!(repo.file_on_main("RSI", "strategy.py").unwrap(), Some(files("good").strategy_py));
    assert_eq!(repo.file_on_main("RSI", "results.json").unwrap(), Some(files("good").results_json));
    assert_eq!(repo.file_on_main("Other", "strategy.py").unwrap(), Some(files("other").strategy_py));
    let git = Repository::open_bare(repo.git_dir()).unwrap();
    let rollback = git.find_commit(commit.parse().unwrap()).unwrap();
    assert_eq!(rollback.parent_count(), 1);
    assert_eq!(rollback.parent_id(0).unwrap().to_string(), before);
    assert!(rollback.message().unwrap().contains("Bug in production"));
    // The bad version is still in history: nothing was rewritten.
    assert_eq!(repo.count_version_commits("RSI", 2).unwrap(), 1);
    let history = repo.history("RSI").unwrap();
    assert_eq!(history.len(), 3);
    assert_eq!(history[0].kind, CommitKind::Rollback);
    assert_eq!(history[0].rolled_back_to.as_deref(), Some(v1.merge_commit.as_str()));
    assert_eq!(history[0].version_id, Some(1));
    // Rolling back to the files main already has makes no empty commit.
    assert_eq!(repo.rollback("RSI", &v1.merge_commit, "again").unwrap(), commit);
    assert_eq!(repo.head_of_main().unwrap(), commit);
}

#[test]
fn rollback_refuses_commits_that_are_not_usable_targets() {
    let (_dir, repo) = new_repo();
    let v1 = repo.merge_version("RSI", RUN, 1, 1, "generated", "x", &files("1")).unwrap();
    let git = Repository::open_bare(repo.git_dir()).unwrap();
    let root = git.find_commit(v1.merge_commit.parse().unwrap()).unwrap().parent_id(0).unwrap().to_string();
    // A commit that is not on main's history.
    let tree = git.find_commit(root.parse().unwrap()).unwrap().tree().unwrap();
    let sig = git2::Signature::now("x", "x@y").unwrap();
    let stray = git.commit(None, &sig, &sig, "stray", &tree, &[]).unwrap();

    for (commit, what) in [("HEAD~1", "revision expression"), ("main", "branch name"), ("zzzz", "not hex")] {
        let err = repo.rollback("RSI", commit, "r").unwrap_err();
        assert!(matches!(err, GitError::InvalidInput { .. }), "{what}: {err:?}");
    }
    let err = repo.rollback("RSI", &stray.to_string(), "r").unwrap_err();
    assert!(matches!(err, GitError::InvalidInput { .. }), "{err:?}");
    // The initial commit has no strategies/RSI directory.
    let err = repo.rollback("RSI", &root, "r").unwrap_err();
    assert!(matches!(err, GitError::NotFound(_)), "{err:?}");
    let err = repo.rollback("RSI", &"0".repeat(40), "r").unwrap_err();
    assert!(matches!(err, GitError::NotFound(_)), "{err:?}");
}

#[test]
fn a_file_remote_is_mirrored_and_pushed_to() {
    let dir = TempDir::new().unwrap();
    let remote_path = dir.path().join("remote.git");
    Repository::init_bare(&remote_path).unwrap();
    let url = format!("file://{}", remote_path.display());

    let host_a = StrategyRepo::open_or_init(&url, &dir.path().join("cache-a")).unwrap();
    assert_eq!(host_a.remote_url(), Some(url.as_str()));
    assert!(host_a.git_dir().starts_with(dir.path().join("cache-a")));
    let out = host_a.merge_version("RSI", RUN, 1, 1, "generated", "x", &files("remote")).unwrap();
    let deployment = host_a.deploy("RSI", Some("RSI/v1"), "deploy").unwrap();

    let remote = Repository::open_bare(&remote_path).unwrap();
    assert_eq!(remote.head().unwrap().name(), Some("refs/heads/main"));
    assert_eq!(remote.refname_to_id("refs/heads/main").unwrap().to_string(), deployment.commit);
    assert_eq!(deployment.deployed, out.merge_commit);
    assert_eq!(remote.refname_to_id("refs/heads/strategy/RSI").unwrap().to_string(), out.version_commit);
    let tag = remote.find_reference("refs/tags/RSI/v1").unwrap();
    assert_eq!(tag.peel_to_commit().unwrap().id().to_string(), deployment.commit);
    // Only the bounded pool of scratch refs besides main, the branch and the tag.
    let others: Vec<String> = remote
        .references()
        .unwrap()
        .map(|r| r.unwrap().name().unwrap().to_owned())
        .filter(|n| !n.starts_with("refs/algoagent/incoming/"))
        .collect();
    assert_eq!(others.len(), 3, "{others:?}");

    // A second host with its own mirror sees the first host's work and builds on it.
    let host_b = StrategyRepo::open_or_init(&url, &dir.path().join("cache-b")).unwrap();
    assert_eq!(host_b.file_on_main("RSI", "spec.json").unwrap(), Some(files("remote").spec_json));
    let again = host_b.merge_version("RSI", RUN, 1, 1, "generated", "x", &files("remote")).unwrap();
    assert!(again.already_merged);
    let rolled = host_b.rollback("RSI", &out.version_commit, "r").unwrap();
    assert_eq!(rolled, out.merge_commit, "same files: no new commit");
    host_b.merge_version("MACD", RUN, 2, 1, "generated", "x", &files("macd")).unwrap();
    assert_eq!(host_a.file_on_main("MACD", "spec.json").unwrap(), Some(files("macd").spec_json));
    assert_eq!(host_a.count_version_commits("RSI", 1).unwrap(), 1);
}

#[test]
fn a_missing_file_remote_is_reported_as_not_found() {
    let dir = TempDir::new().unwrap();
    let url = format!("file://{}/absent.git", dir.path().display());
    let err = StrategyRepo::open_or_init(&url, dir.path()).unwrap_err();
    assert!(matches!(err, GitError::NotFound(_)), "{err:?}");
}

#[test]
fn only_a_branch_whose_tip_is_not_on_main_is_deleted_and_a_dry_run_deletes_nothing() {
    let (_dir, repo) = new_repo();
    let merged = repo.merge_version("RSI", RUN, 1, 1, "generated", "x", &files("1")).unwrap();
    let git = Repository::open_bare(repo.git_dir()).unwrap();
    let main = git.find_reference("refs/heads/main").unwrap().peel_to_commit().unwrap();
    let sig = git2::Signature::now("t", "t@example.com").unwrap();
    let stray = git.commit(None, &sig, &sig, "unmerged", &main.tree().unwrap(), &[&main]).unwrap();
    git.reference("refs/heads/strategy/Stray", stray, false, "test").unwrap();

    let dry = repo.delete_unmerged_branch("Stray", true).unwrap();
    let kept = git.refname_to_id("refs/heads/strategy/Stray").is_ok();
    let real = repo.delete_unmerged_branch("Stray", false).unwrap();
    let on_main = repo.delete_unmerged_branch("RSI", false).unwrap();
    let absent = repo.delete_unmerged_branch("Stray", false).unwrap();

    assert_eq!(dry, BranchCleanup::Deleted { tip: stray.to_string() });
    assert!(kept, "a dry run deletes nothing");
    assert_eq!(real, BranchCleanup::Deleted { tip: stray.to_string() });
    assert!(git.refname_to_id("refs/heads/strategy/Stray").is_err());
    assert_eq!(on_main, BranchCleanup::Merged { tip: merged.version_commit.clone() });
    assert!(git.refname_to_id("refs/heads/strategy/RSI").is_ok());
    assert_eq!(absent, BranchCleanup::Absent);
    assert!(matches!(repo.delete_unmerged_branch("../x", true), Err(GitError::InvalidName { .. })));
}
