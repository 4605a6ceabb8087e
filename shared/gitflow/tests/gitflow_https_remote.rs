//! Workers that share no disk, merging into one repository served over git's smart HTTP
//! protocol (`git http-backend` behind a local server demanding a token): nothing lost,
//! nothing doubled, a redelivered merge adds nothing, a wrong token is a clear error.
//!
//! Each "worker" is a thread with its own `StrategyRepo` handle and its own cache directory
//! (so its own mirror), as replicas in separate pods would be; they meet only at the server.
#![allow(clippy::unwrap_used)] // Tests fail loudly on any unexpected error.

mod support;

use std::collections::BTreeMap;
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::Instant;

use algoagent_gitflow::{GitError, MergeOutcome, RemoteCredentials, StrategyRepo, VersionFiles};
use support::{GitHttpServer, init_bare};
use tempfile::TempDir;

const RUN: &str = "4e1f2a9c-5b7d-4c3e-9a8b-1f2e3d4c5b6a";
const TOKEN: &str = "tok-3f9a1c7e-correct";
const WORKERS: usize = 4;
const STRATEGIES: usize = 40;

fn files(tag: &str) -> VersionFiles {
    VersionFiles {
        strategy_py: format!("class Strategy:  # {tag}\n    pass\n"),
        spec_json: format!("{{\"name\": \"{tag}\"}}\n"),
        results_json: format!("{{\"tag\": \"{tag}\"}}\n"),
    }
}

fn name(i: usize) -> String {
    format!("Remote_{i:02}")
}

/// The merge commits on the remote's `main` (first-parent line), by strategy named in the
/// message, read straight from the served bare repository.
fn merges_on_remote_main(remote: &std::path::Path) -> BTreeMap<String, usize> {
    let git = git2::Repository::open_bare(remote).unwrap();
    let mut walk = git.revwalk().unwrap();
    walk.push(git.refname_to_id("refs/heads/main").unwrap()).unwrap();
    walk.simplify_first_parent().unwrap();
    let mut merges = BTreeMap::new();
    for oid in walk {
        let commit = git.find_commit(oid.unwrap()).unwrap();
        if commit.parent_count() == 2 {
            let subject = commit.summary().unwrap().to_owned();
            let strategy =
                subject.strip_prefix("Merge strategy/").unwrap().split(' ').next().unwrap().to_owned();
            *merges.entry(strategy).or_insert(0) += 1;
        }
    }
    merges
}

#[test]
fn four_workers_merge_forty_strategies_into_one_https_remote_losing_and_doubling_none() {
    // Arrange: an empty bare repository behind a server that wants the token.
    let dir = TempDir::new().unwrap();
    let served = dir.path().join("served");
    let remote = init_bare(&served, "strategies.git");
    let server = GitHttpServer::start(&served, TOKEN);
    let url = format!("{}/strategies.git", server.base_url);

    // Act: 4 workers, each merging every 4th strategy; worker 3 also merges strategy 0's
    // version (worker 0's) at the same time: one job delivered twice, concurrently.
    let started = Instant::now();
    let barrier = Arc::new(Barrier::new(WORKERS));
    let handles: Vec<_> = (0..WORKERS)
        .map(|w| {
            let (barrier, url) = (Arc::clone(&barrier), url.clone());
            let cache = dir.path().join(format!("worker-{w}"));
            thread::spawn(move || {
                let repo =
                    StrategyRepo::open_with_credentials(&url, &cache, RemoteCredentials::with_token(TOKEN));
                // Wait before unwrapping: a panicking thread must not strand the others.
                barrier.wait();
                let repo = repo.unwrap();
                let mut jobs: Vec<usize> = (w..STRATEGIES).step_by(WORKERS).collect();
                if w == WORKERS - 1 {
                    jobs.insert(0, 0);
                }
                jobs.into_iter()
                    .map(|i| {
                        let outcome = repo
                            .merge_version(
                                &name(i),
                                RUN,
                                i as i64,
                                1,
                                "generated",
                                "https race",
                                &files(&name(i)),
                            )
                            .unwrap();
                        (i, outcome)
                    })
                    .collect::<Vec<(usize, MergeOutcome)>>()
            })
        })
        .collect();
    let joined: Vec<_> = handles.into_iter().map(|h| h.join()).collect();
    let outcomes: Vec<(usize, MergeOutcome)> = joined.into_iter().flat_map(|r| r.unwrap()).collect();
    let elapsed = started.elapsed();
    eprintln!(
        "{STRATEGIES} merges (+1 concurrent duplicate) by {WORKERS} workers over smart HTTP: {:.2}s, \
         {} HTTP requests served",
        elapsed.as_secs_f64(),
        server.served.load(std::sync::atomic::Ordering::SeqCst)
    );

    // Assert: 40 merge commits on the remote's main, one per strategy.
    let merges = merges_on_remote_main(&remote);
    assert_eq!(merges.len(), STRATEGIES, "{merges:?}");
    assert!(merges.values().all(|&n| n == 1), "a strategy merged twice: {merges:?}");
    let checker = StrategyRepo::open_with_credentials(
        &url,
        &dir.path().join("checker"),
        RemoteCredentials::with_token(TOKEN),
    )
    .unwrap();
    for i in 0..STRATEGIES {
        assert_eq!(checker.file_on_main(&name(i), "strategy.py").unwrap(), Some(files(&name(i)).strategy_py));
        assert_eq!(checker.count_version_commits(&name(i), i as i64).unwrap(), 1, "{}", name(i));
    }
    // The duplicate delivery of strategy 0: both callers report the same commits, one merged.
    let zero: Vec<&MergeOutcome> = outcomes.iter().filter(|(i, _)| *i == 0).map(|(_, o)| o).collect();
    assert_eq!(zero.len(), 2);
    assert_eq!(zero[0].merge_commit, zero[1].merge_commit);
    assert_eq!(zero.iter().filter(|o| !o.already_merged).count(), 1);

    // Act again: strategy 17's merge job delivered a second time, to another worker.
    let head_before = checker.head_of_main().unwrap();
    let redelivered = StrategyRepo::open_with_credentials(
        &url,
        &dir.path().join("worker-0"),
        RemoteCredentials::with_token(TOKEN),
    )
    .unwrap()
    .merge_version(&name(17), RUN, 17, 1, "generated", "https race", &files(&name(17)))
    .unwrap();

    // Assert: nothing new on the remote.
    assert!(redelivered.already_merged);
    assert_eq!(checker.head_of_main().unwrap(), head_before);
    assert_eq!(merges_on_remote_main(&remote).get(&name(17)), Some(&1));
    let first = outcomes.iter().find(|(i, _)| *i == 17).unwrap();
    assert_eq!(redelivered.merge_commit, first.1.merge_commit);
}

#[test]
fn a_wrong_token_is_a_clear_permanent_error_that_does_not_contain_the_token() {
    let dir = TempDir::new().unwrap();
    let served = dir.path().join("served");
    init_bare(&served, "strategies.git");
    let server = GitHttpServer::start(&served, TOKEN);
    let url = format!("{}/strategies.git", server.base_url);
    let wrong = "tok-wrong-5a5a5a5a";

    let err = StrategyRepo::open_with_credentials(
        &url,
        &dir.path().join("cache"),
        RemoteCredentials::with_token(wrong),
    )
    .unwrap_err();

    assert!(matches!(err, GitError::RemoteAuth { .. }), "{err:?}");
    assert!(!err.is_transient());
    let shown = format!("{err} / {err:?}");
    assert!(shown.contains("STRATEGY_REPO_TOKEN_FILE"), "{shown}");
    assert!(!shown.contains(wrong), "the token leaked: {shown}");
    assert!(server.refused.load(std::sync::atomic::Ordering::SeqCst) > 0);

    // No token at all: the same clear error.
    let err =
        StrategyRepo::open_with_credentials(&url, &dir.path().join("cache-2"), RemoteCredentials::none())
            .unwrap_err();
    assert!(matches!(err, GitError::RemoteAuth { .. }), "{err:?}");
}

#[test]
fn a_password_in_the_url_authenticates_and_never_appears_in_errors_or_debug() {
    let dir = TempDir::new().unwrap();
    let served = dir.path().join("served");
    init_bare(&served, "strategies.git");
    let server = GitHttpServer::start(&served, TOKEN);
    let authority = server.base_url.strip_prefix("http://").unwrap();

    let good = format!("http://bot:{TOKEN}@{authority}/strategies.git");
    let repo =
        StrategyRepo::open_with_credentials(&good, &dir.path().join("a"), RemoteCredentials::none()).unwrap();
    repo.merge_version("Pw", RUN, 1, 1, "generated", "password", &files("Pw")).unwrap();
    let shown = format!("{repo:?} {:?}", repo.remote_url());
    assert!(!shown.contains(TOKEN), "the password leaked: {shown}");

    let bad = format!("http://bot:hunter2-wrong@{authority}/strategies.git");
    let err = StrategyRepo::open_with_credentials(&bad, &dir.path().join("b"), RemoteCredentials::none())
        .unwrap_err();
    let shown = format!("{err} / {err:?}");
    assert!(matches!(err, GitError::RemoteAuth { .. }), "{shown}");
    assert!(!shown.contains("hunter2"), "the password leaked: {shown}");
}

#[test]
fn deploy_rollback_and_cleanup_work_against_an_https_remote() {
    let dir = TempDir::new().unwrap();
    let served = dir.path().join("served");
    init_bare(&served, "strategies.git");
    let server = GitHttpServer::start(&served, TOKEN);
    let url = format!("{}/strategies.git", server.base_url);
    let open = |cache: &str| {
        StrategyRepo::open_with_credentials(
            &url,
            &dir.path().join(cache),
            RemoteCredentials::with_token(TOKEN),
        )
        .unwrap()
    };
    let repo = open("a");
    let v1 = repo.merge_version("Ops", RUN, 1, 1, "generated", "v1", &files("v1")).unwrap();
    repo.merge_version("Ops", RUN, 2, 2, "fixed", "v2", &files("v2")).unwrap();

    let deployed = repo.deploy("Ops", Some("Ops/v2"), "ship it").unwrap();
    let again = open("b").deploy("Ops", Some("Ops/v2"), "ship it").unwrap();
    assert_eq!(deployed.commit, again.commit, "a redelivered deploy is the same deploy");

    open("b").rollback("Ops", &v1.merge_commit, "v2 misbehaves").unwrap();
    assert_eq!(repo.file_on_main("Ops", "strategy.py").unwrap(), Some(files("v1").strategy_py));

    // A branch that never reached main is deleted on the remote.
    let git = git2::Repository::open_bare(served.join("strategies.git")).unwrap();
    let main = git.find_commit(git.refname_to_id("refs/heads/main").unwrap()).unwrap();
    let orphan =
        git.commit(None, &main.author(), &main.author(), "orphan", &main.tree().unwrap(), &[&main]).unwrap();
    git.reference("refs/heads/strategy/Orphan", orphan, false, "test").unwrap();
    let cleaned = open("c").delete_unmerged_branch("Orphan", false).unwrap();
    assert!(matches!(cleaned, algoagent_gitflow::BranchCleanup::Deleted { .. }), "{cleaned:?}");
    assert!(git.find_reference("refs/heads/strategy/Orphan").is_err());
}
