//! Concurrent writers on one strategies repository lose no update and duplicate no commit.
//!
//! Every thread has its own `StrategyRepo` handle (its own libgit2 handles), as separate
//! worker processes would; they meet only in the repository's ref files.
#![allow(clippy::unwrap_used)] // Tests fail loudly on any unexpected error.

use std::sync::{Arc, Barrier};
use std::thread;

use algoagent_gitflow::{MergeOutcome, StrategyRepo, VersionFiles};
use tempfile::TempDir;

const RUN: &str = "9a0c7c55-3a8e-4a43-8c83-7f4b1b1f1d3e";
const SHARED_VERSION: i64 = 1000;

fn files(tag: &str) -> VersionFiles {
    VersionFiles {
        strategy_py: format!("class Strategy:  # {tag}\n    pass\n"),
        spec_json: format!("{{\"name\": \"{tag}\"}}\n"),
        results_json: format!("{{\"tag\": \"{tag}\"}}\n"),
    }
}

/// Starts 8 threads merging 8 strategies and 2 threads merging the same version of a ninth,
/// all released at once, each opening the repository itself.
fn race(location: String, cache: impl Fn(usize) -> std::path::PathBuf) -> Vec<(usize, MergeOutcome)> {
    let threads = 10;
    let barrier = Arc::new(Barrier::new(threads));
    let handles: Vec<_> = (0..threads)
        .map(|i| {
            let barrier = Arc::clone(&barrier);
            let location = location.clone();
            let cache = cache(i);
            thread::spawn(move || {
                let repo = StrategyRepo::open_or_init(&location, &cache);
                // Wait before unwrapping: a panicking thread must not strand the others.
                barrier.wait();
                let repo = repo.unwrap();
                let outcome = if i < 8 {
                    let name = format!("Strategy_{i}");
                    repo.merge_version(&name, RUN, i as i64, 1, "generated", "race", &files(&name))
                } else {
                    repo.merge_version("Shared", RUN, SHARED_VERSION, 1, "fixed", "race", &files("Shared"))
                };
                (i, outcome.unwrap())
            })
        })
        .collect();
    // Join every thread before failing, so none outlives the temporary directory.
    let joined: Vec<_> = handles.into_iter().map(|h| h.join()).collect();
    joined.into_iter().map(|r| r.unwrap()).collect()
}

fn assert_nothing_lost(repo: &StrategyRepo, outcomes: &[(usize, MergeOutcome)]) {
    for i in 0..8 {
        let name = format!("Strategy_{i}");
        assert_eq!(
            repo.file_on_main(&name, "strategy.py").unwrap(),
            Some(files(&name).strategy_py),
            "{name} lost"
        );
        assert_eq!(repo.count_version_commits(&name, i as i64).unwrap(), 1, "{name}");
        assert_eq!(repo.history(&name).unwrap().len(), 1, "{name} merged more than once");
    }
    assert_eq!(repo.file_on_main("Shared", "spec.json").unwrap(), Some(files("Shared").spec_json));
    assert_eq!(repo.count_version_commits("Shared", SHARED_VERSION).unwrap(), 1);
    assert_eq!(repo.history("Shared").unwrap().len(), 1);

    let shared: Vec<&MergeOutcome> = outcomes.iter().filter(|(i, _)| *i >= 8).map(|(_, o)| o).collect();
    assert_eq!(shared[0].version_commit, shared[1].version_commit);
    assert_eq!(shared[0].merge_commit, shared[1].merge_commit);
    assert_eq!(
        shared.iter().filter(|o| !o.already_merged).count(),
        1,
        "exactly one of the two callers did the merge"
    );
    // Every merge commit of the race is on main's first-parent line: 9 merges + initial.
    let git = git2::Repository::open_bare(repo.git_dir()).unwrap();
    let mut walk = git.revwalk().unwrap();
    walk.push(git.refname_to_id("refs/heads/main").unwrap()).unwrap();
    walk.simplify_first_parent().unwrap();
    assert_eq!(walk.count(), 10);
}

#[test]
fn ten_writers_on_one_bare_repository_lose_no_update_and_duplicate_no_commit() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("strategies.git");
    let location = path.to_str().unwrap().to_owned();
    let cache = dir.path().join("cache");

    let outcomes = race(location.clone(), |_| cache.clone());

    let repo = StrategyRepo::open_or_init(&location, &cache).unwrap();
    assert_nothing_lost(&repo, &outcomes);
}

#[test]
fn ten_writers_through_file_remote_mirrors_lose_no_update() {
    let dir = TempDir::new().unwrap();
    let remote = dir.path().join("remote.git");
    git2::Repository::init_bare(&remote).unwrap();
    let url = format!("file://{}", remote.display());
    let root = dir.path().to_path_buf();

    // Threads 0-3 share a mirror in pairs (workers on one host); the others have their own.
    let outcomes = race(url.clone(), |i| {
        if i < 4 { root.join(format!("shared-{}", i / 2)) } else { root.join(format!("own-{i}")) }
    });

    let repo = StrategyRepo::open_or_init(&url, &root.join("cache-check")).unwrap();
    assert_nothing_lost(&repo, &outcomes);
}

#[test]
fn a_handle_can_be_shared_between_threads() {
    fn assert_send_sync<T: Send + Sync + Clone>() {}
    assert_send_sync::<StrategyRepo>();
}
