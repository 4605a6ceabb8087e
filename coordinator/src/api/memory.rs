//! `GET /api/memory/search?q=...`: the failure memory the fix loop consults, for operators.

use algoagent_store::memory::Similar;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::ApiRoutes;
use super::error::{ApiError, ErrorBody};
use super::extract::ApiQuery;
use crate::state::AppState;

/// Memory routes.
pub fn router() -> Router<AppState> {
    Router::new().api_route("/api/memory/search", get(search))
}

/// What to search the failure memory for; an unknown parameter is refused.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(super) struct SearchQuery {
    /// An error text (findings or a traceback), 1 to 10000 characters, not only spaces, no
    /// NUL.
    #[param(
        min_length = 1,
        max_length = 10000,
        pattern = r"^[^\x00]*[^\s\x00][^\x00]*$",
        example = "ZeroDivisionError in next"
    )]
    q: String,
    /// Most hits answered (out-of-range values are clamped to 1..=50).
    #[param(default = 5)]
    limit: Option<i64>,
}

/// The past failures most like the text.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct SearchHits {
    /// Most similar first.
    results: Vec<Similar>,
}

/// Search the failure memory
///
/// The past failures most like an error text, with the fix that later passed; what the
/// fix loop consults.
#[utoipa::path(
    get,
    path = "/api/memory/search",
    tag = "memory",
    operation_id = "searchMemory",
    params(SearchQuery),
    responses(
        (status = 200, description = "The most similar failures", body = SearchHits),
        (status = 400, description = "`BAD_QUERY`: `q` missing, blank, too long or holding NUL, or an unknown or malformed parameter", body = ErrorBody),
    )
)]
pub(super) async fn search(
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<SearchQuery>,
) -> Result<Json<SearchHits>, ApiError> {
    // Postgres text cannot hold NUL, so such a text is the client's fault, not a 500.
    if query.q.trim().is_empty() || query.q.chars().count() > 10_000 || query.q.contains('\0') {
        return Err(ApiError::client(
            StatusCode::BAD_REQUEST,
            "BAD_QUERY",
            "q: give an error text of 1 to 10000 characters, without NUL",
            serde_json::Value::Null,
        ));
    }
    let hits = algoagent_store::memory::similar(&state.pool, &query.q, query.limit.unwrap_or(5).clamp(1, 50))
        .await?;
    Ok(Json(SearchHits { results: hits }))
}
