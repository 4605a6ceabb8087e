//! Dead letters (invariant 5): list, show, replay and purge, each action audited. Replay
//! puts the job back in its queue with a fresh attempt budget and resumes its run.

use algoagent_core::{JobId, RunId};
use algoagent_core::{JobKind, RunStatus};
use algoagent_jobs::db::dead_letters;
use algoagent_jobs::db::dead_letters::DeadLetterRow;
use algoagent_jobs::db::outbox::{self, OutboxMessage};
use algoagent_jobs::db::transitions::TransitionRow;
use algoagent_jobs::db::{DbError, jobs};
use algoagent_store::runs;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::ApiRoutes;
use super::auth::Caller;
use super::error::{ApiError, ErrorBody};
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

/// Which dead letters to list; an unknown parameter is refused.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(super) struct Filter {
    /// Only the dead letters of this job kind.
    #[param(value_type = Option<JobKind>)]
    kind: Option<String>,
    /// Only those of this reason (`undecodable`, `unknown_kind`, `attempts_exhausted`,
    /// `missing_job`).
    reason: Option<String>,
    /// Most rows answered (out-of-range values are clamped to 1..=1000).
    #[param(default = 100)]
    limit: Option<i64>,
}

/// Open dead letters.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct DeadLetterList {
    /// Newest first.
    dead_letters: Vec<DeadLetterRow>,
}

/// One dead letter and its history.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct DeadLetterDetail {
    /// The dead letter.
    dead_letter: DeadLetterRow,
    /// Its audited transitions (replayed, purged), oldest first.
    transitions: Vec<TransitionRow>,
}

/// What replaying one dead letter did.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct Replayed {
    /// The dead letter.
    id: i64,
    /// Always `replayed`.
    #[schema(pattern = "^replayed$")]
    status: &'static str,
    /// The revived job.
    job_id: JobId,
    /// Its run.
    run_id: RunId,
    /// Its kind.
    kind: JobKind,
}

/// What purging one dead letter did.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct Purged {
    /// The dead letter.
    id: i64,
    /// Always `purged`.
    #[schema(pattern = "^purged$")]
    status: &'static str,
}

/// A dead letter a bulk replay could not replay.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct Refused {
    /// The dead letter.
    id: i64,
    /// Why (as the single replay's error says).
    error: String,
}

/// What a bulk replay did.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct ReplayResult {
    /// The dead letters replayed.
    replayed: Vec<Replayed>,
    /// Those refused (nothing to replay, already closed).
    refused: Vec<Refused>,
}

/// What a bulk purge did.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct PurgeResult {
    /// The dead letters purged.
    purged: Vec<Purged>,
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

/// List open dead letters
///
/// Newest first, filtered by `kind` and `reason`.
#[utoipa::path(
    get,
    path = "/api/dlq",
    tag = "dlq",
    operation_id = "listDeadLetters",
    params(Filter),
    responses(
        (status = 200, description = "Open dead letters", body = DeadLetterList),
        (status = 400, description = "`BAD_QUERY`: an unknown kind, or an unknown or malformed parameter", body = ErrorBody),
    )
)]
pub(super) async fn list(
    State(state): State<AppState>,
    ApiQuery(f): ApiQuery<Filter>,
) -> Result<Json<DeadLetterList>, ApiError> {
    check_kind(f.kind.as_deref())?;
    let rows = dead_letters::list(
        &state.pool,
        f.kind.as_deref(),
        f.reason.as_deref(),
        f.limit.unwrap_or(100).clamp(1, 1000),
    )
    .await?;
    Ok(Json(DeadLetterList { dead_letters: rows }))
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

/// Show one dead letter and its history
#[utoipa::path(
    get,
    path = "/api/dlq/{id}",
    tag = "dlq",
    operation_id = "showDeadLetter",
    params(("id" = i64, Path, description = "Dead-letter id")),
    responses(
        (status = 200, description = "The dead letter", body = DeadLetterDetail),
        (status = 400, description = "`BAD_ID`: not an integer", body = ErrorBody),
        (status = 404, description = "`NOT_FOUND`: no such dead letter", body = ErrorBody),
    )
)]
pub(super) async fn show(
    State(state): State<AppState>,
    Path(raw): Path<String>,
) -> Result<Json<DeadLetterDetail>, ApiError> {
    let id = parse_id(&raw)?;
    let row = dead_letters::get(&state.pool, id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("dead letter {id}")))?;
    let history =
        algoagent_jobs::db::transitions::for_entity(&state.pool, "dead_letter", &id.to_string()).await?;
    Ok(Json(DeadLetterDetail { dead_letter: row, transitions: history }))
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
async fn replay(state: &AppState, id: i64, actor: &str) -> Result<Replayed, ApiError> {
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
    Ok(Replayed { id, status: "replayed", job_id, run_id: job.run_id, kind })
}

async fn purge(state: &AppState, id: i64, actor: &str) -> Result<Purged, ApiError> {
    let mut tx = state.pool.begin().await?;
    dead_letters::lock_open(&mut tx, id).await.map_err(refusal)?;
    dead_letters::close(&mut tx, id, "purged", actor, serde_json::json!({})).await?;
    tx.commit().await?;
    Ok(Purged { id, status: "purged" })
}

/// Replay one dead letter
///
/// The job goes back to its queue with a fresh attempt budget and its run resumes, in one
/// transaction, audited.
#[utoipa::path(
    post,
    path = "/api/dlq/{id}/replay",
    tag = "dlq",
    operation_id = "replayDeadLetter",
    params(("id" = i64, Path, description = "Dead-letter id")),
    responses(
        (status = 200, description = "Replayed", body = Replayed),
        (status = 400, description = "`BAD_ID`: not an integer", body = ErrorBody),
        (status = 404, description = "`NOT_FOUND`: no such dead letter", body = ErrorBody),
        (status = 409, description = "`CONFLICT`: already replayed or purged; `NOT_REPLAYABLE`: it carries no job", body = ErrorBody),
    )
)]
pub(super) async fn replay_one(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(raw): Path<String>,
) -> Result<Json<Replayed>, ApiError> {
    Ok(Json(replay(&state, parse_id(&raw)?, &caller.actor("operator")).await?))
}

/// Purge one dead letter
///
/// Closed without replaying, audited.
#[utoipa::path(
    post,
    path = "/api/dlq/{id}/purge",
    tag = "dlq",
    operation_id = "purgeDeadLetter",
    params(("id" = i64, Path, description = "Dead-letter id")),
    responses(
        (status = 200, description = "Purged", body = Purged),
        (status = 400, description = "`BAD_ID`: not an integer", body = ErrorBody),
        (status = 404, description = "`NOT_FOUND`: no such dead letter", body = ErrorBody),
        (status = 409, description = "`CONFLICT`: already replayed or purged", body = ErrorBody),
    )
)]
pub(super) async fn purge_one(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(raw): Path<String>,
) -> Result<Json<Purged>, ApiError> {
    Ok(Json(purge(&state, parse_id(&raw)?, &caller.actor("operator")).await?))
}

/// Which dead letters a bulk action takes: `all`, or a kind and/or reason.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct Selection {
    /// Every open dead letter.
    #[serde(default)]
    all: bool,
    /// Those of this job kind.
    #[schema(value_type = Option<JobKind>)]
    kind: Option<String>,
    /// Those of this reason.
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

/// Replay the selected dead letters
///
/// `all`, or those of a `kind` and/or `reason`; each is replayed on its own, and those that
/// cannot be are listed as refused.
#[utoipa::path(
    post,
    path = "/api/dlq/replay",
    tag = "dlq",
    operation_id = "replayDeadLetters",
    request_body = Selection,
    responses(
        (status = 200, description = "What was replayed and what was refused", body = ReplayResult),
        (status = 400, description = "`MALFORMED_JSON`, `INVALID_REQUEST` (wrong shape), `BAD_QUERY` (unknown kind) or `BAD_BODY`", body = ErrorBody),
        (status = 422, description = "`EMPTY_SELECTION`: none of all, kind, reason", body = ErrorBody),
    )
)]
pub(super) async fn replay_many(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiJson(sel): ApiJson<Selection>,
) -> Result<Json<ReplayResult>, ApiError> {
    let actor = caller.actor("operator");
    let mut done = Vec::new();
    let mut refused = Vec::new();
    for id in select(&state, &sel).await? {
        match replay(&state, id, &actor).await {
            Ok(v) => done.push(v),
            Err(e) if e.status.is_client_error() => refused.push(Refused { id, error: e.error }),
            Err(e) => return Err(e),
        }
    }
    Ok(Json(ReplayResult { replayed: done, refused }))
}

/// Purge the selected dead letters
///
/// `all`, or those of a `kind` and/or `reason`.
#[utoipa::path(
    post,
    path = "/api/dlq/purge",
    tag = "dlq",
    operation_id = "purgeDeadLetters",
    request_body = Selection,
    responses(
        (status = 200, description = "What was purged", body = PurgeResult),
        (status = 400, description = "`MALFORMED_JSON`, `INVALID_REQUEST` (wrong shape), `BAD_QUERY` (unknown kind) or `BAD_BODY`", body = ErrorBody),
        (status = 404, description = "`NOT_FOUND`: a selected dead letter went away meanwhile", body = ErrorBody),
        (status = 409, description = "`CONFLICT`: a selected dead letter was closed meanwhile", body = ErrorBody),
        (status = 422, description = "`EMPTY_SELECTION`: none of all, kind, reason", body = ErrorBody),
    )
)]
pub(super) async fn purge_many(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiJson(sel): ApiJson<Selection>,
) -> Result<Json<PurgeResult>, ApiError> {
    let actor = caller.actor("operator");
    let mut done = Vec::new();
    for id in select(&state, &sel).await? {
        done.push(purge(&state, id, &actor).await?);
    }
    Ok(Json(PurgeResult { purged: done }))
}
