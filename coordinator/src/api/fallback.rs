//! What the router answers when no handler does: an unknown path is a 404 and a known path
//! with the wrong method a 405 (axum adds the `Allow` header), both in the API's error shape
//! with codes of their own (`NO_ROUTE`, `METHOD_NOT_ALLOWED`), so a client can tell a
//! mistyped URL from a missing entity (`NOT_FOUND`).

use axum::http::{Method, StatusCode, Uri};

use super::error::ApiError;

/// The router's 404: no route has this path.
pub async fn no_route(method: Method, uri: Uri) -> ApiError {
    ApiError::client(
        StatusCode::NOT_FOUND,
        "NO_ROUTE",
        format!("no route for {method} {}", uri.path()),
        serde_json::json!({
            "method": method.as_str(),
            "path": uri.path(),
            "hint": "GET /api/ lists the API's resources; /openapi.json describes every route",
        }),
    )
}

/// The router's 405: the path exists, the method does not (see the `Allow` header).
pub async fn wrong_method(method: Method, uri: Uri) -> ApiError {
    ApiError::client(
        StatusCode::METHOD_NOT_ALLOWED,
        "METHOD_NOT_ALLOWED",
        format!("{method} is not allowed on {}; the Allow header lists the methods that are", uri.path()),
        serde_json::json!({ "method": method.as_str(), "path": uri.path() }),
    )
}
