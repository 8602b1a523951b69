//! Bodies of `GET …/changes`.

use serde::{Deserialize, Serialize};
use utoipa::{
    IntoParams, ToSchema,
    openapi::{ObjectBuilder, Ref, Schema, Type, schema::AnyOfBuilder},
};

use super::events::EVENT_NAMES;

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ChangesQuery {
    /// A cursor from an earlier answer or event, or `0` for the oldest change kept. Omitted:
    /// no changes, and the current cursor to sync from.
    #[param(example = "8123.4567-1b4e28ba")]
    pub since: Option<String>,
    /// The most changes in one answer: 1 to 1,000 (more is taken as 1,000); default 100.
    #[param(value_type = Option<i64>, minimum = 1, example = 100)]
    pub limit: Option<String>,
}

/// One change: what happened to which object, and the object as it is now.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "cursor": "8123.4567-1b4e28ba",
    "type": "tag.updated",
    "id": 7,
    "data": {"id": 7, "name": "home", "color": "#00AA55", "created_at": "2030-05-01T09:00:00.000000Z"}
}))]
pub struct ChangeItem {
    /// This change's cursor: sync from here to get only what came after it.
    pub cursor: String,
    /// What happened.
    #[serde(rename = "type")]
    #[schema(schema_with = change_type)]
    pub kind: &'static str,
    /// The task's or tag's id.
    pub id: i64,
    /// The task (`task.*`, `reminder`) or tag (`tag.*`) as it is now; null for a deletion.
    #[schema(schema_with = change_data)]
    pub data: Option<serde_json::Value>,
}

/// An answer of `GET …/changes`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ChangesResponse {
    /// In the order they happened; an object changed several times in this range appears
    /// once, at its last change, as it is now.
    pub changes: Vec<ChangeItem>,
    /// Where to continue: pass it as `since` next time.
    #[schema(example = "8123.4567-1b4e28ba")]
    pub cursor: String,
    /// More changes follow `cursor`: ask again straight away.
    pub has_more: bool,
}

fn change_type() -> utoipa::openapi::Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(EVENT_NAMES))
        .build()
}

/// `anyOf`: a status has every member a tag or a priority has, so it matches those too.
fn change_data() -> Schema {
    Schema::AnyOf(
        AnyOfBuilder::new()
            .item(Ref::from_schema_name("TaskResponse"))
            .item(Ref::from_schema_name("TagResponse"))
            .item(Ref::from_schema_name("StatusResponse"))
            .item(Ref::from_schema_name("PriorityResponse"))
            .item(ObjectBuilder::new().schema_type(Type::Null))
            .build(),
    )
}
