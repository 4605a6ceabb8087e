//! `GET /api/jobs`: jobs, newest first, by status, kind or run; what `algoagent jobs` shows.

use algoagent_core::{JobKind, JobStatus, RunId};
use algoagent_jobs::db::jobs::JobRow;
use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::ApiRoutes;
use super::error::{ApiError, ErrorBody};
use super::extract::{ApiQuery, bad_query, page};
use crate::state::AppState;

/// Job routes.
pub fn router() -> Router<AppState> {
    Router::new().api_route("/api/jobs", get(list))
}

/// The filters and page of `GET /api/jobs`; an unknown parameter is refused.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(super) struct ListQuery {
    /// Only the jobs in this state.
    #[param(value_type = Option<JobStatus>)]
    status: Option<String>,
    /// Only the jobs of this kind.
    #[param(value_type = Option<JobKind>)]
    kind: Option<String>,
    /// Only the jobs of this run (its id).
    #[param(value_type = Option<uuid::Uuid>)]
    run: Option<String>,
    /// Page size.
    #[param(minimum = 1, maximum = 500, default = 50)]
    limit: Option<i64>,
    /// Jobs to skip.
    #[param(minimum = 0, default = 0)]
    offset: Option<i64>,
}

/// One job, as listed.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct JobItem {
    /// Job id.
    id: algoagent_core::JobId,
    /// Its run.
    run_id: RunId,
    /// The run's strategy.
    strategy_id: algoagent_core::StrategyId,
    /// Kind.
    #[schema(value_type = JobKind)]
    kind: String,
    /// State.
    #[schema(value_type = JobStatus)]
    status: String,
    /// Attempts started so far.
    attempt: i32,
    /// Attempt limit.
    max_attempts: i32,
    /// The last error.
    error: Option<String>,
    /// Created.
    created_at: DateTime<Utc>,
    /// Its current attempt started.
    started_at: Option<DateTime<Utc>>,
    /// It ended.
    finished_at: Option<DateTime<Utc>>,
}

impl From<JobRow> for JobItem {
    fn from(j: JobRow) -> Self {
        Self {
            id: j.id,
            run_id: j.run_id,
            strategy_id: j.strategy_id,
            kind: j.kind,
            status: j.status,
            attempt: j.attempt,
            max_attempts: j.max_attempts,
            error: j.error,
            created_at: j.created_at,
            started_at: j.started_at,
            finished_at: j.finished_at,
        }
    }
}

/// A page of jobs.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct JobList {
    /// Newest first.
    jobs: Vec<JobItem>,
    /// How many jobs match, over all pages.
    count: i64,
    /// The page size used.
    limit: i64,
    /// The jobs skipped.
    offset: i64,
}

/// List jobs, newest first
///
/// Filtered by `status`, `kind` and `run`, paginated by `limit` (1 to 500, default 50) and
/// `offset`; what `algoagent jobs` shows.
#[utoipa::path(
    get,
    path = "/api/jobs",
    tag = "jobs",
    operation_id = "listJobs",
    params(ListQuery),
    responses(
        (status = 200, description = "A page of jobs", body = JobList),
        (status = 400, description = "`BAD_QUERY`: an unknown or malformed parameter, or a value out of range", body = ErrorBody),
    )
)]
pub(super) async fn list(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Json<JobList>, ApiError> {
    if let Some(status) = &q.status {
        status.parse::<JobStatus>().map_err(|e| bad_query("status", e))?;
    }
    if let Some(kind) = &q.kind {
        kind.parse::<JobKind>().map_err(|e| bad_query("kind", e))?;
    }
    let run = match &q.run {
        Some(raw) => {
            Some(raw.parse::<RunId>().map_err(|_| bad_query("run", "not a run id (UUID expected)"))?)
        }
        None => None,
    };
    let (limit, offset) = page(q.limit, q.offset)?;
    let (rows, count) = algoagent_jobs::db::jobs::list(
        &state.pool,
        q.status.as_deref(),
        q.kind.as_deref(),
        run,
        limit,
        offset,
    )
    .await?;
    let jobs = rows.into_iter().map(JobItem::from).collect();
    Ok(Json(JobList { jobs, count, limit, offset }))
}
