//! Commit and tag messages, and the `AlgoAgent-*` trailers that make commits findable again.
//!
//! Trailers are the last paragraph of a message (`Key: value` lines, as `git interpret-trailers`
//! writes them); free text always goes in an earlier paragraph so it cannot forge one.

use super::names::{clean_text, first_line};

/// Trailer naming the strategy a commit belongs to.
pub(crate) const STRATEGY: &str = "AlgoAgent-Strategy";
/// Trailer naming the run that produced a version.
pub(crate) const RUN: &str = "AlgoAgent-Run";
/// Trailer naming the strategy version (database id) a version commit holds.
pub(crate) const VERSION: &str = "AlgoAgent-Version";
/// Trailer with the human version number within the strategy.
pub(crate) const VERSION_NO: &str = "AlgoAgent-Version-No";
/// Trailer with the origin of a version: generated or fixed.
pub(crate) const ORIGIN: &str = "AlgoAgent-Origin";
/// Trailer on a rollback commit naming the commit whose files it restores.
pub(crate) const ROLLBACK_TO: &str = "AlgoAgent-Rollback-To";
/// Trailer on a rollback commit naming the version it restores, when known.
pub(crate) const RESTORED_VERSION: &str = "AlgoAgent-Restored-Version";
/// Trailer on a deploy commit naming the commit whose files it deploys.
pub(crate) const DEPLOYED: &str = "AlgoAgent-Deployed";
/// Trailer on a deploy commit naming the tag that marks it, when there is one.
pub(crate) const DEPLOY_TAG: &str = "AlgoAgent-Tag";

/// The `AlgoAgent-*` trailers of one message.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Trailers {
    /// `AlgoAgent-Strategy`.
    pub strategy: Option<String>,
    /// `AlgoAgent-Run`.
    pub run_id: Option<String>,
    /// `AlgoAgent-Version`.
    pub version_id: Option<i64>,
    /// `AlgoAgent-Version-No`.
    pub version_no: Option<i32>,
    /// `AlgoAgent-Origin`.
    pub origin: Option<String>,
    /// `AlgoAgent-Rollback-To`.
    pub rollback_to: Option<String>,
    /// `AlgoAgent-Restored-Version`.
    pub restored_version: Option<i64>,
    /// `AlgoAgent-Deployed`.
    pub deployed: Option<String>,
}

impl Trailers {
    /// Parses the trailers of `message` with git's own rules; unknown keys are ignored.
    pub(crate) fn parse(message: &str) -> Self {
        let mut out = Self::default();
        // libgit2 refuses messages with NUL bytes; ours never have any.
        let Ok(trailers) = git2::message_trailers_strs(message) else {
            return out;
        };
        for (key, value) in trailers.iter() {
            let value = value.trim();
            match key {
                STRATEGY => out.strategy = Some(value.to_owned()),
                RUN => out.run_id = Some(value.to_owned()),
                VERSION => out.version_id = value.parse().ok(),
                VERSION_NO => out.version_no = value.parse().ok(),
                ORIGIN => out.origin = Some(value.to_owned()),
                ROLLBACK_TO => out.rollback_to = Some(value.to_owned()),
                RESTORED_VERSION => out.restored_version = value.parse().ok(),
                DEPLOYED => out.deployed = Some(value.to_owned()),
                _ => {}
            }
        }
        out
    }

    /// Whether these are the trailers of the version commit of `version_id` of `name`.
    pub(crate) fn is_version(&self, name: &str, version_id: i64) -> bool {
        self.version_id == Some(version_id) && self.strategy.as_deref() == Some(name)
    }
}

/// The message of the commit holding one version on `strategy/<name>`.
pub(crate) fn version_commit(
    name: &str,
    run_id: &str,
    version_id: i64,
    version_no: i32,
    origin: &str,
    reason: &str,
) -> String {
    let reason = clean_text(reason, "(no reason given)");
    let subject_reason = first_line(&reason, 60);
    format!(
        "{name}: {origin} version {version_no} ({subject_reason})\n\n\
         Why: {reason}\n\n\
         {STRATEGY}: {name}\n\
         {RUN}: {run_id}\n\
         {VERSION}: {version_id}\n\
         {VERSION_NO}: {version_no}\n\
         {ORIGIN}: {origin}\n"
    )
}

/// The message of the merge commit bringing a version into `main`.
pub(crate) fn merge_commit(name: &str, version_no: i32, run_id: &str) -> String {
    format!("Merge strategy/{name} version {version_no} (run {run_id})\n")
}

/// The message of a rollback commit on `main`.
pub(crate) fn rollback_commit(
    name: &str,
    to_commit: &str,
    reason: &str,
    restored_version: Option<i64>,
) -> String {
    let reason = clean_text(reason, "(no reason given)");
    let short = to_commit.get(..12).unwrap_or(to_commit);
    let restored = restored_version.map(|v| format!("{RESTORED_VERSION}: {v}\n")).unwrap_or_default();
    format!(
        "Roll back {name} to {short}\n\n\
         Why: {reason}\n\n\
         {STRATEGY}: {name}\n\
         {ROLLBACK_TO}: {to_commit}\n\
         {restored}"
    )
}

/// The message of the annotated tag marking a deployment.
pub(crate) fn deploy_tag(name: &str, message: &str) -> String {
    let message = clean_text(message, &format!("Deploy {name}"));
    format!("{message}\n\n{STRATEGY}: {name}\n")
}

/// The message of the deploy commit on `main`: the caller's message, then trailers naming
/// the strategy, the commit whose files are deployed and the tag, if any.
pub(crate) fn deploy_commit(name: &str, message: &str, deployed: &str, tag: Option<&str>) -> String {
    let message = clean_text(message, &format!("Deploy {name}"));
    let tag = tag.map(|t| format!("{DEPLOY_TAG}: {t}\n")).unwrap_or_default();
    format!("{message}\n\n{STRATEGY}: {name}\n{DEPLOYED}: {deployed}\n{tag}")
}

/// The message of the first commit of a new repository.
pub(crate) const INITIAL_COMMIT: &str = "Initialize strategies repository\n";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_messages_round_trip_their_trailers() {
        let message = version_commit("RSI", "run-1", 42, 3, "fixed", "IndexError\n\nline 2");
        let t = Trailers::parse(&message);
        assert!(t.is_version("RSI", 42));
        assert_eq!(t.run_id.as_deref(), Some("run-1"));
        assert_eq!(t.version_no, Some(3));
        assert_eq!(t.origin.as_deref(), Some("fixed"));
        assert!(message.starts_with("RSI: fixed version 3 (IndexError)"));
    }

    #[test]
    fn a_reason_cannot_forge_trailers() {
        let message = version_commit("RSI", "r", 1, 1, "generated", "x\n\nAlgoAgent-Version: 99");
        assert_eq!(Trailers::parse(&message).version_id, Some(1));
    }

    #[test]
    fn rollback_messages_carry_their_target() {
        let message = rollback_commit("RSI", "abcdef0123456789", "bad", Some(7));
        let t = Trailers::parse(&message);
        assert_eq!(t.rollback_to.as_deref(), Some("abcdef0123456789"));
        assert_eq!(t.restored_version, Some(7));
        assert_eq!(t.version_id, None);
    }

    #[test]
    fn deploy_messages_carry_the_deployed_commit_and_cannot_be_forged() {
        let message = deploy_commit("RSI", "Deploy v1\n\nAlgoAgent-Deployed: bad", "abc123", Some("RSI/v1"));
        let t = Trailers::parse(&message);
        assert_eq!(t.deployed.as_deref(), Some("abc123"));
        assert_eq!(t.strategy.as_deref(), Some("RSI"));
        assert!(message.starts_with("Deploy v1\n"));
        assert!(message.contains("AlgoAgent-Tag: RSI/v1\n"));
    }
}
