//! Request extractors: body, path and query wrappers that answer in our error shape, and the
//! authentication and authorization extractors every protected route goes through.

use axum::{
    body::Bytes,
    extract::{FromRequest, FromRequestParts, Request, rejection::BytesRejection},
    http::{HeaderMap, StatusCode, header, request::Parts},
};
use serde::de::DeserializeOwned;
use uuid::Uuid;

use crate::{
    core::error::{ApiError, ErrorCode},
    models::{Caller, TagId, TaskId, UserId},
    routers::state::AppState,
};

/// A JSON body. Wrong content type → 415, over 64 KiB → 413, malformed JSON, wrong types,
/// missing or unknown fields → 422 naming the field.
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !has_content_type(req.headers(), is_json) {
            return Err(ErrorCode::UnsupportedMediaType.into());
        }
        let bytes = Bytes::from_request(req, state).await.map_err(body_error)?;
        parse_json(&bytes).map(ApiJson)
    }
}

/// Parses a JSON document, naming the offending field on failure.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    // Derived structs also accept a JSON array of their fields in order; the API's bodies are
    // objects only.
    let first = bytes.iter().find(|b| !b.is_ascii_whitespace());
    if first.is_some_and(|&b| b != b'{') {
        return Err(ApiError::validation(
            "body",
            "The request body must be a JSON object.",
        ));
    }
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
        let inner = error.inner();
        if inner.is_syntax() || inner.is_eof() {
            return ApiError::validation("body", "The request body is not valid JSON.");
        }
        data_error(&error.path().to_string(), &inner.to_string())
    })?;
    // Anything after the document (a second object, stray text) makes the body malformed.
    deserializer
        .end()
        .map_err(|_| ApiError::validation("body", "The request body is not valid JSON."))?;
    Ok(value)
}

/// Parses an `application/x-www-form-urlencoded` body, naming the offending field on failure.
pub fn parse_form<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let deserializer = serde_urlencoded::Deserializer::new(form_urlencoded::parse(bytes));
    serde_path_to_error::deserialize(deserializer)
        .map_err(|error| data_error(&error.path().to_string(), &error.inner().to_string()))
}

/// Turns a serde data error at `path` into a 422 with a clean sentence: no line numbers and no
/// internal type names.
fn data_error(path: &str, message: &str) -> ApiError {
    let message = message.split(" at line ").next().unwrap_or(message);
    let prefix = if path == "." || path.is_empty() {
        String::new()
    } else {
        format!("{path}.")
    };
    for (start, problem) in [
        ("missing field `", "is required"),
        ("duplicate field `", "appears more than once"),
    ] {
        if let Some(name) = between_backticks(message, start) {
            let field = format!("{prefix}{name}");
            return ApiError::validation(field.clone(), format!("The field `{field}` {problem}."));
        }
    }
    if let Some(name) = between_backticks(message, "unknown field `") {
        // Here the path already ends with the unknown key.
        let field = if prefix.is_empty() { name } else { path };
        return ApiError::validation(
            field.to_owned(),
            format!("The field `{field}` is not allowed here."),
        );
    }
    if prefix.is_empty() {
        return ApiError::validation("body", "The request body must be a JSON object.");
    }
    let leaks_internals = [
        "struct ", "enum ", "tuple", "newtype", "::", "map", "i8", "i16", "i32", "i64", "u8",
        "u16", "u32", "u64", "f32", "f64", "usize",
    ]
    .iter()
    .any(|word| message.contains(word));
    let detail = if leaks_internals {
        format!("The field `{path}` has an invalid value.")
    } else {
        format!("The field `{path}` has an invalid value: {message}.")
    };
    ApiError::validation(path.to_owned(), detail)
}

fn between_backticks<'a>(message: &'a str, start: &str) -> Option<&'a str> {
    message.strip_prefix(start)?.split('`').next()
}

/// Maps a failure to read the body: over the limit is 413, anything else a 422.
pub fn body_error(rejection: BytesRejection) -> ApiError {
    if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ErrorCode::PayloadTooLarge.into()
    } else {
        ApiError::validation("body", "The request body could not be read.")
    }
}

fn is_json(mime: &str) -> bool {
    mime == "application/json" || (mime.starts_with("application/") && mime.ends_with("+json"))
}

/// Whether the request's `Content-Type` (without parameters) satisfies `accept`.
pub fn has_content_type(headers: &HeaderMap, accept: impl Fn(&str) -> bool) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|mime| accept(&mime.trim().to_ascii_lowercase()))
        .unwrap_or(false)
}

/// The authenticated caller: a valid, unexpired access token. Whether its session is still live
/// is checked by the store in the same unit of work that serves the request ([`Caller`]).
#[derive(Clone, Debug)]
pub struct AuthUser {
    pub caller: Caller,
    /// When the access token expires (Unix seconds).
    pub token_expires_at: i64,
}

impl FromRequestParts<AppState> for AuthUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        if let Some(user) = parts.extensions.get::<AuthUser>() {
            return Ok(user.clone());
        }
        let token = bearer_token(&parts.headers)?;
        let user = authenticate(state, token)?;
        parts.extensions.insert(user.clone());
        Ok(user)
    }
}

/// The token in `Authorization: Bearer …`.
fn bearer_token(headers: &HeaderMap) -> Result<&str, ApiError> {
    // Two Authorization headers are ambiguous: refuse rather than pick one.
    if headers
        .get_all(header::AUTHORIZATION)
        .iter()
        .nth(1)
        .is_some()
    {
        return Err(ErrorCode::InvalidToken.into());
    }
    let value = headers
        .get(header::AUTHORIZATION)
        .ok_or(ErrorCode::MissingToken)?
        .to_str()
        .map_err(|_| ErrorCode::InvalidToken)?;
    let (scheme, token) = value.split_once(' ').ok_or(ErrorCode::InvalidToken)?;
    if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
        return Err(ErrorCode::InvalidToken.into());
    }
    Ok(token.trim())
}

/// Verifies an access token (its session is checked where the request's work is done).
pub fn authenticate(state: &AppState, token: &str) -> Result<AuthUser, ApiError> {
    let claims = state.auth.authenticate(token)?;
    let user_id = UserId::from(claims.sub);
    tracing::Span::current().record("user_id", tracing::field::display(user_id));
    let caller = Caller {
        user_id,
        session_id: claims.sid,
    };
    Ok(AuthUser {
        caller,
        token_expires_at: claims.exp,
    })
}

/// The caller, proven to be the user named by the path's `{user_id}`: a foreign id is 403 and
/// a malformed one 422, before any handler code runs. Every route under `/users/{user_id}`
/// takes this, so a handler cannot forget the check.
#[derive(Clone, Debug)]
pub struct UserScope(pub AuthUser);

impl UserScope {
    pub fn user_id(&self) -> UserId {
        self.0.caller.user_id
    }

    pub fn caller(&self) -> Caller {
        self.0.caller
    }
}

impl FromRequestParts<AppState> for UserScope {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let user = AuthUser::from_request_parts(parts, state).await?;
        let raw = path_param(parts, state, "user_id").await?;
        let path_user = Uuid::parse_str(&raw)
            .map_err(|_| ApiError::validation("user_id", "The user id must be a UUID."))?;
        if path_user != user.caller.user_id.as_uuid() {
            return Err(ErrorCode::Forbidden.into());
        }
        Ok(UserScope(user))
    }
}

/// [`UserScope`] for the event stream, whose token may also come as the `access_token` query
/// parameter: a browser's `EventSource` cannot send headers. A header, when present, wins.
/// (Query strings are never logged, so the token does not end up in logs.)
#[derive(Clone, Debug)]
pub struct StreamScope(pub UserScope);

impl FromRequestParts<AppState> for StreamScope {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        if !parts.headers.contains_key(header::AUTHORIZATION) {
            let token = parts.uri.query().and_then(|query| {
                form_urlencoded::parse(query.as_bytes())
                    .find(|(key, _)| key == "access_token")
                    .map(|(_, token)| token.into_owned())
            });
            if let Some(token) = token {
                let user = authenticate(state, token.trim())?;
                parts.extensions.insert(user);
            }
        }
        UserScope::from_request_parts(parts, state).await.map(Self)
    }
}

/// The `{task_id}` of the path; not a whole number → 422.
#[derive(Clone, Copy, Debug)]
pub struct TaskIdPath(pub TaskId);

impl FromRequestParts<AppState> for TaskIdPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        id_param(parts, state, "task_id")
            .await
            .map(|id| Self(TaskId::from(id)))
    }
}

/// The `{tag_id}` of the path; not a whole number → 422.
#[derive(Clone, Copy, Debug)]
pub struct TagIdPath(pub TagId);

impl FromRequestParts<AppState> for TagIdPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        id_param(parts, state, "tag_id")
            .await
            .map(|id| Self(TagId::from(id)))
    }
}

/// The `{status_id}` of the path; not a whole number → 422.
#[derive(Clone, Copy, Debug)]
pub struct StatusIdPath(pub i64);

impl FromRequestParts<AppState> for StatusIdPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        id_param(parts, state, "status_id").await.map(Self)
    }
}

/// The `{priority_id}` of the path; not a whole number → 422.
#[derive(Clone, Copy, Debug)]
pub struct PriorityIdPath(pub i64);

impl FromRequestParts<AppState> for PriorityIdPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        id_param(parts, state, "priority_id").await.map(Self)
    }
}

async fn id_param(
    parts: &mut Parts,
    state: &AppState,
    name: &'static str,
) -> Result<i64, ApiError> {
    path_param(parts, state, name)
        .await?
        .parse()
        .map_err(|_| ApiError::validation(name, format!("The {name} must be a whole number.")))
}

/// Query parameters; a malformed query string (e.g. a repeated parameter) → 422.
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        parse_form(parts.uri.query().unwrap_or_default().as_bytes()).map(ApiQuery)
    }
}

async fn path_param(parts: &mut Parts, state: &AppState, name: &str) -> Result<String, ApiError> {
    let params = axum::extract::RawPathParams::from_request_parts(parts, state)
        .await
        .map_err(|_| ApiError::validation(name.to_owned(), "Invalid path parameter."))?;
    params
        .iter()
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.to_owned())
        .ok_or_else(|| ApiError::internal(format!("route has no {{{name}}} parameter")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Body {
        email: String,
        age: Option<u8>,
    }

    fn field_of(result: Result<Body, ApiError>) -> String {
        let error = result.unwrap_err();
        assert_eq!(error.code(), ErrorCode::ValidationError);
        let body = serde_json::to_value(format!("{error:?}")).unwrap();
        body.to_string()
    }

    #[test]
    fn json_errors_name_the_field() {
        assert!(field_of(parse_json(br#"{"age": 3}"#)).contains("email"));
        assert!(field_of(parse_json(br#"{"email": "a", "x": 1}"#)).contains("\\\"x\\\""));
        assert!(field_of(parse_json(br#"{"email": 5}"#)).contains("email"));
        assert!(field_of(parse_json(br#"{"email": "a", "age": 300}"#)).contains("age"));
        assert!(field_of(parse_json(br#"{"email": "#)).contains("body"));
        assert!(field_of(parse_json(br#"[1, 2]"#)).contains("body"));
    }

    #[test]
    fn internal_type_names_never_appear() {
        let error = parse_json::<Body>(br#"[1]"#).unwrap_err();
        assert!(!format!("{error:?}").contains("Body"));
    }

    #[test]
    fn bearer_header_is_parsed_strictly() {
        let parse = |values: &[&str]| {
            let mut headers = HeaderMap::new();
            for value in values {
                headers.append(header::AUTHORIZATION, value.parse().unwrap());
            }
            bearer_token(&headers)
                .map(str::to_owned)
                .map_err(|e| e.code())
        };
        assert_eq!(parse(&[]), Err(ErrorCode::MissingToken));
        assert_eq!(parse(&["Basic abc"]), Err(ErrorCode::InvalidToken));
        assert_eq!(parse(&["bearer abc.def.ghi"]), Ok("abc.def.ghi".into()));
        let two = parse(&["bearer abc.def.ghi", "Bearer other"]);
        assert_eq!(two, Err(ErrorCode::InvalidToken));
    }
}
