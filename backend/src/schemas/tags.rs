//! Bodies of the tag routes.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{Patch, rfc3339_utc};
use crate::models::{Tag, TagId};

#[derive(Debug, Serialize, ToSchema)]
pub struct TagResponse {
    pub id: TagId,
    #[schema(example = "work")]
    pub name: String,
    #[schema(example = "#3366FF", required = true)]
    pub color: Option<String>,
    #[serde(serialize_with = "rfc3339_utc")]
    pub created_at: DateTime<Utc>,
}

impl From<Tag> for TagResponse {
    fn from(tag: Tag) -> Self {
        Self {
            id: tag.id,
            name: tag.name,
            color: tag.color,
            created_at: tag.created_at,
        }
    }
}

/// `POST …/tags`, and `PUT …/tags/{tag_id}` (an omitted colour becomes null).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TagRequest {
    /// 1–50 characters after trimming; unique per user regardless of case.
    pub name: String,
    /// `#RRGGBB`.
    pub color: Option<String>,
}

/// `PATCH …/tags/{tag_id}`: only the fields present change; `"color": null` clears it.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateTagRequest {
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub name: Patch<String>,
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub color: Patch<String>,
}
