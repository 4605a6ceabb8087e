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
use serde::Deserialize;

use super::ApiRoutes;
use super::auth::Caller;
use super::error::ApiError;
use super::extract::ApiJson;
use super::lifecycle::with_repo;
use crate::state::AppState;

/// The longest age a cleanup accepts, in days (a hundred years).
const MAX_DAYS: u32 = 36_500;

/// Git maintenance routes.
pub fn router() -> Router<AppState> {
    Router::new().api_route("/api/git/cleanup", post(cleanup))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CleanupRequest {
    days: u32,
    #[serde(default)]
    dry_run: bool,
}

async fn cleanup(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiJson(req): ApiJson<CleanupRequest>,
) -> Result<Json<serde_json::Value>, ApiError> {
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
        branches.push(serde_json::json!({
            "strategy_id": id,
            "name": name,
            "branch": branch,
            "last_run_finished_at": finished,
            "outcome": word,
            "tip": tip,
        }));
    }
    Ok(Json(serde_json::json!({
        "days": req.days,
        "dry_run": req.dry_run,
        "deleted": deleted,
        "branches": branches,
    })))
}
