//! Operator maintenance of the strategies repository: `POST /api/git/cleanup` deletes the
//! `strategy/<name>` branches of strategies whose runs failed more than `days` days ago and
//! of which nothing was ever merged (in the database and in git), each deletion audited.

use algoagent_core::StrategyId;
use algoagent_gitflow::BranchCleanup;
use algoagent_jobs::db::transitions::{self, Transition};
use axum::extract::State;
use axum::routing::post;
use axum::{Extension, Json, Router};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::ApiRoutes;
use super::auth::Caller;
use super::error::{ApiError, ErrorBody};
use super::extract::ApiJson;
use super::lifecycle::with_repo;
use crate::state::AppState;

/// The longest age a cleanup accepts, in days (a hundred years).
const MAX_DAYS: u32 = 36_500;

/// Git maintenance routes.
pub fn router() -> Router<AppState> {
    Router::new().api_route("/api/git/cleanup", post(cleanup))
}

/// Which branches to clean up.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct CleanupRequest {
    /// How long ago the strategy's last run must have finished, in days (at most 36500).
    #[schema(maximum = 36500)]
    #[serde(deserialize_with = "whole_number")]
    days: u32,
    /// Only say what would be deleted.
    #[serde(default)]
    dry_run: bool,
}

/// A count as JSON Schema's `integer` means it: `640` or `640.0`, not `640.5` or `-1`.
fn whole_number<'de, D: serde::Deserializer<'de>>(de: D) -> Result<u32, D::Error> {
    let n = f64::deserialize(de)?;
    if n.fract() == 0.0 && (0.0..=f64::from(u32::MAX)).contains(&n) {
        Ok(n as u32)
    } else {
        Err(serde::de::Error::custom(format!("expected a whole number from 0 to {}, got {n}", u32::MAX)))
    }
}

/// One strategy branch considered.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct BranchOutcome {
    /// The strategy.
    strategy_id: StrategyId,
    /// Its name.
    name: String,
    /// `strategy/<name>`.
    branch: String,
    /// When its last run finished.
    last_run_finished_at: Option<DateTime<Utc>>,
    /// `deleted`, `would_delete`, `kept_merged`, `kept_moved` or `absent`.
    #[schema(pattern = "^(deleted|would_delete|kept_merged|kept_moved|absent)$")]
    outcome: &'static str,
    /// The branch's tip commit, when it exists.
    tip: Option<String>,
}

/// What a cleanup did.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct CleanupResult {
    /// The age asked for.
    days: u32,
    /// Nothing was deleted.
    dry_run: bool,
    /// How many branches were deleted.
    deleted: usize,
    /// Every candidate strategy's branch and what became of it.
    branches: Vec<BranchOutcome>,
}

/// Delete stale strategy branches
///
/// Deletes the `strategy/<name>` branches of strategies whose runs failed more than `days`
/// days ago and of which nothing was ever merged, each deletion audited.
#[utoipa::path(
    post,
    path = "/api/git/cleanup",
    tag = "git",
    operation_id = "gitCleanup",
    request_body = CleanupRequest,
    responses(
        (status = 200, description = "What became of each candidate branch", body = CleanupResult),
        (status = 400, description = "`MALFORMED_JSON`, `INVALID_REQUEST` (wrong shape, `days` over 36500), `INVALID_GIT_INPUT` or `BAD_BODY`", body = ErrorBody),
        (status = 404, description = "`NOT_FOUND`: a git object went away meanwhile", body = ErrorBody),
        (status = 409, description = "`GIT_CONFLICT`: the repository refused the change", body = ErrorBody),
    )
)]
pub(super) async fn cleanup(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiJson(req): ApiJson<CleanupRequest>,
) -> Result<Json<CleanupResult>, ApiError> {
    if req.days > MAX_DAYS {
        return Err(ApiError::invalid_field("days", &format!("at most {MAX_DAYS}")));
    }
    // Every run over, none of them merged (or deployed, rolled back), at least one failed
    // or dead, and the last one finished more than `days` days ago.
    let candidates: Vec<(StrategyId, String, Option<DateTime<Utc>>)> = sqlx::query_as(
        "SELECT s.id, s.name, max(r.finished_at)
           FROM strategies s JOIN runs r ON r.strategy_id = s.id
          GROUP BY s.id, s.name
         HAVING bool_and(r.status IN ('failed', 'dead', 'cancelled'))
            AND bool_or(r.status IN ('failed', 'dead'))
            AND max(r.finished_at) < now() - make_interval(days => $1)
          ORDER BY s.name",
    )
    .bind(i32::try_from(req.days).unwrap_or(i32::MAX))
    .fetch_all(&state.pool)
    .await?;
    let actor = caller.actor("operator");
    let mut branches = Vec::with_capacity(candidates.len());
    let mut deleted = 0usize;
    for (id, name, finished) in candidates {
        let (n, dry_run) = (name.clone(), req.dry_run);
        let outcome = with_repo(&state, move |repo| repo.delete_unmerged_branch(&n, dry_run)).await?;
        let branch = format!("strategy/{name}");
        let (word, tip) = match &outcome {
            BranchCleanup::Deleted { tip } if req.dry_run => ("would_delete", Some(tip.clone())),
            BranchCleanup::Deleted { tip } => ("deleted", Some(tip.clone())),
            BranchCleanup::Merged { tip } => ("kept_merged", Some(tip.clone())),
            BranchCleanup::Moved => ("kept_moved", None),
            BranchCleanup::Absent => ("absent", None),
        };
        if word == "deleted" {
            deleted += 1;
            let mut tx = state.pool.begin().await?;
            transitions::record(
                &mut tx,
                &Transition {
                    entity_type: "branch",
                    entity_id: branch.clone(),
                    from: Some("unmerged".into()),
                    to: "deleted".into(),
                    actor: actor.clone(),
                    job_id: None,
                    details: serde_json::json!({
                        "strategy_id": id, "tip": tip, "days": req.days, "last_run_finished_at": finished,
                    }),
                },
            )
            .await?;
            tx.commit().await?;
        }
        branches.push(BranchOutcome {
            strategy_id: id,
            name,
            branch,
            last_run_finished_at: finished,
            outcome: word,
            tip,
        });
    }
    Ok(Json(CleanupResult { days: req.days, dry_run: req.dry_run, deleted, branches }))
}
