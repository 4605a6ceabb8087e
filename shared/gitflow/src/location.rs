//! Parsing `STRATEGY_REPO`: a local path, or a remote URL that gets a local bare mirror.
//!
//! The workspace builds git2 with `default-features = false`, so libgit2 has no HTTPS or SSH
//! transport: only local paths and `file://` URLs work in this build. Other schemes are refused
//! up front with [`GitError::UnsupportedRemote`] rather than failing on the first push.

use std::path::{Path, PathBuf};

use super::error::GitError;

/// Where the repository the operations write to lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Location {
    /// Operate directly on this bare repository.
    Local(PathBuf),
    /// Operate on a local bare mirror; the remote (a bare repository reachable as a path) is
    /// the source of truth and every ref update is a compare-and-swap on it.
    FileRemote {
        /// The URL as configured (used for fetch and push).
        url: String,
        /// The remote repository's path (used for compare-and-swap of its refs).
        remote_path: PathBuf,
        /// The local bare mirror under the cache directory.
        mirror: PathBuf,
    },
}

/// Classifies `location` and, for URLs, picks the mirror directory under `cache_dir`.
pub(crate) fn parse_location(location: &str, cache_dir: &Path) -> Result<Location, GitError> {
    let location = location.trim();
    if location.is_empty() {
        return Err(GitError::input("STRATEGY_REPO", "it is empty"));
    }
    if location.contains('\0') {
        return Err(GitError::input("STRATEGY_REPO", "it contains a NUL byte"));
    }
    if let Some((scheme, rest)) = location.split_once("://") {
        return match scheme.to_ascii_lowercase().as_str() {
            "file" => {
                let remote_path = file_url_path(location, rest)?;
                Ok(Location::FileRemote {
                    url: location.to_owned(),
                    remote_path,
                    mirror: cache_dir.join(mirror_dir_name(location)),
                })
            }
            "ssh" | "git+ssh" | "ssh+git" | "https" | "http" | "git" => Err(GitError::UnsupportedRemote {
                url: location.to_owned(),
                reason: "this build of git2 has no network transports (default-features = false); \
                             use a local path or a file:// URL",
            }),
            _ => Err(GitError::UnsupportedRemote {
                url: location.to_owned(),
                reason: "unknown URL scheme; use a local path or a file:// URL",
            }),
        };
    }
    if looks_like_scp(location) {
        return Err(GitError::UnsupportedRemote {
            url: location.to_owned(),
            reason: "scp-style SSH locations need the ssh transport, which this build of git2 \
                     does not have; use a local path or a file:// URL",
        });
    }
    Ok(Location::Local(PathBuf::from(location)))
}

/// `user@host:path` or `host:path` (git's scp-like syntax): a colon before the first slash.
fn looks_like_scp(location: &str) -> bool {
    match location.split_once(':') {
        Some((before, _)) => !before.is_empty() && !before.contains('/'),
        None => false,
    }
}

/// The path of a `file:///abs/path` or `file://localhost/abs/path` URL (with `%XX` decoded).
fn file_url_path(url: &str, rest: &str) -> Result<PathBuf, GitError> {
    let rest = rest.strip_prefix("localhost").unwrap_or(rest);
    if !rest.starts_with('/') {
        return Err(GitError::UnsupportedRemote {
            url: url.to_owned(),
            reason: "file:// URLs must name an absolute path on this host (file:///path/to/repo.git)",
        });
    }
    let decoded = percent_decode(rest)
        .ok_or_else(|| GitError::input("STRATEGY_REPO", format!("{url:?} has a malformed %-escape")))?;
    Ok(PathBuf::from(decoded))
}

/// Decodes `%XX` escapes; `None` when an escape is malformed or the result is not UTF-8.
fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok().filter(|d| !d.contains('\0'))
}

/// A readable, collision-resistant directory name for the mirror of `url`.
fn mirror_dir_name(url: &str) -> String {
    let tail: String = url
        .rsplit('/')
        .find(|part| !part.is_empty())
        .unwrap_or("repo")
        .trim_end_matches(".git")
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' })
        .take(40)
        .collect();
    format!("{tail}-{:016x}.git", fnv1a(url.as_bytes()))
}

/// 64-bit FNV-1a: stable across builds and platforms (unlike `DefaultHasher`).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, b| (hash ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_are_classified() {
        let cache = Path::new("/cache");
        assert_eq!(
            parse_location("/srv/strategies.git", cache).ok(),
            Some(Location::Local(PathBuf::from("/srv/strategies.git")))
        );
        match parse_location("file:///srv/my%20repo.git", cache) {
            Ok(Location::FileRemote { remote_path, mirror, .. }) => {
                assert_eq!(remote_path, PathBuf::from("/srv/my repo.git"));
                assert!(mirror.starts_with(cache));
                assert!(mirror.to_string_lossy().contains("my_20repo-"));
            }
            other => panic!("unexpected {other:?}"),
        }
        for unsupported in [
            "https://github.com/x/y.git",
            "ssh://git@host/x.git",
            "git@github.com:x/y.git",
            "file://otherhost/x.git",
            "ftp://x/y",
        ] {
            assert!(
                matches!(parse_location(unsupported, cache), Err(GitError::UnsupportedRemote { .. })),
                "{unsupported} accepted"
            );
        }
        assert!(parse_location("  ", cache).is_err());
    }

    #[test]
    fn mirror_names_differ_per_url() {
        assert_ne!(mirror_dir_name("file:///a/repo.git"), mirror_dir_name("file:///b/repo.git"));
    }
}
