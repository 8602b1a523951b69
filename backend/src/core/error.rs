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

/// Every machine code the API answers with. The status of a code never varies.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ErrorCode {
    // 400: rule violations in otherwise well-formed input
    EmailAlreadyExists,
    PasswordTooShort,
    PasswordTooLong,
    InvalidEmail,
    InvalidTimezone,
    InvalidTitle,
    DescriptionTooLong,
    InvalidPriority,
    InvalidDueDate,
    InvalidRemindAt,
    InvalidRrule,
    RecurrenceRequiresDueDate,
    InvalidPagination,
    InvalidStatus,
    InvalidSortField,
    InvalidTagName,
    InvalidColor,
    TagAlreadyExists,
    // 401
    InvalidCredentials,
    MissingToken,
    InvalidToken,
    TokenExpired,
    InvalidTokenType,
    MissingRefreshToken,
    RefreshTokenExpired,
    TokenRevoked,
    // 403, 404, 405, 413, 415, 422, 429
    Forbidden,
    NotFound,
    TaskNotFound,
    TagNotFound,
    MethodNotAllowed,
    PayloadTooLarge,
    UnsupportedMediaType,
    ValidationError,
    RateLimitExceeded,
    // 5xx
    InternalError,
    ServiceUnavailable,
}

impl ErrorCode {
    pub fn status(self) -> StatusCode {
        use ErrorCode::*;
        match self {
            EmailAlreadyExists
            | PasswordTooShort
            | PasswordTooLong
            | InvalidEmail
            | InvalidTimezone
            | InvalidTitle
            | DescriptionTooLong
            | InvalidPriority
            | InvalidDueDate
            | InvalidRemindAt
            | InvalidRrule
            | RecurrenceRequiresDueDate
            | InvalidPagination
            | InvalidStatus
            | InvalidSortField
            | InvalidTagName
            | InvalidColor
            | TagAlreadyExists => StatusCode::BAD_REQUEST,
            InvalidCredentials | MissingToken | InvalidToken | TokenExpired | InvalidTokenType
            | MissingRefreshToken | RefreshTokenExpired | TokenRevoked => StatusCode::UNAUTHORIZED,
            Forbidden => StatusCode::FORBIDDEN,
            NotFound | TaskNotFound | TagNotFound => StatusCode::NOT_FOUND,
            MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ValidationError => StatusCode::UNPROCESSABLE_ENTITY,
            RateLimitExceeded => StatusCode::TOO_MANY_REQUESTS,
            InternalError => StatusCode::INTERNAL_SERVER_ERROR,
            ServiceUnavailable => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// The sentence shown when the caller has nothing more specific to say.
    pub fn default_detail(self) -> &'static str {
        use ErrorCode::*;
        match self {
            EmailAlreadyExists => "An account with this email already exists.",
            PasswordTooShort => "The password must be at least 8 characters long.",
            PasswordTooLong => "The password must be at most 128 characters long.",
            InvalidEmail => "The email address is not valid.",
            InvalidTimezone => "The time zone is not a valid IANA time zone name.",
            InvalidTitle => "The title must be 1 to 200 characters long and not only whitespace.",
            DescriptionTooLong => "The description must be at most 1000 characters long.",
            InvalidPriority => "The priority must be one of low, medium, high.",
            InvalidDueDate => "The due date must be an RFC 3339 time with an offset or Z.",
            InvalidRemindAt => "The reminder time must be an RFC 3339 time with an offset or Z.",
            InvalidRrule => "The recurrence rule is not a valid RFC 5545 RRULE.",
            RecurrenceRequiresDueDate => "A recurring task needs a due date.",
            InvalidPagination => "page and limit must be whole numbers of at least 1.",
            InvalidStatus => "status must be one of all, pending, completed.",
            InvalidSortField => {
                "sort must be one of due_date, priority, created_at, updated_at, title, optionally prefixed with -."
            }
            InvalidTagName => {
                "The tag name must be 1 to 50 characters long and not only whitespace."
            }
            InvalidColor => "The color must be of the form #RRGGBB.",
            TagAlreadyExists => "You already have a tag with this name.",
            InvalidCredentials => "Incorrect email or password.",
            MissingToken => "Authentication is required: send an Authorization: Bearer token.",
            InvalidToken => "The token is invalid.",
            TokenExpired => "The token has expired.",
            InvalidTokenType => "The token is of the wrong type for this request.",
            MissingRefreshToken => "The refresh_token cookie is missing.",
            RefreshTokenExpired => "The refresh token has expired; sign in again.",
            TokenRevoked => "The token has been revoked; sign in again.",
            Forbidden => "You do not have access to this resource.",
            NotFound => "The requested resource was not found.",
            TaskNotFound => "Task not found.",
            TagNotFound => "Tag not found.",
            MethodNotAllowed => "This method is not allowed on this resource.",
            PayloadTooLarge => "The request body is larger than 64 KiB.",
            UnsupportedMediaType => "The request body must be sent as application/json.",
            ValidationError => "The request is not valid.",
            RateLimitExceeded => "Too many requests; try again later.",
            InternalError => "An internal error occurred.",
            ServiceUnavailable => "The service is temporarily unavailable; try again shortly.",
        }
    }
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
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

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
    pub fn internal(source: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        let mut error = Self::new(ErrorCode::InternalError);
        error.source = Some(source.into());
        error
    }

    /// A 503 whose cause is logged.
    pub fn unavailable(source: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        let mut error = Self::new(ErrorCode::ServiceUnavailable);
        error.source = Some(source.into());
        error
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

impl ApiError {
    /// A 503 for a database that could not be reached; `connection_lost` tells the layer that
    /// watches the database's availability whether a connection broke.
    pub fn database_unreachable(
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
        connection_lost: bool,
    ) -> Self {
        let mut unavailable = Self::unavailable(source);
        unavailable.database_unreachable = Some(DatabaseUnreachable { connection_lost });
        unavailable
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.code.status();
        match &self.source {
            Some(source) if status.is_server_error() => {
                tracing::error!(code = ?self.code, error = %source, "request failed");
            }
            _ => {}
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
