//! Opening the strategies repository and merging versions into `main` (bare repository).
#![allow(clippy::unwrap_used)] // Tests fail loudly on any unexpected error.

use std::path::Path;

use algoagent_gitflow::{GitError, StrategyRepo, VersionFiles};
use git2::Repository;
use tempfile::TempDir;

const RUN: &str = "0b9f6c1e-8d2a-4c53-9f57-3f0a4c1d2e10";

fn files(tag: &str) -> VersionFiles {
    VersionFiles {
        strategy_py: format!("class Strategy:  # {tag}\n    pass\n"),
        spec_json: format!("{{\"name\": \"{tag}\"}}\n"),
        results_json: format!("{{\"trades\": 1, \"tag\": \"{tag}\"}}\n"),
    }
}

fn new_repo() -> (TempDir, StrategyRepo) {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("strategies.git");
    let repo = StrategyRepo::open_or_init(path.to_str().unwrap(), &dir.path().join("cache")).unwrap();
    (dir, repo)
}

fn raw(repo: &StrategyRepo) -> Repository {
    Repository::open_bare(repo.git_dir()).unwrap()
}

#[test]
fn a_missing_path_becomes_a_bare_repository_with_an_initial_commit_on_main() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("nested/deeper/strategies.git");

    let repo = StrategyRepo::open_or_init(path.to_str().unwrap(), dir.path()).unwrap();

    let git = Repository::open_bare(&path).unwrap();
    assert!(git.is_bare());
    let head = git.head().unwrap();
    assert_eq!(head.name(), Some("refs/heads/main"));
    let commit = head.peel_to_commit().unwrap();
    assert_eq!(commit.summary(), Some("Initialize strategies repository"));
    assert_eq!(commit.parent_count(), 0);
    assert_eq!(commit.tree().unwrap().len(), 0);
    assert_eq!(commit.committer().name(), Some("AlgoAgent"));
    assert_eq!(commit.committer().email(), Some("algoagent@localhost"));
    assert_eq!(repo.head_of_main().unwrap(), commit.id().to_string());
    // Opening again neither fails nor adds a commit.
    let again = StrategyRepo::open_or_init(path.to_str().unwrap(), dir.path()).unwrap();
    assert_eq!(again.head_of_main().unwrap(), commit.id().to_string());
}

#[test]
fn an_existing_bare_repository_without_main_gets_one() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("ops.git");
    Repository::init_bare(&path).unwrap();

    let repo = StrategyRepo::open_or_init(path.to_str().unwrap(), dir.path()).unwrap();

    assert_eq!(repo.head_of_main().unwrap().len(), 40);
    assert_eq!(Repository::open_bare(&path).unwrap().head().unwrap().name(), Some("refs/heads/main"));
}

#[test]
fn an_empty_directory_is_initialized() {
    let dir = TempDir::new().unwrap();
    let repo = StrategyRepo::open_or_init(dir.path().to_str().unwrap(), Path::new("/nonexistent"));
    assert!(repo.is_ok(), "{repo:?}");
    assert!(Repository::open_bare(dir.path()).is_ok());
}

#[test]
fn an_existing_directory_that_is_not_a_repository_is_refused_clearly() {
    let dir = TempDir::new().unwrap();
    std::fs::write(dir.path().join("notes.txt"), "hello").unwrap();

    let err = StrategyRepo::open_or_init(dir.path().to_str().unwrap(), dir.path()).unwrap_err();

    assert!(matches!(err, GitError::NotARepository { .. }), "{err:?}");
    assert!(err.to_string().contains("is not a git repository"), "{err}");
    assert!(!err.is_transient());
    // Nothing was written into the directory.
    assert!(!dir.path().join("HEAD").exists());
}

#[test]
fn a_regular_file_is_refused() {
    let dir = TempDir::new().unwrap();
    let file = dir.path().join("repo");
    std::fs::write(&file, "x").unwrap();
    let err = StrategyRepo::open_or_init(file.to_str().unwrap(), dir.path()).unwrap_err();
    assert!(matches!(err, GitError::NotARepository { .. }), "{err:?}");
}

#[test]
fn a_repository_with_a_working_tree_is_refused() {
    let dir = TempDir::new().unwrap();
    Repository::init(dir.path()).unwrap();
    let err = StrategyRepo::open_or_init(dir.path().to_str().unwrap(), dir.path()).unwrap_err();
    assert!(matches!(err, GitError::NotBare { .. }), "{err:?}");
}

#[test]
fn ssh_remotes_are_refused_with_a_clear_error() {
    let dir = TempDir::new().unwrap();
    for url in ["ssh://git@example.com/s.git", "git@example.com:s.git"] {
        let err = StrategyRepo::open_or_init(url, dir.path()).unwrap_err();
        assert!(matches!(err, GitError::UnsupportedRemote { .. }), "{url}: {err:?}");
    }
}

#[test]
fn a_merged_version_is_on_main_through_a_two_parent_merge_commit() {
    let (_dir, repo) = new_repo();
    let before = repo.head_of_main().unwrap();

    let out =
        repo.merge_version("RSI_Reversal", RUN, 41, 1, "generated", "first version", &files("a")).unwrap();

    assert_eq!(out.branch, "strategy/RSI_Reversal");
    assert!(!out.already_merged);
    assert_eq!(repo.head_of_main().unwrap(), out.merge_commit);
    for (file, expected) in [
        ("strategy.py", files("a").strategy_py),
        ("spec.json", files("a").spec_json),
        ("results.json", files("a").results_json),
    ] {
        assert_eq!(repo.file_on_main("RSI_Reversal", file).unwrap(), Some(expected));
    }
    assert_eq!(repo.file_on_main("RSI_Reversal", "missing.txt").unwrap(), None);
    assert_eq!(repo.file_on_main("Other", "strategy.py").unwrap(), None);

    let git = raw(&repo);
    let merge = git.find_commit(out.merge_commit.parse().unwrap()).unwrap();
    assert_eq!(merge.parent_count(), 2);
    assert_eq!(merge.parent_id(0).unwrap().to_string(), before);
    assert_eq!(merge.parent_id(1).unwrap().to_string(), out.version_commit);
    assert_eq!(merge.summary(), Some(format!("Merge strategy/RSI_Reversal version 1 (run {RUN})").as_str()));
    let version = git.find_commit(out.version_commit.parse().unwrap()).unwrap();
    let message = version.message().unwrap();
    assert!(message.starts_with("RSI_Reversal: generated version 1 (first version)"), "{message}");
    assert!(message.contains(&format!("\nAlgoAgent-Run: {RUN}\n")), "{message}");
    assert!(message.contains("\nAlgoAgent-Version: 41\n"), "{message}");
    let branch = git.refname_to_id("refs/heads/strategy/RSI_Reversal").unwrap();
    assert_eq!(branch.to_string(), out.version_commit);
}

#[test]
fn merging_the_same_version_twice_makes_one_version_commit_and_one_merge() {
    let (_dir, repo) = new_repo();
    let first = repo.merge_version("MACD", RUN, 7, 1, "generated", "why", &files("m")).unwrap();

    let second = repo.merge_version("MACD", RUN, 7, 1, "generated", "why", &files("m")).unwrap();

    assert!(second.already_merged);
    assert_eq!(second.version_commit, first.version_commit);
    assert_eq!(second.merge_commit, first.merge_commit);
    assert_eq!(repo.head_of_main().unwrap(), first.merge_commit);
    assert_eq!(repo.count_version_commits("MACD", 7).unwrap(), 1);
    assert_eq!(repo.history("MACD").unwrap().len(), 1);
}

#[test]
fn a_version_committed_but_not_merged_is_merged_by_the_retry() {
    let (_dir, repo) = new_repo();
    let first = repo.merge_version("Crash", RUN, 1, 1, "generated", "why", &files("c")).unwrap();
    // Simulate a crash between the branch update and the merge: main goes back.
    let git = raw(&repo);
    let merge = git.find_commit(first.merge_commit.parse().unwrap()).unwrap();
    git.reference("refs/heads/main", merge.parent_id(0).unwrap(), true, "test").unwrap();

    let retry = repo.merge_version("Crash", RUN, 1, 1, "generated", "why", &files("c")).unwrap();

    assert!(!retry.already_merged);
    assert_eq!(retry.version_commit, first.version_commit);
    assert_eq!(repo.count_version_commits("Crash", 1).unwrap(), 1);
    assert_eq!(repo.file_on_main("Crash", "spec.json").unwrap(), Some(files("c").spec_json));
}

#[test]
fn versions_stack_on_the_branch_and_the_latest_is_on_main() {
    let (_dir, repo) = new_repo();
    let v1 = repo.merge_version("Bollinger", RUN, 10, 1, "generated", "initial", &files("v1")).unwrap();
    let v2 =
        repo.merge_version("Bollinger", RUN, 11, 2, "fixed", "IndexError in next()", &files("v2")).unwrap();

    assert_eq!(repo.file_on_main("Bollinger", "strategy.py").unwrap(), Some(files("v2").strategy_py));
    let git = raw(&repo);
    let v2_commit = git.find_commit(v2.version_commit.parse().unwrap()).unwrap();
    assert_eq!(v2_commit.parent_id(0).unwrap().to_string(), v1.version_commit);
    assert!(v2_commit.message().unwrap().starts_with("Bollinger: fixed version 2 (IndexError in next())"));
    assert_eq!(repo.count_version_commits("Bollinger", 10).unwrap(), 1);
    assert_eq!(repo.count_version_commits("Bollinger", 11).unwrap(), 1);
    assert_eq!(repo.count_version_commits("Bollinger", 12).unwrap(), 0);
}

#[test]
fn merging_one_strategy_leaves_the_others_alone() {
    let (_dir, repo) = new_repo();
    repo.merge_version("Alpha", RUN, 1, 1, "generated", "a", &files("alpha")).unwrap();
    repo.merge_version("Beta", RUN, 2, 1, "generated", "b", &files("beta")).unwrap();
    repo.merge_version("Alpha", RUN, 3, 2, "fixed", "a2", &files("alpha2")).unwrap();

    assert_eq!(repo.file_on_main("Beta", "strategy.py").unwrap(), Some(files("beta").strategy_py));
    assert_eq!(repo.file_on_main("Alpha", "strategy.py").unwrap(), Some(files("alpha2").strategy_py));
}

#[test]
fn a_new_version_after_a_rollback_replaces_the_rolled_back_files_exactly() {
    let (_dir, repo) = new_repo();
    let v1 = repo.merge_version("Swing", RUN, 1, 1, "generated", "v1", &files("one")).unwrap();
    repo.merge_version("Swing", RUN, 2, 2, "fixed", "v2", &files("two")).unwrap();
    repo.rollback("Swing", &v1.merge_commit, "v2 misbehaves").unwrap();

    // The branch and main both changed the directory since their merge base.
    let v3 = repo.merge_version("Swing", RUN, 3, 3, "fixed", "v3", &files("three")).unwrap();

    assert!(!v3.already_merged);
    for file in ["strategy.py", "spec.json", "results.json"] {
        let on_main = repo.file_on_main("Swing", file).unwrap().unwrap();
        assert!(on_main.contains("three"), "{file}: {on_main}");
    }
}

#[test]
fn bad_arguments_are_refused_before_touching_the_repository() {
    let (_dir, repo) = new_repo();
    let head = repo.head_of_main().unwrap();
    for name in ["", "1abc", "a/b", "../etc", "a b", "ab\0"] {
        let err = repo.merge_version(name, RUN, 1, 1, "generated", "x", &files("x")).unwrap_err();
        assert!(matches!(err, GitError::InvalidName { .. }), "{name:?}: {err:?}");
        assert!(matches!(repo.file_on_main(name, "strategy.py"), Err(GitError::InvalidName { .. })));
    }
    assert!(matches!(
        repo.merge_version("Ok", RUN, 1, 1, "invented", "x", &files("x")),
        Err(GitError::InvalidInput { .. })
    ));
    assert!(matches!(
        repo.merge_version("Ok", "run\nAlgoAgent-Version: 9", 1, 1, "generated", "x", &files("x")),
        Err(GitError::InvalidInput { .. })
    ));
    assert!(matches!(repo.file_on_main("Ok", "../HEAD"), Err(GitError::InvalidInput { .. })));
    assert_eq!(repo.head_of_main().unwrap(), head);
}
