//! Parsing `STRATEGY_REPO`: a local path, or a remote URL that gets a local bare mirror.
//!
//! Local paths and `file://` URLs are handled by libgit2 alone. `https://` (and `http://`, for
//! tests and private networks) URLs are fetched from and pushed to by the `git` program (see
//! `transport`): the workspace builds git2 without its network transports. SSH locations
//! (`ssh://`, `user@host:path`) are refused up front with [`GitError::UnsupportedRemote`]
//! rather than failing on the first push.

use std::fmt;
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
    /// Operate on a local bare mirror of an `https://` remote, fetched from and pushed to by
    /// the `git` program; every ref update is a push with a lease (compare-and-swap).
    Network {
        /// The URL without any password (safe to log; handed to `git`).
        url: String,
        /// The user name written in the URL, if any (percent-decoded).
        user: Option<String>,
        /// The password written in the URL, if any: used like a token, never shown.
        password: Option<UrlPassword>,
        /// The local bare mirror under the cache directory.
        mirror: PathBuf,
    },
}

/// A password taken out of `STRATEGY_REPO`; `Debug` shows `***`.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct UrlPassword(pub(crate) String);

impl fmt::Debug for UrlPassword {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
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
            "https" | "http" => network_location(location, scheme.len(), cache_dir),
            "ssh" | "git+ssh" | "ssh+git" => Err(GitError::UnsupportedRemote {
                url: without_password(location),
                reason: "SSH remotes are not supported; use an https:// URL with \
                         STRATEGY_REPO_TOKEN_FILE, a file:// URL or a path",
            }),
            _ => Err(GitError::UnsupportedRemote {
                url: without_password(location),
                reason: "unknown URL scheme; use an https:// URL, a file:// URL or a path",
            }),
        };
    }
    if looks_like_scp(location) {
        return Err(GitError::UnsupportedRemote {
            url: location.to_owned(),
            reason: "scp-style SSH locations (user@host:path) are not supported; use an https:// \
                     URL with STRATEGY_REPO_TOKEN_FILE, a file:// URL or a path",
        });
    }
    Ok(Location::Local(PathBuf::from(location)))
}

/// An `http(s)://[user[:password]@]host[:port]/path` location: the password comes out of the
/// URL, the mirror is named after the URL without it.
fn network_location(location: &str, scheme_len: usize, cache_dir: &Path) -> Result<Location, GitError> {
    let after_scheme = &location[scheme_len + 3..];
    let authority_end = after_scheme.find(['/', '?', '#']).unwrap_or(after_scheme.len());
    let (authority, rest) = after_scheme.split_at(authority_end);
    let (userinfo, host) = match authority.rsplit_once('@') {
        Some((userinfo, host)) => (Some(userinfo), host),
        None => (None, authority),
    };
    if host.is_empty() {
        return Err(GitError::UnsupportedRemote {
            url: without_password(location),
            reason: "the URL has no host",
        });
    }
    let malformed =
        || GitError::input("STRATEGY_REPO", "the URL's user or password has a malformed %-escape");
    let (user, password, user_raw) = match userinfo {
        None => (None, None, None),
        Some(info) => {
            let (user_raw, password) = match info.split_once(':') {
                Some((user, password)) => (user, Some(password)),
                None => (info, None),
            };
            let user = Some(percent_decode(user_raw).ok_or_else(malformed)?).filter(|u| !u.is_empty());
            let password = match password {
                Some(p) => Some(UrlPassword(percent_decode(p).ok_or_else(malformed)?)),
                None => None,
            };
            (user, password, Some(user_raw).filter(|u| !u.is_empty()))
        }
    };
    let scheme = &location[..scheme_len];
    let url = match user_raw {
        Some(user) => format!("{}://{user}@{host}{rest}", scheme.to_ascii_lowercase()),
        None => format!("{}://{host}{rest}", scheme.to_ascii_lowercase()),
    };
    let mirror = cache_dir.join(mirror_dir_name(&url));
    Ok(Location::Network { url, user, password, mirror })
}

/// `location` with any `:password` of a URL's userinfo replaced by `:***` (for messages).
pub(crate) fn without_password(location: &str) -> String {
    let Some((scheme, rest)) = location.split_once("://") else {
        return location.to_owned();
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _)) => format!("{scheme}://{user}:***@{host}{tail}"),
            None => location.to_owned(),
        },
        None => location.to_owned(),
    }
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
        match parse_location("https://bot:s3cr%40t@example.com:8443/org/strategies.git", cache) {
            Ok(Location::Network { url, user, password, mirror }) => {
                assert_eq!(url, "https://bot@example.com:8443/org/strategies.git");
                assert_eq!(user.as_deref(), Some("bot"));
                assert_eq!(password, Some(UrlPassword("s3cr@t".to_owned())));
                assert!(mirror.starts_with(cache));
                assert!(!mirror.to_string_lossy().contains("s3cr"));
            }
            other => panic!("unexpected {other:?}"),
        }
        match parse_location("HTTPS://example.com/strategies.git", cache) {
            Ok(Location::Network { url, user: None, password: None, .. }) => {
                assert_eq!(url, "https://example.com/strategies.git");
            }
            other => panic!("unexpected {other:?}"),
        }
        for unsupported in
            ["ssh://git@host/x.git", "git@github.com:x/y.git", "file://otherhost/x.git", "ftp://x/y"]
        {
            assert!(
                matches!(parse_location(unsupported, cache), Err(GitError::UnsupportedRemote { .. })),
                "{unsupported} accepted"
            );
        }
        assert!(parse_location("  ", cache).is_err());
    }

    #[test]
    fn passwords_never_reach_messages() {
        assert_eq!(without_password("https://u:p4ss@h/x.git"), "https://u:***@h/x.git");
        assert_eq!(without_password("https://u@h/x.git"), "https://u@h/x.git");
        let shown = format!("{:?}", parse_location("https://u:p4ss@h/x.git", Path::new("/c")));
        assert!(!shown.contains("p4ss"), "{shown}");
        match parse_location("ssh://u:p4ss@h/x.git", Path::new("/c")) {
            Err(e) => assert!(!e.to_string().contains("p4ss"), "{e}"),
            Ok(other) => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn mirror_names_differ_per_url() {
        assert_ne!(mirror_dir_name("file:///a/repo.git"), mirror_dir_name("file:///b/repo.git"));
    }
}
