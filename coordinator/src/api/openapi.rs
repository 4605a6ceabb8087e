//! `GET /openapi.json`: the hand-written OpenAPI 3.1 document of this API, embedded at build
//! time so the binary serves exactly the description it was built with. A test compares its
//! paths with the routes declared here, so a route cannot ship undocumented.

use axum::Router;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use axum::routing::get;

use crate::state::AppState;

/// The OpenAPI document (`coordinator/openapi.json`).
pub const DOCUMENT: &str = include_str!("../../openapi.json");

/// OpenAPI routes.
pub fn router() -> Router<AppState> {
    Router::new().route("/openapi.json", get(document))
}

async fn document() -> impl IntoResponse {
    ([(CONTENT_TYPE, "application/json")], DOCUMENT)
}
