//! Fetch from and push to an `https://` remote by running the `git` program.
//!
//! Why the program and not libgit2's own transports: a push to `main` must be a
//! compare-and-swap against the value this attempt read, and a merge moves two refs (the
//! strategy's branch and `main`) that should land together. `git push --atomic
//! --force-with-lease=<ref>:<expected>` is exactly that: the client refuses when the
//! advertised value differs from `<expected>`, and `receive-pack` on the server updates every
//! ref in one transaction that re-checks each old value under the ref locks, so a rival's push
//! in between fails ours instead of being overwritten. libgit2 has neither atomic pushes nor
//! leases (a forced push there overwrites whatever the remote holds), and enabling its https
//! transport would add OpenSSL to every build. The `git` program brings the same TLS, proxy
//! and CA handling operators already know.
//!
//! Every command runs with the user's and the system's git configuration ignored, terminal
//! prompts off and no credential helper, so what happens depends only on `STRATEGY_REPO` and
//! the token. The token travels as an `http.<url>.extraHeader` set through `GIT_CONFIG_*`
//! environment variables of the child process: it is never in a command line (visible to
//! every user in `ps`), never in the URL, and scoped to the repository's URL so a redirect to
//! another host does not carry it. Anything git prints is scrubbed of it before it reaches a
//! log or an error.

use std::collections::HashMap;
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use git2::{Oid, Repository};

use super::credentials::{base64, scrub};
use super::error::GitError;
use super::refs::{Applied, RefUpdate};

/// The Basic user name sent with a token when the URL names none.
const DEFAULT_TOKEN_USER: &str = "x-access-token";
/// How many times a fetch is retried when another process holds a lock in the same mirror.
const FETCH_LOCK_ATTEMPTS: u32 = 10;
/// The longest message kept from git's output in an error.
const MAX_DETAIL: usize = 1000;

/// One process-wide mutex per mirror directory: every handle on the same mirror (the
/// coordinator opens one per request, a worker shares one between its jobs) fetches into it
/// one at a time, so their `git fetch` runs never fail on each other's ref locks, and the
/// snapshot read right after a fetch is that fetch's. Processes sharing a cache directory are
/// not covered: their collisions are retried (see [`fetch`]).
static MIRROR_LOCKS: OnceLock<Mutex<HashMap<PathBuf, Arc<Mutex<()>>>>> = OnceLock::new();

/// The network remote one operation talks to.
pub(crate) struct Remote<'a> {
    /// The URL without any password.
    pub url: &'a str,
    /// The user name for Basic authentication, from the URL.
    pub user: Option<&'a str>,
    /// The token or URL password, if any.
    pub secret: Option<&'a str>,
    /// The local bare mirror.
    pub mirror: &'a Path,
}

impl Remote<'_> {
    /// `git --git-dir <mirror>` with an isolated configuration and, with a token, the header.
    fn git(&self) -> Command {
        let mut cmd = Command::new("git");
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("GIT_") {
                cmd.env_remove(key);
            }
        }
        let mut config: Vec<(String, String)> = vec![
            // An empty value resets the list: no helper may answer (or store) anything.
            ("credential.helper".to_owned(), String::new()),
            // Leave the mirror alone: its objects are written by libgit2 between commands.
            ("gc.auto".to_owned(), "0".to_owned()),
            ("maintenance.auto".to_owned(), "false".to_owned()),
        ];
        if let Some(secret) = self.secret {
            let user = self.user.unwrap_or(DEFAULT_TOKEN_USER);
            let header = format!("Authorization: Basic {}", base64(format!("{user}:{secret}").as_bytes()));
            config.push((format!("http.{}.extraHeader", self.url), header));
        }
        cmd.env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_TERMINAL_PROMPT", "0")
            .env("GIT_CONFIG_COUNT", config.len().to_string())
            .env_remove("SSH_ASKPASS");
        for (i, (key, value)) in config.into_iter().enumerate() {
            cmd.env(format!("GIT_CONFIG_KEY_{i}"), key).env(format!("GIT_CONFIG_VALUE_{i}"), value);
        }
        cmd.arg("--git-dir")
            .arg(self.mirror)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        cmd
    }

    /// Runs `cmd`; its exit status, stdout and scrubbed stderr.
    fn run(&self, mut cmd: Command) -> Result<(bool, String, String), GitError> {
        let mut child = cmd.spawn().map_err(|source| GitError::GitProgram { source })?;
        // Read stderr on a thread so neither pipe can fill up and block git.
        let mut stderr = child.stderr.take();
        let reader = std::thread::spawn(move || {
            let mut text = String::new();
            if let Some(pipe) = stderr.as_mut() {
                let _ = pipe.read_to_string(&mut text);
            }
            text
        });
        let mut stdout = String::new();
        if let Some(mut pipe) = child.stdout.take() {
            let _ = pipe.read_to_string(&mut stdout);
        }
        let status = child.wait().map_err(|source| GitError::GitProgram { source })?;
        let stderr = reader.join().unwrap_or_default();
        Ok((status.success(), self.scrub(&stdout), self.scrub(&stderr)))
    }

    /// `text` without the secret (raw or inside the Basic header), trimmed to a sane length.
    fn scrub(&self, text: &str) -> String {
        let secret = self.secret.unwrap_or("");
        let header = self
            .secret
            .map(|s| base64(format!("{}:{s}", self.user.unwrap_or(DEFAULT_TOKEN_USER)).as_bytes()))
            .unwrap_or_default();
        let mut text = scrub(text.trim(), &[&header, secret]);
        if text.len() > MAX_DETAIL {
            let mut cut = MAX_DETAIL;
            while !text.is_char_boundary(cut) {
                cut -= 1;
            }
            text.truncate(cut);
            text.push_str(" [...]");
        }
        text
    }

    /// The error for a failed command, from what git printed.
    fn failure(&self, op: &'static str, stderr: String) -> GitError {
        let lower = stderr.to_ascii_lowercase();
        let url = self.url.to_owned();
        if [
            "authentication failed",
            "could not read username",
            "could not read password",
            "error: 401",
            "error: 403",
        ]
        .iter()
        .any(|needle| lower.contains(needle))
        {
            GitError::RemoteAuth { url, detail: stderr }
        } else if lower.contains("error: 404")
            || (lower.contains("repository") && lower.contains("not found"))
        {
            GitError::NotFound(format!("remote strategies repository {url} ({stderr})"))
        } else {
            GitError::Remote { op, url, detail: stderr }
        }
    }
}

/// Fetches the remote's branches and tags into the mirror (pruning the ones it no longer has)
/// and returns them: the snapshot an attempt works from. Serialized per mirror within the
/// process; a lock held by another process on the same mirror is waited out.
pub(crate) fn fetch(remote: &Remote<'_>) -> Result<HashMap<String, Oid>, GitError> {
    let lock = {
        let registry = MIRROR_LOCKS.get_or_init(Mutex::default);
        let mut registry = registry.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        Arc::clone(registry.entry(remote.mirror.to_path_buf()).or_default())
    };
    let _turn = lock.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    for attempt in 1..=FETCH_LOCK_ATTEMPTS {
        let mut cmd = remote.git();
        cmd.args(["fetch", "--quiet", "--prune", "--no-tags", "--no-write-fetch-head", "--"])
            .arg(remote.url)
            .args(["+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*"]);
        let (ok, _, stderr) = remote.run(cmd)?;
        if ok {
            return read_refs(&Repository::open_bare(remote.mirror)?);
        }
        let busy = stderr.contains("cannot lock ref") || stderr.contains(".lock': File exists");
        if !busy || attempt == FETCH_LOCK_ATTEMPTS {
            return Err(remote.failure("fetch", stderr));
        }
        tracing::debug!(attempt, error = %stderr, "mirror busy (another process fetching); retrying");
        std::thread::sleep(Duration::from_millis(20 * u64::from(attempt)));
    }
    Err(GitError::Remote { op: "fetch", url: remote.url.to_owned(), detail: "mirror stayed busy".to_owned() })
}

/// The mirror's branches and tags.
fn read_refs(repo: &Repository) -> Result<HashMap<String, Oid>, GitError> {
    let mut refs = HashMap::new();
    for reference in repo.references()? {
        let reference = reference?;
        let (Some(name), Some(oid)) = (reference.name(), reference.target()) else {
            continue;
        };
        if name.starts_with("refs/heads/") || name.starts_with("refs/tags/") {
            refs.insert(name.to_owned(), oid);
        }
    }
    Ok(refs)
}

/// Pushes every update in one atomic push, each with a lease on the value its attempt read
/// (`None`: the ref must not exist). `Lost` when any lease failed or the remote lost a race on
/// a ref lock: nothing was changed, the attempt starts over from a fresh fetch.
pub(crate) fn push(remote: &Remote<'_>, updates: &[RefUpdate]) -> Result<Applied, GitError> {
    push_specs(
        remote,
        updates.iter().map(|u| (u.name.as_str(), u.old, Some(u.new))).collect::<Vec<_>>().as_slice(),
    )
}

/// Deletes `name` on the remote if it still points at `expected`; `Lost` otherwise.
pub(crate) fn delete(remote: &Remote<'_>, name: &str, expected: Oid) -> Result<Applied, GitError> {
    push_specs(remote, &[(name, Some(expected), None)])
}

/// `(ref, lease, new value or None to delete)` for each ref, pushed atomically.
fn push_specs(remote: &Remote<'_>, specs: &[(&str, Option<Oid>, Option<Oid>)]) -> Result<Applied, GitError> {
    let mut cmd = remote.git();
    cmd.args(["push", "--porcelain", "--atomic", "--no-verify"]);
    for (name, old, _) in specs {
        let expected = old.map(|o| o.to_string()).unwrap_or_default();
        cmd.arg(format!("--force-with-lease={name}:{expected}"));
    }
    cmd.arg("--").arg(remote.url);
    for (name, _, new) in specs {
        cmd.arg(match new {
            Some(new) => format!("{new}:{name}"),
            None => format!(":{name}"),
        });
    }
    let (ok, stdout, stderr) = remote.run(cmd)?;
    if ok {
        // Two writers can build byte-identical commits (same parents, files and second): the
        // slower one's push then finds its values already there and git reports every ref
        // "up to date" instead of checking the leases. Nothing of ours landed; say so, and
        // the next attempt reports the rival's merge as already made.
        let changed_under_us = specs.iter().any(|(_, old, new)| old != new);
        let all_up_to_date = stdout.lines().filter(|l| l.contains('\t')).all(|l| l.starts_with("=\t"));
        if changed_under_us && all_up_to_date && stdout.contains("=\t") {
            tracing::debug!("a rival pushed the very same commits first");
            return Ok(Applied::Lost);
        }
        return Ok(Applied::Done);
    }
    // Porcelain: `<flag>\t<from>:<to>\t<summary>`, `!` for a ref that was not updated.
    let rejected: Vec<(String, String)> = stdout
        .lines()
        .filter_map(|line| line.strip_prefix("!\t"))
        .map(|rest| {
            let mut fields = rest.splitn(2, '\t');
            let refspec = fields.next().unwrap_or_default();
            let refname = refspec.rsplit(':').next().unwrap_or(refspec).to_owned();
            (refname, fields.next().unwrap_or_default().to_owned())
        })
        .collect();
    if rejected.is_empty() {
        return Err(remote.failure("push", stderr));
    }
    // A lease that no longer holds (checked by the client against the advertisement), or the
    // server's transaction finding a ref changed or locked by a rival push: a lost race. The
    // server reports the latter as "atomic transaction failed" on every ref without saying
    // which one moved; a failure of another kind there (a full disk) would look the same, and
    // ends as `Contended` once the retries are spent. The client says "atomic push failed" on
    // the refs it did not send because another one was refused.
    const RACES: [&str; 7] = [
        "stale info",
        "fetch first",
        "non-fast-forward",
        "failed to update ref",
        "failed to lock",
        "cannot lock",
        "atomic transaction failed",
    ];
    let raced = rejected.iter().any(|(_, why)| RACES.iter().any(|r| why.contains(r)));
    if raced {
        tracing::debug!(?rejected, "push lost a race; starting over from a fresh fetch");
        return Ok(Applied::Lost);
    }
    let (refname, reason) = rejected
        .into_iter()
        .find(|(_, why)| !why.contains("atomic push failed"))
        .unwrap_or_else(|| (String::new(), "atomic push failed".to_owned()));
    Err(GitError::RemoteRefused { url: remote.url.to_owned(), refname, reason })
}
