//! Dead letters (invariant 5): list, show, replay and purge, each action audited. Replay
//! puts the job back in its queue with a fresh attempt budget and resumes its run.

use algoagent_core::{JobKind, RunStatus};
use algoagent_jobs::db::dead_letters;
use algoagent_jobs::db::outbox::{self, OutboxMessage};
use algoagent_jobs::db::{DbError, jobs};
use algoagent_store::runs;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use serde::Deserialize;

use super::ApiRoutes;
use super::auth::Caller;
use super::error::ApiError;
use super::extract::{ApiJson, ApiQuery};
use crate::state::AppState;

/// Dead-letter routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .api_route("/api/dlq", get(list))
        .api_route("/api/dlq/{id}", get(show))
        .api_route("/api/dlq/{id}/replay", post(replay_one))
        .api_route("/api/dlq/{id}/purge", post(purge_one))
        .api_route("/api/dlq/replay", post(replay_many))
        .api_route("/api/dlq/purge", post(purge_many))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Filter {
    kind: Option<String>,
    reason: Option<String>,
    limit: Option<i64>,
}

fn check_kind(kind: Option<&str>) -> Result<(), ApiError> {
    if let Some(k) = kind {
        k.parse::<JobKind>().map_err(|e| {
            ApiError::client(
                StatusCode::BAD_REQUEST,
                "BAD_QUERY",
                "kind: unknown job kind",
                serde_json::Value::String(e),
            )
        })?;
    }
    Ok(())
}

async fn list(
    State(state): State<AppState>,
    ApiQuery(f): ApiQuery<Filter>,
) -> Result<Json<serde_json::Value>, ApiError> {
    check_kind(f.kind.as_deref())?;
    let rows = dead_letters::list(
        &state.pool,
        f.kind.as_deref(),
        f.reason.as_deref(),
        f.limit.unwrap_or(100).clamp(1, 1000),
    )
    .await?;
    Ok(Json(serde_json::json!({ "dead_letters": rows })))
}

fn parse_id(raw: &str) -> Result<i64, ApiError> {
    raw.parse().map_err(|_| {
        ApiError::client(
            StatusCode::BAD_REQUEST,
            "BAD_ID",
            "id: not a dead-letter id (integer expected)",
            serde_json::Value::String(raw.into()),
        )
    })
}

async fn show(
    State(state): State<AppState>,
    Path(raw): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let id = parse_id(&raw)?;
    let row = dead_letters::get(&state.pool, id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("dead letter {id}")))?;
    let history =
        algoagent_jobs::db::transitions::for_entity(&state.pool, "dead_letter", &id.to_string()).await?;
    Ok(Json(serde_json::json!({ "dead_letter": row, "transitions": history })))
}

/// Maps a database refusal to the right client error.
fn refusal(err: DbError) -> ApiError {
    match err {
        DbError::NotFound(what) => ApiError::not_found(what),
        DbError::Conflict(why) => {
            ApiError::client(StatusCode::CONFLICT, "CONFLICT", why.clone(), serde_json::Value::String(why))
        }
        other => ApiError::from(other),
    }
}

/// Replays one dead letter in one transaction: job revived, run resumed, message queued,
/// dead letter closed.
async fn replay(state: &AppState, id: i64, actor: &str) -> Result<serde_json::Value, ApiError> {
    let mut tx = state.pool.begin().await?;
    let letter = dead_letters::lock_open(&mut tx, id).await.map_err(refusal)?;
    let Some(job_id) = letter.job_id else {
        return Err(ApiError::client(
            StatusCode::CONFLICT,
            "NOT_REPLAYABLE",
            format!(
                "dead letter {id} carries no job ({}): there is nothing to replay; purge it",
                letter.reason
            ),
            serde_json::Value::String(letter.error),
        ));
    };
    let kind: JobKind = letter.kind.as_deref().unwrap_or_default().parse().map_err(|e: String| {
        ApiError::client(
            StatusCode::CONFLICT,
            "NOT_REPLAYABLE",
            format!("dead letter {id}: {e}"),
            serde_json::Value::Null,
        )
    })?;
    let details = serde_json::json!({ "replay_of_dead_letter": id });
    // A fresh budget: as many attempts again as the kind allows.
    let job = jobs::revive(&mut tx, job_id, state.settings.common.attempts_for(kind), actor, details.clone())
        .await
        .map_err(refusal)?;
    let envelope =
        job.envelope().ok_or_else(|| anyhow::anyhow!("stored payload of job {job_id} does not decode"))?;
    // A standalone kind never killed its run, so its replay does not revive one.
    if let Some(step_state) = kind.run_state()
        && let Some(run) = runs::lock(&mut tx, job.run_id).await?
        && run.status() == RunStatus::Dead
    {
        runs::advance(&mut tx, run.id, RunStatus::Dead, step_state, actor, Some(job_id), details.clone())
            .await?;
    }
    outbox::push(
        &mut tx,
        &OutboxMessage {
            exchange: state.names.jobs_exchange(),
            routing_key: kind.as_str().to_owned(),
            payload: serde_json::to_value(&envelope)?,
            // The replay belongs to the operator's request, a trace of its own.
            headers: algoagent_runtime::tracecontext::current_headers(),
        },
    )
    .await?;
    dead_letters::close(&mut tx, id, "replayed", actor, serde_json::json!({ "job_id": job_id })).await?;
    tx.commit().await?;
    tracing::info!(dead_letter = id, job_id = %job_id, "dead letter replayed");
    Ok(
        serde_json::json!({ "id": id, "status": "replayed", "job_id": job_id, "run_id": job.run_id, "kind": kind }),
    )
}

async fn purge(state: &AppState, id: i64, actor: &str) -> Result<serde_json::Value, ApiError> {
    let mut tx = state.pool.begin().await?;
    dead_letters::lock_open(&mut tx, id).await.map_err(refusal)?;
    dead_letters::close(&mut tx, id, "purged", actor, serde_json::json!({})).await?;
    tx.commit().await?;
    Ok(serde_json::json!({ "id": id, "status": "purged" }))
}

async fn replay_one(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(raw): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    Ok(Json(replay(&state, parse_id(&raw)?, &caller.actor("operator")).await?))
}

async fn purge_one(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(raw): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    Ok(Json(purge(&state, parse_id(&raw)?, &caller.actor("operator")).await?))
}

/// Which dead letters a bulk action takes: `all`, or a kind and/or reason.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Selection {
    #[serde(default)]
    all: bool,
    kind: Option<String>,
    reason: Option<String>,
}

async fn select(state: &AppState, sel: &Selection) -> Result<Vec<i64>, ApiError> {
    if !sel.all && sel.kind.is_none() && sel.reason.is_none() {
        return Err(ApiError::client(
            StatusCode::UNPROCESSABLE_ENTITY,
            "EMPTY_SELECTION",
            "say which dead letters: all, kind or reason",
            serde_json::Value::Null,
        ));
    }
    check_kind(sel.kind.as_deref())?;
    Ok(dead_letters::open_ids(&state.pool, sel.kind.as_deref(), sel.reason.as_deref()).await?)
}

async fn replay_many(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiJson(sel): ApiJson<Selection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let actor = caller.actor("operator");
    let mut done = Vec::new();
    let mut refused = Vec::new();
    for id in select(&state, &sel).await? {
        match replay(&state, id, &actor).await {
            Ok(v) => done.push(v),
            Err(e) if e.status.is_client_error() => {
                refused.push(serde_json::json!({ "id": id, "error": e.error }))
            }
            Err(e) => return Err(e),
        }
    }
    Ok(Json(serde_json::json!({ "replayed": done, "refused": refused })))
}

async fn purge_many(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiJson(sel): ApiJson<Selection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let actor = caller.actor("operator");
    let mut done = Vec::new();
    for id in select(&state, &sel).await? {
        done.push(purge(&state, id, &actor).await?);
    }
    Ok(Json(serde_json::json!({ "purged": done })))
}
