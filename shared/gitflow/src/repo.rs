//! [`StrategyRepo`]: opening (or creating) the strategies repository, and the simple reads.

use std::path::Path;

use git2::{ErrorCode, Oid, Repository, RepositoryInitOptions, Signature};

use super::credentials::RemoteCredentials;
use super::error::{GitError, is_race};
use super::location::{Location, parse_location};
use super::message::{self, Trailers};
use super::names::{check_commit_hex, check_file_name, check_strategy_name};
use super::refs::{Applied, RefUpdate, Session, pseudo_random, with_retries};
use super::tree::read_strategy_file;

/// The branch every version is merged into.
pub(crate) const MAIN_REF: &str = "refs/heads/main";

/// Who the commits and tags are by (fixed; never read from the environment's git config).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// Author, committer and tagger name.
    pub name: String,
    /// Author, committer and tagger e-mail.
    pub email: String,
}

impl Default for Identity {
    fn default() -> Self {
        Self { name: "AlgoAgent".to_owned(), email: "algoagent@localhost".to_owned() }
    }
}

/// Handle on the strategies repository. Cheap to clone and `Send + Sync`: it holds only the
/// location and the remote's credentials, and every operation opens its own libgit2 handle.
#[derive(Debug, Clone)]
pub struct StrategyRepo {
    /// Where the repository (or the remote and its mirror) lives.
    pub(crate) location: Location,
    /// Signature for new commits and tags.
    pub(crate) identity: Identity,
    /// What an `https://` remote is authenticated with (unused for other locations).
    pub(crate) credentials: RemoteCredentials,
}

impl StrategyRepo {
    /// Opens the repository at `location` (a path, or a `file://` URL mirrored under
    /// `cache_dir`), creating a bare repository (and its parent directories) when the path is
    /// missing or an empty directory, and `main` with an empty initial commit when it has none.
    /// An existing non-repository, a repository with a working tree, or an unsupported URL
    /// scheme is an error. A remote must already exist (and be bare).
    ///
    /// An `https://` remote is authenticated with the token in `STRATEGY_REPO_TOKEN_FILE`
    /// ([`RemoteCredentials::from_env`]); see [`Self::open_with_credentials`].
    pub fn open_or_init(location: &str, cache_dir: &Path) -> Result<Self, GitError> {
        Self::open_with_credentials(location, cache_dir, RemoteCredentials::from_env()?)
    }

    /// [`Self::open_or_init`] with explicit credentials for an `https://` remote. The remote is
    /// fetched once here, so an unreachable remote or a refused token fails now, not at the
    /// first merge; an empty remote gets `main` with the initial commit.
    pub fn open_with_credentials(
        location: &str,
        cache_dir: &Path,
        credentials: RemoteCredentials,
    ) -> Result<Self, GitError> {
        let location = parse_location(location, cache_dir)?;
        match &location {
            Location::Local(path) => {
                open_or_create_bare(path)?;
            }
            Location::FileRemote { url, remote_path, mirror } => {
                match Repository::open(remote_path) {
                    Ok(remote) if !remote.is_bare() => {
                        return Err(GitError::NotBare { path: remote_path.clone() });
                    }
                    Ok(_) => {}
                    Err(e) if e.code() == ErrorCode::NotFound => {
                        return Err(GitError::NotFound(format!(
                            "remote strategies repository {url} (create it with `git init --bare`)"
                        )));
                    }
                    Err(e) => return Err(e.into()),
                }
                open_or_create_bare(mirror)?;
            }
            Location::Network { url, password, mirror, .. } => {
                if password.is_some() && credentials.has_token() {
                    return Err(GitError::input(
                        "STRATEGY_REPO_TOKEN_FILE",
                        format!("STRATEGY_REPO ({url}) already carries a password; set only one of them"),
                    ));
                }
                if url.starts_with("http://") && (password.is_some() || credentials.has_token()) {
                    tracing::warn!(%url, "the strategies repository's token is sent over plain http");
                }
                open_or_create_bare(mirror)?;
            }
        }
        let repo = Self { location, identity: Identity::default(), credentials };
        repo.ensure_main()?;
        Ok(repo)
    }

    /// Uses `identity` instead of "AlgoAgent <algoagent@localhost>" for new commits and tags.
    pub fn with_identity(mut self, identity: Identity) -> Self {
        self.identity = identity;
        self
    }

    /// The local repository operated on: the repository itself, or the remote's mirror.
    pub fn git_dir(&self) -> &Path {
        match &self.location {
            Location::Local(path) => path,
            Location::FileRemote { mirror, .. } | Location::Network { mirror, .. } => mirror,
        }
    }

    /// The remote URL, when the repository is a mirror of one (never with a password).
    pub fn remote_url(&self) -> Option<&str> {
        match &self.location {
            Location::Local(_) => None,
            Location::FileRemote { url, .. } | Location::Network { url, .. } => Some(url),
        }
    }

    /// The commit `main` points at (full hex id).
    pub fn head_of_main(&self) -> Result<String, GitError> {
        Ok(main_oid(&self.session()?)?.to_string())
    }

    /// The content of `strategies/<name>/<file>` on `main`, or `None` when there is no such file.
    pub fn file_on_main(&self, name: &str, file: &str) -> Result<Option<String>, GitError> {
        check_strategy_name(name)?;
        check_file_name(file)?;
        let session = self.session()?;
        let repo = &session.repo;
        let tree = repo.find_commit(main_oid(&session)?)?.tree()?;
        read_strategy_file(repo, &tree, name, file)
    }

    /// The content of `strategies/<name>/<file>` as of `commit` (4 to 40 hex digits).
    pub fn file_at(&self, name: &str, file: &str, commit: &str) -> Result<Option<String>, GitError> {
        check_strategy_name(name)?;
        check_file_name(file)?;
        let session = self.session()?;
        let repo = &session.repo;
        let tree = find_commit_hex(repo, commit)?.tree()?;
        read_strategy_file(repo, &tree, name, file)
    }

    /// How many commits reachable from `main` are the version commit of `version_id` of
    /// `name` (`AlgoAgent-Version` and `AlgoAgent-Strategy` trailers). Exactly one after a
    /// successful merge, however often it was retried.
    pub fn count_version_commits(&self, name: &str, version_id: i64) -> Result<usize, GitError> {
        check_strategy_name(name)?;
        let session = self.session()?;
        let repo = &session.repo;
        let mut walk = repo.revwalk()?;
        walk.push(main_oid(&session)?)?;
        let mut count = 0;
        for oid in walk {
            let commit = repo.find_commit(oid?)?;
            if Trailers::parse(&String::from_utf8_lossy(commit.message_bytes())).is_version(name, version_id)
            {
                count += 1;
            }
        }
        Ok(count)
    }

    /// The signature for a commit or tag made now.
    pub(crate) fn signature(&self) -> Result<Signature<'static>, GitError> {
        Ok(Signature::now(&self.identity.name, &self.identity.email)?)
    }

    /// Creates `main` with an empty commit if the repository (or the remote) has none.
    fn ensure_main(&self) -> Result<(), GitError> {
        self.with_retries("initialize", || {
            let session = self.session()?;
            let repo = &session.repo;
            if session.ref_oid(MAIN_REF)?.is_some() {
                return Ok(Some(()));
            }
            let signature = self.signature()?;
            let empty = repo.treebuilder(None)?.write()?;
            let tree = repo.find_tree(empty)?;
            let commit = repo.commit(None, &signature, &signature, message::INITIAL_COMMIT, &tree, &[])?;
            let update = RefUpdate { name: MAIN_REF.to_owned(), old: None, new: commit };
            // Losing means someone else created main meanwhile: the next attempt sees it.
            if self.apply(repo, &[update], "initialize")? == Applied::Lost {
                return Ok(None);
            }
            tracing::info!(repo = %self.git_dir().display(), remote = self.remote_url(), "initialized strategies repository");
            Ok(Some(()))
        })?;
        if let Location::FileRemote { remote_path, .. } = &self.location {
            point_unborn_head_at_main(&Repository::open_bare(remote_path)?)?;
        }
        point_unborn_head_at_main(&Repository::open_bare(self.git_dir())?)
    }
}

/// The commit `main` points at.
pub(crate) fn main_oid(session: &Session) -> Result<Oid, GitError> {
    session
        .ref_oid(MAIN_REF)?
        .ok_or_else(|| GitError::NotFound("branch main in the strategies repository".to_owned()))
}

/// Resolves a user-given commit id (4 to 40 hex digits) to a commit.
pub(crate) fn find_commit_hex<'r>(repo: &'r Repository, commit: &str) -> Result<git2::Commit<'r>, GitError> {
    check_commit_hex(commit)?;
    let object = repo.revparse_single(commit).map_err(|e| match e.code() {
        ErrorCode::NotFound => GitError::NotFound(format!("commit {commit}")),
        ErrorCode::Ambiguous => GitError::input("commit", format!("{commit} is ambiguous")),
        _ => e.into(),
    })?;
    object.peel_to_commit().map_err(|_| GitError::NotFound(format!("commit {commit}")))
}

/// Points HEAD at `main` when it names a branch that does not exist (so clones check out main).
fn point_unborn_head_at_main(repo: &Repository) -> Result<(), GitError> {
    let head = repo.find_reference("HEAD")?;
    // (No let-chains: the workspace's rust-version is 1.85.)
    let unborn_elsewhere = match head.symbolic_target() {
        Some(target) => target != MAIN_REF && repo.refname_to_id(target).is_err(),
        None => false,
    };
    if unborn_elsewhere {
        match repo.set_head(MAIN_REF) {
            // Another process is pointing HEAD at main right now.
            Err(e) if is_race(&e) => {}
            other => other?,
        }
    }
    Ok(())
}

/// Opens the bare repository at `path`, creating it when the path is missing or an empty
/// directory; refuses anything else that is not a bare repository. Safe when several
/// processes do it at once (see [`create_bare_atomically`] and [`is_git_skeleton`]).
fn open_or_create_bare(path: &Path) -> Result<Repository, GitError> {
    let io = |source| GitError::Io { path: path.to_path_buf(), source };
    with_retries("open repository", || {
        match std::fs::metadata(path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return create_bare_atomically(path).map(Some);
            }
            Err(e) => return Err(io(e)),
            Ok(meta) if !meta.is_dir() => {
                return Err(GitError::NotARepository { path: path.to_path_buf(), source: None });
            }
            Ok(_) => {}
        }
        // `open` does not search parent directories, so a folder inside some other
        // repository's working tree is not mistaken for that repository.
        match Repository::open(path) {
            Ok(repo) if repo.is_bare() => Ok(Some(repo)),
            Ok(_) => Err(GitError::NotBare { path: path.to_path_buf() }),
            // An empty directory (a fresh volume), or one another process is initializing
            // right now: (re)initializing is idempotent. A lost lock is retried.
            Err(_) if is_git_skeleton(path).map_err(io)? => create_bare(path).map(Some),
            Err(e) => Err(GitError::NotARepository { path: path.to_path_buf(), source: Some(e) }),
        }
    })
}

/// Whether every entry of the directory is something `git init --bare` writes (or its lock
/// file): true for an empty directory and for a repository half-way through initialization.
fn is_git_skeleton(path: &Path) -> std::io::Result<bool> {
    const SKELETON: &[&str] = &[
        "HEAD",
        "config",
        "description",
        "hooks",
        "info",
        "objects",
        "refs",
        "branches",
        "logs",
        "packed-refs",
    ];
    for entry in std::fs::read_dir(path)? {
        let name = entry?.file_name();
        let name = name.to_string_lossy();
        let name = name.strip_suffix(".lock").unwrap_or(&name);
        if !SKELETON.contains(&name) {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Creates the repository in a sibling temporary directory and renames it into place, so
/// other processes see either nothing or a complete repository. Losing the rename to another
/// creator is fine: theirs is opened instead.
fn create_bare_atomically(path: &Path) -> Result<Repository, GitError> {
    let (Some(parent), Some(file_name)) = (path.parent(), path.file_name()) else {
        return create_bare(path);
    };
    let parent = if parent.as_os_str().is_empty() { Path::new(".") } else { parent };
    std::fs::create_dir_all(parent).map_err(|source| GitError::Io { path: parent.to_path_buf(), source })?;
    let tmp = parent.join(format!(
        ".{}.init-{}-{:x}",
        file_name.to_string_lossy(),
        std::process::id(),
        pseudo_random()
    ));
    drop(create_bare(&tmp)?);
    if let Err(source) = std::fs::rename(&tmp, path) {
        let _ = std::fs::remove_dir_all(&tmp);
        if !path.exists() {
            return Err(GitError::Io { path: path.to_path_buf(), source });
        }
    }
    Ok(Repository::open_bare(path)?)
}

/// Creates (or re-initializes) a bare repository whose HEAD is `main`, with missing parents.
fn create_bare(path: &Path) -> Result<Repository, GitError> {
    let mut options = RepositoryInitOptions::new();
    options.bare(true).mkdir(true).mkpath(true).initial_head("main");
    let repo = Repository::init_opts(path, &options)?;
    tracing::info!(path = %path.display(), "created bare strategies repository");
    Ok(repo)
}
