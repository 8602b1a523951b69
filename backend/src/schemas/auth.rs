//! Bodies of the authentication routes.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::rules;

/// `POST /api/v1/auth/register`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterRequest {
    /// Stored trimmed and lower-cased; unique regardless of case.
    #[schema(example = "ada@example.com", format = Email)]
    pub email: String,
    /// 8 to 128 characters.
    #[schema(
        example = "correct horse battery staple",
        min_length = 8,
        max_length = 128
    )]
    pub password: String,
    #[schema(schema_with = rules::display_name)]
    pub name: Option<String>,
}

/// `POST /api/v1/auth/login` as JSON.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    #[schema(example = "ada@example.com")]
    pub email: String,
    #[schema(example = "correct horse battery staple")]
    pub password: String,
}

/// `POST /api/v1/auth/login` as an OAuth2 password-flow form (what Swagger's Authorize sends).
/// `username` is the email; the other OAuth2 fields are accepted and ignored.
#[derive(Debug, Deserialize, ToSchema)]
pub struct LoginForm {
    pub username: String,
    pub password: String,
    pub grant_type: Option<String>,
    pub scope: Option<String>,
}

/// An access token; the refresh token travels only in the `refresh_token` cookie.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TokenResponse {
    pub access_token: String,
    /// Always `bearer`.
    #[schema(example = "bearer")]
    pub token_type: String,
    /// Seconds until the access token expires (900).
    #[schema(example = 900)]
    pub expires_in: i64,
}

/// A plain confirmation.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct MessageResponse {
    pub message: String,
}
