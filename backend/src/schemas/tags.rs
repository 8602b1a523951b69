//! Bodies of the tag routes.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{Patch, not_null, rfc3339_utc, rules};
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
#[schema(example = json!({"name": "work", "color": "#3366FF"}))]
pub struct TagRequest {
    #[schema(schema_with = rules::tag_name)]
    pub name: String,
    #[schema(schema_with = rules::color)]
    pub color: Option<String>,
}

/// `PATCH …/tags/{tag_id}`: only the fields present change; `"color": null` clears it. The name
/// cannot be cleared: `"name": null` is a 422 `VALIDATION_ERROR` naming the field.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"color": "#FF8800"}))]
pub struct UpdateTagRequest {
    #[serde(default, deserialize_with = "not_null")]
    #[schema(schema_with = rules::tag_name)]
    pub name: Option<String>,
    #[serde(default)]
    #[schema(schema_with = rules::color)]
    pub color: Patch<String>,
}
