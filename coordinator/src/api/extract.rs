//! Request extractors whose rejections come out in the [`ApiError`] shape: a body too large
//! is a 413 naming the limit, malformed JSON a 400, a body of the wrong shape (wrong type,
//! unknown or missing field) a 400 naming the field, and a bad query parameter a 400
//! naming the parameter. Invalid strategy specs are not decoded here: their 422 comes from
//! the spec validator (`ApiError::invalid_spec`).

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use super::error::ApiError;

/// The raw request body, with the size limit enforced.
pub struct Body(pub Bytes);

impl<S: Send + Sync> FromRequest<S> for Body {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match Bytes::from_request(req, state).await {
            Ok(bytes) => Ok(Self(bytes)),
            Err(rejection) => {
                let status = rejection.status();
                let code =
                    if status == StatusCode::PAYLOAD_TOO_LARGE { "BODY_TOO_LARGE" } else { "BAD_BODY" };
                Err(ApiError::client(status, code, rejection.body_text(), serde_json::Value::Null))
            }
        }
    }
}

/// A JSON body decoded into `T` (which should deny unknown fields).
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let Body(bytes) = Body::from_request(req, state).await?;
        let value: serde_json::Value = serde_json::from_slice(&bytes).map_err(|e| {
            ApiError::client(
                StatusCode::BAD_REQUEST,
                "MALFORMED_JSON",
                format!("body is not valid JSON: {e}"),
                serde_json::Value::Null,
            )
        })?;
        // serde would read an array as a struct's fields in order; every body here is an
        // object with named fields, so anything else is refused as a whole.
        if !value.is_object() {
            let msg = "the body must be a JSON object";
            return Err(ApiError::client(
                StatusCode::BAD_REQUEST,
                "INVALID_REQUEST",
                format!("request does not match the expected shape: {msg}"),
                serde_json::json!([{ "loc": [], "msg": msg, "type": "type_error" }]),
            ));
        }
        serde_path_to_error::deserialize(value).map(Self).map_err(|e| {
            let loc = location(e.path(), e.inner().to_string().as_str());
            let msg = e.inner().to_string();
            let kind = error_kind(&msg);
            let first = if loc.is_empty() { msg.clone() } else { format!("{}: {msg}", loc.join(".")) };
            ApiError::client(
                StatusCode::BAD_REQUEST,
                "INVALID_REQUEST",
                format!("request does not match the expected shape: {first}"),
                serde_json::json!([{ "loc": loc, "msg": msg, "type": kind }]),
            )
        })
    }
}

/// Query parameters decoded into `T` (which should deny unknown fields).
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or_default();
        let de = serde_urlencoded::Deserializer::new(form_urlencoded_parse(query));
        serde_path_to_error::deserialize(de).map(Self).map_err(|e| {
            let msg = e.inner().to_string();
            let loc = location(e.path(), &msg);
            let param = loc.first().cloned().unwrap_or_default();
            ApiError::client(
                StatusCode::BAD_REQUEST,
                "BAD_QUERY",
                if param.is_empty() { format!("bad query: {msg}") } else { format!("{param}: {msg}") },
                serde_json::json!([{ "loc": loc, "msg": msg, "type": error_kind(&msg) }]),
            )
        })
    }
}

/// Page size when a list is asked for without `limit`.
pub const DEFAULT_LIMIT: i64 = 50;
/// The largest page a list answers.
pub const MAX_LIMIT: i64 = 500;

/// A validated page of a list: `limit` in 1..=500 (default 50), `offset` >= 0 (default 0).
pub fn page(limit: Option<i64>, offset: Option<i64>) -> Result<(i64, i64), ApiError> {
    let limit = limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(bad_query("limit", format!("must be between 1 and {MAX_LIMIT}, got {limit}")));
    }
    let offset = offset.unwrap_or(0);
    if offset < 0 {
        return Err(bad_query("offset", format!("must be 0 or more, got {offset}")));
    }
    Ok((limit, offset))
}

/// A 400 `BAD_QUERY` naming the parameter at fault.
pub fn bad_query(param: &str, msg: impl Into<String>) -> ApiError {
    let msg = msg.into();
    ApiError::client(
        StatusCode::BAD_REQUEST,
        "BAD_QUERY",
        format!("{param}: {msg}"),
        serde_json::json!([{ "loc": [param], "msg": msg, "type": "value_error" }]),
    )
}

fn form_urlencoded_parse(query: &str) -> form_urlencoded::Parse<'_> {
    form_urlencoded::parse(query.as_bytes())
}

/// The field path of a decoding error. A missing field is reported at the level of the
/// struct that lacks it, so its name is taken from the message.
fn location(path: &serde_path_to_error::Path, msg: &str) -> Vec<String> {
    use serde_path_to_error::Segment;
    let mut loc: Vec<String> = path
        .iter()
        .filter_map(|s| match s {
            Segment::Seq { index } => Some(index.to_string()),
            Segment::Map { key } => Some(key.clone()),
            Segment::Enum { variant } => Some(variant.clone()),
            Segment::Unknown => None,
        })
        .collect();
    for prefix in ["unknown field `", "missing field `"] {
        if let Some(rest) = msg.strip_prefix(prefix)
            && let Some(end) = rest.find('`')
            && loc.last().map(String::as_str) != Some(&rest[..end])
        {
            loc.push(rest[..end].to_owned());
        }
    }
    loc
}

/// A stable `type` for a serde message, in the spirit of the spec errors' types.
fn error_kind(msg: &str) -> &'static str {
    if msg.starts_with("unknown field") {
        "extra_forbidden"
    } else if msg.starts_with("missing field") {
        "missing"
    } else if msg.starts_with("invalid type") {
        "type_error"
    } else {
        "value_error"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Inner {
        n: u32,
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Outer {
        name: String,
        inner: Option<Inner>,
    }

    fn loc_of(json: &str) -> (Vec<String>, String) {
        let value: serde_json::Value = serde_json::from_str(json).unwrap_or_default();
        let err = serde_path_to_error::deserialize::<_, Outer>(value).err().map(|e| {
            let msg = e.inner().to_string();
            (location(e.path(), &msg), msg)
        });
        err.unwrap_or_default()
    }

    #[test]
    fn a_wrong_type_an_unknown_field_and_a_missing_field_are_located() {
        assert_eq!(loc_of(r#"{"name": 5}"#).0, ["name"]);
        assert_eq!(loc_of(r#"{"name": "x", "inner": {"n": "seven"}}"#).0, ["inner", "n"]);
        assert_eq!(loc_of(r#"{"name": "x", "colour": 1}"#).0, ["colour"]);
        assert_eq!(loc_of(r#"{"inner": null}"#).0, ["name"]);
        assert_eq!(error_kind(&loc_of(r#"{"inner": null}"#).1), "missing");
    }
}
