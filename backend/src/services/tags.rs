//! Tag rules: validated names and colours, case-insensitive uniqueness as a 400.

use crate::{
    app::AppState,
    core::error::{ApiError, ErrorCode},
    models::{Tag, TagColor, TagId, TagName, UserId},
    schemas::{
        Patch,
        tags::{TagRequest, TagResponse, UpdateTagRequest},
    },
};

pub async fn create_tag(
    state: &AppState,
    user_id: UserId,
    body: TagRequest,
) -> Result<Tag, ApiError> {
    let name = TagName::parse(&body.name)?;
    let color = body.color.as_deref().map(TagColor::parse).transpose()?;
    let tag = state
        .store
        .insert_tag(user_id, &name, color.as_ref())
        .await?;
    Ok(published(state, user_id, "tag.created", tag))
}

/// Publishes the tag on the user's event streams; returns it.
fn published(state: &AppState, user_id: UserId, name: &str, tag: Tag) -> Tag {
    state
        .events
        .publish(user_id, name, TagResponse::from(tag.clone()));
    tag
}

pub async fn find_tag(state: &AppState, user_id: UserId, id: TagId) -> Result<Tag, ApiError> {
    state
        .store
        .find_tag(user_id, id)
        .await?
        .ok_or_else(|| ErrorCode::TagNotFound.into())
}

/// Replaces name and colour (an omitted colour becomes null).
pub async fn replace_tag(
    state: &AppState,
    user_id: UserId,
    id: TagId,
    body: TagRequest,
) -> Result<Tag, ApiError> {
    let name = TagName::parse(&body.name)?;
    let color = body.color.as_deref().map(TagColor::parse).transpose()?;
    let tag = state
        .store
        .edit_tag(user_id, id, move |_| Ok::<_, ApiError>((name, color)))
        .await?;
    Ok(published(state, user_id, "tag.updated", tag))
}

/// Changes only the fields present; `"color": null` clears the colour.
pub async fn update_tag(
    state: &AppState,
    user_id: UserId,
    id: TagId,
    body: UpdateTagRequest,
) -> Result<Tag, ApiError> {
    let name = match body.name {
        Patch::Absent => None,
        Patch::Null => return Err(ApiError::new(ErrorCode::InvalidTagName).with_field("name")),
        Patch::Value(name) => Some(TagName::parse(&name)?),
    };
    let color = body.color.try_map(|c| TagColor::parse(&c))?;

    let edit = move |current: &Tag| {
        let name = match name {
            Some(name) => name,
            None => TagName::parse(&current.name)?,
        };
        let current_color = current.color.as_deref().map(TagColor::parse).transpose()?;
        Ok::<_, ApiError>((name, color.apply_to(current_color)))
    };
    let tag = state.store.edit_tag(user_id, id, edit).await?;
    Ok(published(state, user_id, "tag.updated", tag))
}

pub async fn delete_tag(state: &AppState, user_id: UserId, id: TagId) -> Result<(), ApiError> {
    if state.store.delete_tag(user_id, id).await? {
        state
            .events
            .publish(user_id, "tag.deleted", serde_json::json!({"id": id}));
        Ok(())
    } else {
        Err(ErrorCode::TagNotFound.into())
    }
}
