//! Bodies of the account routes.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{Patch, rfc3339_utc, rules};
use crate::models::{User, UserId};

/// The public view of an account.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserResponse {
    pub id: UserId,
    #[schema(example = "ada@example.com")]
    pub email: String,
    #[schema(required = true)]
    pub name: Option<String>,
    /// IANA time zone name.
    #[schema(example = "Europe/London")]
    pub timezone: String,
    /// RFC 3339, UTC, with `Z`.
    #[serde(serialize_with = "rfc3339_utc")]
    pub created_at: DateTime<Utc>,
}

impl From<User> for UserResponse {
    fn from(user: User) -> Self {
        Self {
            id: user.id,
            email: user.email,
            name: user.name,
            timezone: user.timezone,
            created_at: user.created_at,
        }
    }
}

/// `PATCH /api/v1/users/{user_id}`: only the fields present change; `"name": null` clears it.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "Ada Lovelace", "timezone": "Europe/London"}))]
pub struct UpdateProfileRequest {
    #[serde(default)]
    #[schema(schema_with = rules::display_name)]
    pub name: Patch<String>,
    #[schema(schema_with = rules::timezone)]
    pub timezone: Option<String>,
}

/// `POST /api/v1/users/{user_id}/password`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "current_password": "correct horse battery staple",
    "new_password": "a longer horse battery staple"
}))]
pub struct ChangePasswordRequest {
    pub current_password: String,
    #[schema(schema_with = rules::new_password)]
    pub new_password: String,
}

/// `DELETE /api/v1/users/{user_id}`: the password confirms the deletion.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"password": "correct horse battery staple"}))]
pub struct DeleteAccountRequest {
    pub password: String,
}
