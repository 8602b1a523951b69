//! The API's one error type and its one JSON shape (SPEC section 6).
//!
//! Handlers return `Result<_, ApiError>`; `?` converts database and hashing failures. Internal
//! causes are logged here, once, and never reach the client: the body carries only the public
//! sentence, the machine code, an optional field and the request id.

use std::borrow::Cow;

use axum::{
    Json,
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde::Serialize;
use utoipa::ToSchema;

use crate::core::request_id;

/// Declares [`ErrorCode`] from one table: each code with its status and its default sentence.
macro_rules! error_codes {
    ($($code:ident => $status:ident, $detail:literal;)+) => {
        /// Every machine code the API answers with. The status of a code never varies.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, ToSchema)]
        #[serde(rename_all = "SCREAMING_SNAKE_CASE")]
        pub enum ErrorCode {
            $($code,)+
        }

        impl ErrorCode {
            pub fn status(self) -> StatusCode {
                match self {
                    $(Self::$code => StatusCode::$status,)+
                }
            }

            /// The sentence shown when the caller has nothing more specific to say.
            pub fn default_detail(self) -> &'static str {
                match self {
                    $(Self::$code => $detail,)+
                }
            }
        }
    };
}

error_codes! {
    EmailAlreadyExists => BAD_REQUEST, "An account with this email already exists.";
    PasswordTooShort => BAD_REQUEST, "The password must be at least 8 characters long.";
    PasswordTooLong => BAD_REQUEST, "The password must be at most 128 characters long.";
    InvalidEmail => BAD_REQUEST, "The email address is not valid.";
    InvalidTimezone => BAD_REQUEST, "The time zone is not a valid IANA time zone name.";
    InvalidTitle => BAD_REQUEST,
        "The title must be 1 to 200 characters long and not only whitespace.";
    DescriptionTooLong => BAD_REQUEST, "The description must be at most 1000 characters long.";
    InvalidPriority => BAD_REQUEST,
        "The priority must be the name of one of your priorities (low, medium, high unless you changed them).";
    InvalidDueDate => BAD_REQUEST, "The due date must be an RFC 3339 time with an offset or Z.";
    InvalidRemindAt => BAD_REQUEST,
        "The reminder time must be an RFC 3339 time with an offset or Z.";
    InvalidRrule => BAD_REQUEST, "The recurrence rule is not a valid RFC 5545 RRULE.";
    RecurrenceRequiresDueDate => BAD_REQUEST, "A recurring task needs a due date.";
    InvalidPagination => BAD_REQUEST, "page and limit must be whole numbers of at least 1.";
    InvalidStatus => BAD_REQUEST,
        "status must be all, pending, completed or the name of one of your statuses.";
    InvalidSortField => BAD_REQUEST,
        "sort must be one of due_date, priority, status, position, created_at, updated_at, title, optionally prefixed with -.";
    InvalidTagName => BAD_REQUEST,
        "The tag name must be 1 to 50 characters long and not only whitespace.";
    InvalidColor => BAD_REQUEST, "The color must be of the form #RRGGBB.";
    InvalidCursor => BAD_REQUEST,
        "The cursor is not one this API gave you: use one from an earlier answer or event, or 0.";
    TagAlreadyExists => BAD_REQUEST, "You already have a tag with this name.";
    StatusAlreadyExists => BAD_REQUEST, "You already have a status with this name.";
    PriorityAlreadyExists => BAD_REQUEST, "You already have a priority with this name.";
    TaskNotRecurring => BAD_REQUEST, "The task has no recurrence rule.";
    TaskNotOpen => BAD_REQUEST, "The task is completed: only an open occurrence can be skipped.";
    NotLatestOccurrence => BAD_REQUEST,
        "This occurrence already has a next one: stop the series from its latest occurrence.";
    InvalidReplacement => BAD_REQUEST,
        "replace_with must be the id of another of your statuses of the same kind (or of another of your priorities).";
    InvalidTaskOrder => BAD_REQUEST,
        "task_ids must list 1 to 1000 task ids, each once; a move names exactly one of before, after, to, and not the task itself.";
    InvalidCredentials => UNAUTHORIZED, "Incorrect email or password.";
    MissingToken => UNAUTHORIZED,
        "Authentication is required: send an Authorization: Bearer token.";
    InvalidToken => UNAUTHORIZED, "The token is invalid.";
    TokenExpired => UNAUTHORIZED, "The token has expired.";
    InvalidTokenType => UNAUTHORIZED, "The token is of the wrong type for this request.";
    MissingRefreshToken => UNAUTHORIZED, "The refresh_token cookie is missing.";
    RefreshTokenExpired => UNAUTHORIZED, "The refresh token has expired; sign in again.";
    TokenRevoked => UNAUTHORIZED, "The token has been revoked; sign in again.";
    Forbidden => FORBIDDEN, "You do not have access to this resource.";
    NotFound => NOT_FOUND, "The requested resource was not found.";
    TaskNotFound => NOT_FOUND, "Task not found.";
    TagNotFound => NOT_FOUND, "Tag not found.";
    StatusNotFound => NOT_FOUND, "Status not found.";
    PriorityNotFound => NOT_FOUND, "Priority not found.";
    StatusInUse => CONFLICT,
        "Tasks have this status: name another status of the same kind in replace_with to move them.";
    PriorityInUse => CONFLICT,
        "Tasks have this priority: name another priority in replace_with to move them.";
    CannotDeleteDefault => CONFLICT,
        "A default status or priority cannot be deleted: make another one the default first.";
    CursorExpired => GONE,
        "The changes after this cursor are no longer kept: list again, then sync from the cursor that GET …/changes without since answers.";
    MethodNotAllowed => METHOD_NOT_ALLOWED, "This method is not allowed on this resource.";
    PayloadTooLarge => PAYLOAD_TOO_LARGE, "The request body is larger than 64 KiB.";
    UriTooLong => URI_TOO_LONG, "The URL is longer than 8 KiB.";
    UnsupportedMediaType => UNSUPPORTED_MEDIA_TYPE,
        "The request body must be sent as application/json.";
    ValidationError => UNPROCESSABLE_ENTITY, "The request is not valid.";
    RateLimitExceeded => TOO_MANY_REQUESTS, "Too many requests; try again later.";
    HeadersTooLarge => REQUEST_HEADER_FIELDS_TOO_LARGE,
        "The request headers are too large: at most 100 fields and 16 KiB in all.";
    InternalError => INTERNAL_SERVER_ERROR, "An internal error occurred.";
    ServiceUnavailable => SERVICE_UNAVAILABLE,
        "The service is temporarily unavailable; try again shortly.";
    DatabaseReadOnly => SERVICE_UNAVAILABLE,
        "The database accepts no changes at the moment, so nothing was saved; reading still works. Try again later.";
    StorageError => SERVICE_UNAVAILABLE,
        "The database's storage is failing, so nothing was saved. Try again later; if it goes on, tell the operator.";
    InsufficientStorage => INSUFFICIENT_STORAGE,
        "The server's disk is full, so nothing was saved; reading still works. Try again once space has been freed.";
}

/// The JSON body of every error response.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// A human-readable sentence.
    #[schema(example = "The token has expired.")]
    pub detail: String,
    /// The machine code; see the list of codes in the API description.
    pub code: ErrorCode,
    /// The input field the error is about, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// The id of the request, as in the `X-Request-Id` header.
    pub request_id: String,
}

/// An error on its way to becoming a response.
#[derive(Debug)]
pub struct ApiError {
    code: ErrorCode,
    detail: Cow<'static, str>,
    field: Option<Cow<'static, str>>,
    retry_after_secs: Option<u64>,
    /// The database could not be reached (see [`DatabaseUnreachable`]).
    database_unreachable: Option<DatabaseUnreachable>,
    /// The internal cause, logged but never shown.
    source: Option<BoxError>,
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

impl ApiError {
    pub fn new(code: ErrorCode) -> Self {
        Self {
            code,
            detail: Cow::Borrowed(code.default_detail()),
            field: None,
            retry_after_secs: None,
            database_unreachable: None,
            source: None,
        }
    }

    pub fn with_detail(mut self, detail: impl Into<Cow<'static, str>>) -> Self {
        self.detail = detail.into();
        self
    }

    pub fn with_field(mut self, field: impl Into<Cow<'static, str>>) -> Self {
        self.field = Some(field.into());
        self
    }

    pub fn with_retry_after(mut self, seconds: u64) -> Self {
        self.retry_after_secs = Some(seconds);
        self
    }

    /// A 422 about one field.
    pub fn validation(
        field: impl Into<Cow<'static, str>>,
        detail: impl Into<Cow<'static, str>>,
    ) -> Self {
        Self::new(ErrorCode::ValidationError)
            .with_field(field)
            .with_detail(detail)
    }

    /// A 500 whose cause is logged.
    pub fn internal(source: impl Into<BoxError>) -> Self {
        Self::caused_by(ErrorCode::InternalError, source)
    }

    /// A 503 whose cause is logged.
    pub fn unavailable(source: impl Into<BoxError>) -> Self {
        Self::caused_by(ErrorCode::ServiceUnavailable, source)
    }

    /// A 503 for a database that could not be reached; `connection_lost` tells the layer that
    /// watches the database's availability whether a connection broke.
    pub fn database_unreachable(source: impl Into<BoxError>, connection_lost: bool) -> Self {
        Self {
            database_unreachable: Some(DatabaseUnreachable { connection_lost }),
            ..Self::unavailable(source)
        }
    }

    fn caused_by(code: ErrorCode, source: impl Into<BoxError>) -> Self {
        Self {
            source: Some(source.into()),
            ..Self::new(code)
        }
    }

    pub fn code(&self) -> ErrorCode {
        self.code
    }
}

impl From<ErrorCode> for ApiError {
    fn from(code: ErrorCode) -> Self {
        Self::new(code)
    }
}

/// Set on an answer whose cause was a database that could not be reached (a response
/// extension), so that the layer that watches the database's availability hears of it.
#[derive(Clone, Copy, Debug)]
pub struct DatabaseUnreachable {
    /// A connection broke (as opposed to none being free in time).
    pub connection_lost: bool,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.code.status();
        if let Some(source) = &self.source
            && status.is_server_error()
        {
            tracing::error!(code = ?self.code, error = %source, "request failed");
        }
        let body = ErrorBody {
            detail: self.detail.into_owned(),
            code: self.code,
            field: self.field.map(Cow::into_owned),
            request_id: request_id::current(),
        };
        let mut response = (status, Json(body)).into_response();
        let headers = response.headers_mut();
        if status == StatusCode::UNAUTHORIZED {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if let Some(seconds) = self.retry_after_secs {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        if let Some(unreachable) = self.database_unreachable {
            response.extensions_mut().insert(unreachable);
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_auth_failure_is_401() {
        for code in [
            ErrorCode::MissingToken,
            ErrorCode::InvalidToken,
            ErrorCode::TokenExpired,
            ErrorCode::InvalidTokenType,
            ErrorCode::TokenRevoked,
        ] {
            assert_eq!(code.status(), StatusCode::UNAUTHORIZED);
        }
    }

    #[test]
    fn codes_serialize_as_screaming_snake_case() {
        let json = serde_json::to_string(&ErrorCode::EmailAlreadyExists).unwrap();
        assert_eq!(json, "\"EMAIL_ALREADY_EXISTS\"");
    }

    #[test]
    fn unauthorized_carries_www_authenticate_and_internal_hides_its_cause() {
        let response = ApiError::new(ErrorCode::TokenExpired).into_response();
        assert_eq!(response.headers()[header::WWW_AUTHENTICATE], "Bearer");

        let response = ApiError::internal("secret SQL text").into_response();
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    }
}
