//! API keys with roles (`X-API-Key`): viewer reads and uses the validate-* checks, submitter
//! also submits and cancels runs, operator also deploys, rolls back, handles dead letters and
//! cleans up git branches. Liveness, metrics, the OpenAPI document and its page stay public.
//!
//! `API_AUTH=auto` (the default) closes the API as soon as one key exists; until then a
//! fresh developer machine works without keys. `required` closes it even before any key
//! exists; `off` leaves it to a trusted network in front.

use crate::settings::ApiAuth;
use algoagent_store::api_keys::{self, Role};
use axum::extract::{Request, State};
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::error::ApiError;
use crate::state::AppState;

/// Who made a request: the name of the API key it carried, when keys are checked. Handlers
/// record it as the actor of the transitions they write.
#[derive(Debug, Clone, Default)]
pub struct Caller(Option<String>);

impl Caller {
    /// `base` (`api`, `operator`) qualified with the key's name: `operator:on-call`.
    pub fn actor(&self, base: &str) -> String {
        match &self.0 {
            Some(name) => format!("{base}:{name}"),
            None => base.to_owned(),
        }
    }
}

/// The role a request needs, or `None` for the public routes. Every API path is routed
/// with and without its trailing slash, so the decision is taken on the path without it.
pub fn required_role(method: &Method, path: &str) -> Option<Role> {
    let path = match path.trim_end_matches('/') {
        "" => "/",
        trimmed => trimmed,
    };
    let public = path == "/health"
        || path == "/metrics"
        || path == "/openapi.json"
        || path == "/docs"
        || (path.starts_with("/api/production/") && path.ends_with("/health"));
    if public && method == Method::GET {
        return None;
    }
    let post = method == Method::POST;
    let production_write = path.starts_with("/api/production/strategies/")
        && (path.ends_with("/deploy") || path.ends_with("/rollback"));
    if path.starts_with("/api/dlq") || path.starts_with("/api/git/") || (post && production_write) {
        Some(Role::Operator)
    } else if post
        && (path == "/api/runs"
            || (path.starts_with("/api/runs/") && path.ends_with("/cancel"))
            || path.starts_with("/api/production/strategies/sandbox-test")
            || path.starts_with("/api/production/backtests/run-sandbox"))
    {
        Some(Role::Submitter)
    } else {
        Some(Role::Viewer)
    }
}

/// Middleware: refuses a request whose key is missing, unknown, revoked (401) or whose role
/// is too low for the route (403), before any handler reads its body.
pub async fn authorize(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    // The request body is not `Sync`, so only owned parts of it cross the awaits below.
    let needed = required_role(request.method(), request.uri().path());
    let key = request.headers().get("x-api-key").and_then(|v| v.to_str().ok()).map(str::to_owned);
    match check(&state, needed, key.as_deref()).await {
        Ok(caller) => {
            request.extensions_mut().insert(caller);
            next.run(request).await
        }
        Err(err) => err.into_response(),
    }
}

async fn check(state: &AppState, needed: Option<Role>, key: Option<&str>) -> Result<Caller, ApiError> {
    let Some(needed) = needed else { return Ok(Caller::default()) };
    match state.settings.api_auth {
        ApiAuth::Off => return Ok(Caller::default()),
        ApiAuth::Auto if !api_keys::any_active(&state.pool).await? => return Ok(Caller::default()),
        ApiAuth::Auto | ApiAuth::Required => {}
    }
    let unauthenticated = |why: &str| {
        ApiError::client(
            StatusCode::UNAUTHORIZED,
            "UNAUTHENTICATED",
            format!("{why}; send a key in the X-API-Key header"),
            serde_json::json!({ "header": "X-API-Key", "needs_role": needed.as_str() }),
        )
    };
    let Some(key) = key else { return Err(unauthenticated("this route needs an API key")) };
    let Some((name, role)) = api_keys::lookup(&state.pool, key).await? else {
        return Err(unauthenticated("unknown or revoked API key"));
    };
    if role < needed {
        return Err(ApiError::client(
            StatusCode::FORBIDDEN,
            "FORBIDDEN",
            format!("this route needs the {} role; key '{name}' is a {}", needed.as_str(), role.as_str()),
            serde_json::json!({ "key": name, "role": role.as_str(), "needs_role": needed.as_str() }),
        ));
    }
    Ok(Caller(Some(name)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_map_to_the_roles_of_the_design() {
        let get = Method::GET;
        let post = Method::POST;
        assert_eq!(required_role(&get, "/health"), None);
        assert_eq!(required_role(&get, "/metrics"), None);
        assert_eq!(required_role(&get, "/docs"), None);
        assert_eq!(required_role(&get, "/api/production/backtests/health/"), None);
        assert_eq!(required_role(&post, "/health"), Some(Role::Viewer));
        assert_eq!(required_role(&get, "/api/runs"), Some(Role::Viewer));
        assert_eq!(required_role(&post, "/api/production/strategies/validate-code/"), Some(Role::Viewer));
        assert_eq!(required_role(&post, "/api/runs"), Some(Role::Submitter));
        assert_eq!(required_role(&post, "/api/runs/abc/cancel"), Some(Role::Submitter));
        assert_eq!(required_role(&get, "/api/dlq"), Some(Role::Operator));
        assert_eq!(required_role(&post, "/api/dlq/replay"), Some(Role::Operator));
        assert_eq!(required_role(&post, "/api/production/strategies/7/deploy/"), Some(Role::Operator));
        assert_eq!(required_role(&post, "/api/production/strategies/7/rollback/"), Some(Role::Operator));
        assert_eq!(required_role(&get, "/api/production/strategies/7/lifecycle/"), Some(Role::Viewer));
        assert_eq!(required_role(&post, "/api/git/cleanup"), Some(Role::Operator));
        assert_eq!(required_role(&post, "/api/production/strategies/sandbox-test/"), Some(Role::Submitter));
        assert_eq!(required_role(&post, "/api/production/backtests/run-sandbox/"), Some(Role::Submitter));
        assert_eq!(required_role(&get, "/api/production/backtests/run-sandbox/x/"), Some(Role::Viewer));
        assert_eq!(required_role(&post, "/api/git/cleanup/"), Some(Role::Operator));
    }

    #[test]
    fn both_spellings_of_a_path_need_the_same_role() {
        let get = Method::GET;
        let post = Method::POST;
        assert_eq!(required_role(&post, "/api/runs/"), Some(Role::Submitter));
        assert_eq!(required_role(&post, "/api/runs/abc/cancel/"), Some(Role::Submitter));
        assert_eq!(required_role(&get, "/api/dlq/"), Some(Role::Operator));
        assert_eq!(required_role(&post, "/api/production/strategies/7/deploy"), Some(Role::Operator));
        assert_eq!(required_role(&post, "/api/production/strategies/7/rollback"), Some(Role::Operator));
        assert_eq!(required_role(&get, "/api/production/backtests/health"), None);
        assert_eq!(required_role(&get, "/health/"), None);
        assert_eq!(required_role(&get, "/api/"), Some(Role::Viewer));
        assert_eq!(required_role(&get, "/"), Some(Role::Viewer));
    }
}
