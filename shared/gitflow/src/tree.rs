//! Building and reading trees without a working directory (the repository is bare).
//!
//! Layout on every branch: `strategies/<name>/{strategy.py,spec.json,results.json}`.

use git2::{ObjectType, Oid, Repository, Tree};

use super::VersionFiles;
use super::error::GitError;

/// The top-level directory holding one subdirectory per strategy.
pub(crate) const STRATEGIES_DIR: &str = "strategies";
/// Git's file mode for a directory entry.
const MODE_TREE: i32 = 0o040000;
/// Git's file mode for a regular, non-executable file.
const MODE_BLOB: i32 = 0o100644;

/// Writes the three files of a version as one directory tree and returns its id.
pub(crate) fn write_version_dir(repo: &Repository, files: &VersionFiles) -> Result<Oid, GitError> {
    let mut builder = repo.treebuilder(None)?;
    for (name, content) in [
        ("strategy.py", &files.strategy_py),
        ("spec.json", &files.spec_json),
        ("results.json", &files.results_json),
    ] {
        let blob = repo.blob(content.as_bytes())?;
        builder.insert(name, blob, MODE_BLOB)?;
    }
    Ok(builder.write()?)
}

/// The id of the tree `strategies/<name>` in `root`, if there is such a directory.
pub(crate) fn strategy_dir(repo: &Repository, root: &Tree<'_>, name: &str) -> Result<Option<Oid>, GitError> {
    let Some(strategies) = subtree(repo, root, STRATEGIES_DIR)? else {
        return Ok(None);
    };
    Ok(strategies.get_name(name).filter(|e| e.kind() == Some(ObjectType::Tree)).map(|e| e.id()))
}

/// Returns a copy of `root` (or of the empty tree) whose `strategies/<name>` is `dir`, or has
/// no such entry when `dir` is `None`. Every other entry is kept as it is.
pub(crate) fn with_strategy_dir(
    repo: &Repository,
    root: Option<&Tree<'_>>,
    name: &str,
    dir: Option<Oid>,
) -> Result<Oid, GitError> {
    let strategies = match root {
        Some(root) => subtree(repo, root, STRATEGIES_DIR)?,
        None => None,
    };
    let mut inner = repo.treebuilder(strategies.as_ref())?;
    match dir {
        Some(dir) => {
            inner.insert(name, dir, MODE_TREE)?;
        }
        None => {
            if inner.get(name)?.is_some() {
                inner.remove(name)?;
            }
        }
    }
    let mut outer = repo.treebuilder(root)?;
    if inner.is_empty() {
        if outer.get(STRATEGIES_DIR)?.is_some() {
            outer.remove(STRATEGIES_DIR)?;
        }
    } else {
        outer.insert(STRATEGIES_DIR, inner.write()?, MODE_TREE)?;
    }
    Ok(outer.write()?)
}

/// The content of `strategies/<name>/<file>` in `root`, if it is a file there.
pub(crate) fn read_strategy_file(
    repo: &Repository,
    root: &Tree<'_>,
    name: &str,
    file: &str,
) -> Result<Option<String>, GitError> {
    let Some(dir) = strategy_dir(repo, root, name)? else {
        return Ok(None);
    };
    let dir = repo.find_tree(dir)?;
    let Some(entry) = dir.get_name(file) else {
        return Ok(None);
    };
    if entry.kind() != Some(ObjectType::Blob) {
        return Ok(None);
    }
    let blob = repo.find_blob(entry.id())?;
    String::from_utf8(blob.content().to_vec())
        .map(Some)
        .map_err(|_| GitError::NotUtf8 { path: format!("{STRATEGIES_DIR}/{name}/{file}") })
}

/// The subtree called `name` directly under `tree`, if that entry is a directory.
fn subtree<'r>(repo: &'r Repository, tree: &Tree<'_>, name: &str) -> Result<Option<Tree<'r>>, GitError> {
    match tree.get_name(name) {
        Some(entry) if entry.kind() == Some(ObjectType::Tree) => Ok(Some(repo.find_tree(entry.id())?)),
        _ => Ok(None),
    }
}
