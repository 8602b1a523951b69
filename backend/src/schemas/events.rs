//! The event stream's events, for the OpenAPI document (the stream writes them itself).

use utoipa::{
    ToSchema,
    openapi::{ObjectBuilder, Ref, Type, extensions::Extensions, schema::AnyOfBuilder},
};

/// The names of the changes, as events and in `/changes`.
pub const EVENT_NAMES: [&str; 13] = [
    "task.created",
    "task.updated",
    "task.deleted",
    "tag.created",
    "tag.updated",
    "tag.deleted",
    "status.created",
    "status.updated",
    "status.deleted",
    "priority.created",
    "priority.updated",
    "priority.deleted",
    "reminder",
];

/// The stream's events: the changes, and `resync`.
const STREAM_EVENT_NAMES: [&str; 14] = {
    let mut names = [""; 14];
    let mut i = 0;
    while i < EVENT_NAMES.len() {
        names[i] = EVENT_NAMES[i];
        i += 1;
    }
    names[EVENT_NAMES.len()] = "resync";
    names
};

/// One event of `text/event-stream`: an `id:`, an `event:` and a `data:` line, then a blank
/// line. Lines starting with `:` are comments that keep the connection open.
#[derive(ToSchema)]
#[schema(example = json!({
    "id": "8123.4567-1b4e28ba",
    "event": "tag.deleted",
    "data": "{\"id\":7}"
}))]
pub struct StreamEvent {
    /// The change's cursor: send it back as `Last-Event-ID` (or `?last_event_id=`) to resume
    /// after this event.
    pub id: String,
    /// `task.created`, `task.updated` and `reminder` carry the task; `tag.created` and
    /// `tag.updated` the tag, `status.*` and `priority.*` the status or priority; the
    /// `*.deleted` ones `{"id": …}`; `resync`
    /// `{"cursor": …}` (the changes after the cursor resumed from are no longer kept: list
    /// again).
    #[schema(schema_with = event_name)]
    pub event: String,
    /// The event's object, as one line of JSON.
    #[schema(schema_with = event_data)]
    pub data: String,
}

/// The data of a `resync` event: the cursor the stream goes on from.
#[derive(ToSchema)]
pub struct ResyncData {
    #[schema(example = "8123.4567-1b4e28ba")]
    pub cursor: String,
}

/// `{"id": …}` of something deleted.
#[derive(ToSchema)]
pub struct DeletedId {
    pub id: i64,
}

fn event_name() -> utoipa::openapi::Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(STREAM_EVENT_NAMES))
        .build()
}

/// A string of JSON (`contentMediaType`), whose document is one of the objects (`anyOf`: a
/// task also has an `id`, as `{"id": …}` has)
/// (`contentSchema`, which utoipa has no builder for).
fn event_data() -> utoipa::openapi::Object {
    let objects = AnyOfBuilder::new()
        .item(Ref::from_schema_name("TaskResponse"))
        .item(Ref::from_schema_name("TagResponse"))
        .item(Ref::from_schema_name("StatusResponse"))
        .item(Ref::from_schema_name("PriorityResponse"))
        .item(Ref::from_schema_name("DeletedId"))
        .item(Ref::from_schema_name("ResyncData"))
        .build();
    let content_schema = serde_json::to_value(objects).unwrap_or_default();
    ObjectBuilder::new()
        .schema_type(Type::String)
        .content_media_type("application/json")
        // Not `ExtensionsBuilder::add`, which would make the keyword an `x-` extension.
        .extensions(Some(Extensions::from_iter([(
            "contentSchema",
            content_schema,
        )])))
        .build()
}
