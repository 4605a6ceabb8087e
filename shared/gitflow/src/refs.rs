//! Compare-and-swap reference updates, the retry loop around them, and fetch/push of a mirror.
//!
//! Several worker processes write the same repository at once. Nothing here holds a lock
//! across an operation: each attempt reads the refs it depends on, writes new objects (which
//! are immutable and safe to write concurrently), then moves each ref only if it still has the
//! value that attempt read (`git_reference_create_matching`, which takes the ref's lock file).
//! A lost race throws the attempt away and the whole operation starts again from fresh refs,
//! so no update is lost and none is applied twice.
//!
//! With a `file://` remote the remote is the source of truth. Each attempt connects to it,
//! takes the refs it advertises as its snapshot ([`Session::ref_oid`]) and downloads the
//! missing objects into the mirror. New objects are pushed under a scratch ref, then the real
//! refs are compare-and-swapped in the remote repository itself (it is a local path): libgit2's
//! local push transport overwrites refs without comparing them to their old value, so pushing
//! straight to `refs/heads/main` could lose a concurrent update. The mirror's own refs are only
//! a best-effort cache (they let the next download skip what the mirror has), so workers
//! sharing a mirror never fail on each other's locks there.
//!
//! The scratch refs (`refs/algoagent/incoming/<slot>/<n>`, a small fixed pool) are overwritten,
//! never deleted: libgit2's local transport fails a fetch or push when a ref it has just listed
//! disappears, so deleting them would break concurrent writers. Objects only need the scratch
//! ref while they travel; the compare-and-swap then makes them reachable from a real ref.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use git2::{
    AutotagOption, Direction, ErrorCode, FetchOptions, Oid, PushOptions, RemoteCallbacks, Repository,
};

use super::StrategyRepo;
use super::error::{GitError, is_race};
use super::location::{Location, UrlPassword};
use super::transport;

/// How many times an operation is attempted before giving up with [`GitError::Contended`].
const MAX_ATTEMPTS: u32 = 30;
/// The longest pause between two attempts.
const MAX_BACKOFF_MS: u64 = 100;
/// Attempts against a network remote: each one costs a fetch and a push (tens to hundreds of
/// milliseconds), so a writer can keep losing to rivals for longer than on a local disk.
const NETWORK_MAX_ATTEMPTS: u32 = 60;
/// The longest pause between two attempts against a network remote.
const NETWORK_MAX_BACKOFF_MS: u64 = 500;

/// How often, and how patiently, an operation retries a lost race.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RetryPolicy {
    /// Attempts before [`GitError::Contended`].
    pub attempts: u32,
    /// The cap of the exponential backoff, in milliseconds.
    pub max_backoff_ms: u64,
}

/// Local repositories and `file://` remotes.
pub(crate) const LOCAL_RETRIES: RetryPolicy =
    RetryPolicy { attempts: MAX_ATTEMPTS, max_backoff_ms: MAX_BACKOFF_MS };
/// `https://` remotes.
pub(crate) const NETWORK_RETRIES: RetryPolicy =
    RetryPolicy { attempts: NETWORK_MAX_ATTEMPTS, max_backoff_ms: NETWORK_MAX_BACKOFF_MS };
/// Where pushed objects are parked in the remote until the real refs are swapped.
const INCOMING_PREFIX: &str = "refs/algoagent/incoming";
/// How many scratch slots writers spread over (two writers on one slot: one retries).
const INCOMING_SLOTS: u64 = 16;

/// Varies successive pseudo-random draws made within the same clock tick.
static DRAW_COUNTER: AtomicU64 = AtomicU64::new(0);

/// One reference move: from `old` (`None`: the ref must not exist yet) to `new`.
#[derive(Debug, Clone)]
pub(crate) struct RefUpdate {
    /// Full reference name (`refs/heads/main`).
    pub name: String,
    /// The value the attempt read.
    pub old: Option<Oid>,
    /// The value to set.
    pub new: Oid,
}

/// Whether an attempt's updates all landed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Applied {
    /// Every ref was moved.
    Done,
    /// Some ref had changed (or was locked) since the attempt read it; start over.
    Lost,
}

/// Runs `attempt` until it returns `Some`, retrying (after a short, jittered pause) when it
/// returns `None` (a lost race), fails on a ref lock or ref mismatch, or has a push refused
/// (another writer held the same scratch ref).
pub(crate) fn with_retries<T>(
    op: &'static str,
    attempt: impl FnMut() -> Result<Option<T>, GitError>,
) -> Result<T, GitError> {
    with_policy(LOCAL_RETRIES, op, attempt)
}

/// [`with_retries`] with an explicit policy.
pub(crate) fn with_policy<T>(
    policy: RetryPolicy,
    op: &'static str,
    mut attempt: impl FnMut() -> Result<Option<T>, GitError>,
) -> Result<T, GitError> {
    for n in 1..=policy.attempts {
        match attempt() {
            Ok(Some(value)) => return Ok(value),
            Ok(None) => {
                tracing::debug!(op, attempt = n, "lost a race on a reference; retrying");
                count_conflict("ref_race");
            }
            Err(GitError::Git(e)) if is_race(&e) => {
                tracing::debug!(op, attempt = n, error = %e, "reference busy; retrying");
                count_conflict("ref_locked");
            }
            Err(e @ GitError::PushRejected { .. }) => {
                tracing::debug!(op, attempt = n, error = %e, "push refused; retrying");
                count_conflict("push_rejected");
            }
            Err(e) => return Err(e),
        }
        std::thread::sleep(backoff(n, policy.max_backoff_ms));
    }
    tracing::warn!(op, attempts = policy.attempts, "gave up after losing every race");
    Err(GitError::Contended { op, attempts: policy.attempts })
}

/// Exponential backoff capped at `max_ms`, half of it random so racers spread out.
fn backoff(attempt: u32, max_ms: u64) -> Duration {
    let cap = (1u64 << attempt.min(10)).min(max_ms);
    let half = cap / 2;
    let jitter = if half == 0 { 0 } else { pseudo_random() % (half + 1) };
    Duration::from_millis(half + jitter)
}

/// Cheap non-cryptographic randomness (clock nanoseconds mixed with a counter).
pub(crate) fn pseudo_random() -> u64 {
    let nanos =
        SystemTime::now().duration_since(UNIX_EPOCH).map(|d| u64::from(d.subsec_nanos())).unwrap_or_default();
    let n = DRAW_COUNTER.fetch_add(1, Ordering::Relaxed);
    let seed = nanos ^ u64::from(std::process::id()).rotate_left(32) ^ n.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    seed.wrapping_mul(0xbf58_476d_1ce4_e5b9) >> 16
}

/// Moves one ref in `repo` if it still has `update.old`; `false` when another writer won.
fn compare_and_swap(repo: &Repository, update: &RefUpdate, log: &str) -> Result<bool, GitError> {
    let result = match update.old {
        Some(old) if old == update.new => return Ok(true),
        None => repo.reference(&update.name, update.new, false, log),
        Some(old) => repo.reference_matching(&update.name, update.new, true, old, log),
    };
    match result {
        Ok(_) => Ok(true),
        Err(e) if is_race(&e) || e.code() == ErrorCode::NotFound => {
            tracing::debug!(refname = %update.name, error = %e, "compare-and-swap lost");
            Ok(false)
        }
        Err(e) => Err(e.into()),
    }
}

/// Moves every ref in order (one compare-and-swap each), stopping at the first lost race.
fn apply_in(repo: &Repository, updates: &[RefUpdate], log: &str) -> Result<Applied, GitError> {
    for update in updates {
        if !compare_and_swap(repo, update, log)? {
            return Ok(Applied::Lost);
        }
    }
    Ok(Applied::Done)
}

/// The repository one attempt works on, and the ref values it read.
pub(crate) struct Session {
    /// The local repository (the mirror, with a remote): objects are read and written here.
    pub repo: Repository,
    /// With a remote: its branches and tags as advertised when the attempt started.
    remote_refs: Option<HashMap<String, Oid>>,
}

impl Session {
    /// The value of the full ref `name` (`refs/heads/main`) in the source of truth.
    pub(crate) fn ref_oid(&self, name: &str) -> Result<Option<Oid>, GitError> {
        match &self.remote_refs {
            Some(refs) => Ok(refs.get(name).copied()),
            None => match self.repo.refname_to_id(name) {
                Ok(oid) => Ok(Some(oid)),
                Err(e) if e.code() == ErrorCode::NotFound => Ok(None),
                Err(e) => Err(e.into()),
            },
        }
    }
}

impl StrategyRepo {
    /// Opens the repository an attempt works on; with a remote, snapshots the remote's refs
    /// and downloads the objects they need into the mirror.
    pub(crate) fn session(&self) -> Result<Session, GitError> {
        let repo = Repository::open_bare(self.git_dir())?;
        let remote_refs = match &self.location {
            Location::Local(_) => None,
            Location::FileRemote { url, remote_path, .. } => Some(fetch_snapshot(&repo, url, remote_path)?),
            Location::Network { .. } => self.network().map(|remote| transport::fetch(&remote)).transpose()?,
        };
        Ok(Session { repo, remote_refs })
    }

    /// Applies `updates` to the source of truth: the local repository, or (after pushing
    /// the new objects) the remote one. Objects must already exist in `repo`.
    pub(crate) fn apply(
        &self,
        repo: &Repository,
        updates: &[RefUpdate],
        log: &str,
    ) -> Result<Applied, GitError> {
        match &self.location {
            Location::Local(_) => apply_in(repo, updates, log),
            Location::FileRemote { url, remote_path, .. } => {
                let slot = pseudo_random() % INCOMING_SLOTS;
                let specs: Vec<String> = updates
                    .iter()
                    .enumerate()
                    .map(|(i, u)| format!("+{}:{INCOMING_PREFIX}/{slot}/{i}", u.new))
                    .collect();
                push(repo, url, &specs)?;
                apply_in(&Repository::open_bare(remote_path)?, updates, log)
            }
            Location::Network { url, user, password, mirror } => {
                transport::push(&self.remote(url, user, password, mirror), updates)
            }
        }
    }

    /// How patiently operations on this repository retry a lost race.
    pub(crate) fn retry_policy(&self) -> RetryPolicy {
        match self.location {
            Location::Network { .. } => NETWORK_RETRIES,
            Location::Local(_) | Location::FileRemote { .. } => LOCAL_RETRIES,
        }
    }

    /// [`with_policy`] with this repository's policy.
    pub(crate) fn with_retries<T>(
        &self,
        op: &'static str,
        attempt: impl FnMut() -> Result<Option<T>, GitError>,
    ) -> Result<T, GitError> {
        with_policy(self.retry_policy(), op, attempt)
    }

    /// The network remote, when the repository is a mirror of one.
    pub(crate) fn network(&self) -> Option<transport::Remote<'_>> {
        match &self.location {
            Location::Network { url, user, password, mirror } => {
                Some(self.remote(url, user, password, mirror))
            }
            Location::Local(_) | Location::FileRemote { .. } => None,
        }
    }

    /// The parts of [`Location::Network`] with the secret to send: the URL's password, else
    /// the configured token.
    fn remote<'a>(
        &'a self,
        url: &'a str,
        user: &'a Option<String>,
        password: &'a Option<UrlPassword>,
        mirror: &'a Path,
    ) -> transport::Remote<'a> {
        transport::Remote {
            url,
            user: user.as_deref(),
            secret: password.as_ref().map(|p| p.0.as_str()).or_else(|| self.credentials.token()),
            mirror,
        }
    }
}

/// The branches and tags the remote advertises, with their objects downloaded into `repo`.
/// The mirror's refs are then set to match, best effort: a lost lock there is harmless.
fn fetch_snapshot(
    repo: &Repository,
    url: &str,
    remote_path: &Path,
) -> Result<HashMap<String, Oid>, GitError> {
    const REFSPECS: [&str; 2] = ["+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*"];
    // git2 0.20's `Remote::list` builds a slice from libgit2's NULL pointer when the remote
    // advertises nothing (undefined behaviour, caught by debug assertions), so a remote with
    // no refs at all is answered here. Refs are never deleted, so it cannot empty meanwhile.
    if Repository::open_bare(remote_path)?.references()?.next().is_none() {
        return Ok(HashMap::new());
    }
    let mut remote = repo.remote_anonymous(url)?;
    remote.connect(Direction::Fetch)?;
    let snapshot: HashMap<String, Oid> = remote
        .list()?
        .iter()
        .filter(|head| {
            let name = head.name();
            (name.starts_with("refs/heads/") || name.starts_with("refs/tags/")) && !name.ends_with("^{}")
        })
        .map(|head| (head.name().to_owned(), head.oid()))
        .collect();
    let mut options = FetchOptions::new();
    options.download_tags(AutotagOption::None);
    // Downloads what the advertised refs need (the same advertisement, still connected).
    remote.download(&REFSPECS, Some(&mut options))?;
    remote.disconnect()?;
    for (name, oid) in &snapshot {
        if repo.refname_to_id(name).ok() == Some(*oid) {
            continue;
        }
        if let Err(e) = repo.reference(name, *oid, true, "mirror") {
            tracing::debug!(refname = %name, error = %e, "mirror ref not updated (cache only)");
        }
    }
    Ok(snapshot)
}

/// Pushes `specs` (`<oid>:<scratch ref>`), failing if the remote refuses any of them.
fn push(repo: &Repository, url: &str, specs: &[String]) -> Result<(), GitError> {
    let mut remote = repo.remote_anonymous(url)?;
    let mut rejected: Vec<(String, String)> = Vec::new();
    {
        let mut callbacks = RemoteCallbacks::new();
        callbacks.push_update_reference(|refname, status| {
            if let Some(message) = status {
                rejected.push((refname.to_owned(), message.to_owned()));
            }
            Ok(())
        });
        let mut options = PushOptions::new();
        options.remote_callbacks(callbacks);
        remote.push(specs, Some(&mut options))?;
    }
    match rejected.into_iter().next() {
        Some((refname, message)) => Err(GitError::PushRejected { refname, message }),
        None => Ok(()),
    }
}

/// Counts a conflict met while merging: a lost race on a reference (`ref_race`, `ref_locked`,
/// `push_rejected`, each retried) or a content conflict (`content`, see `merge.rs`).
pub(crate) fn count_conflict(kind: &'static str) {
    metrics::counter!("algoagent_git_merge_conflicts_total", "type" => kind).increment(1);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_is_capped() {
        for n in 1..=MAX_ATTEMPTS {
            assert!(backoff(n, MAX_BACKOFF_MS) <= Duration::from_millis(MAX_BACKOFF_MS));
        }
        for n in 1..=NETWORK_MAX_ATTEMPTS {
            assert!(backoff(n, NETWORK_MAX_BACKOFF_MS) <= Duration::from_millis(NETWORK_MAX_BACKOFF_MS));
        }
    }
}
