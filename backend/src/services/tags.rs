//! Tag rules: validated names and colours, case-insensitive uniqueness as a 400.

use crate::{
    app::AppState,
    core::error::{ApiError, ErrorCode, ResultExt},
    db,
    models::{Tag, TagColor, TagId, TagName, UserId},
    schemas::{
        Patch,
        tags::{TagRequest, UpdateTagRequest},
    },
};

fn tag_not_found() -> ApiError {
    ErrorCode::TagNotFound.into()
}

fn name_taken() -> ApiError {
    ApiError::new(ErrorCode::TagAlreadyExists).with_field("name")
}

pub async fn create_tag(
    state: &AppState,
    user_id: UserId,
    body: TagRequest,
) -> Result<Tag, ApiError> {
    let name = TagName::parse(&body.name)?;
    let color = body.color.as_deref().map(TagColor::parse).transpose()?;
    db::tags::insert_tag(&state.db, user_id, &name, color.as_ref())
        .await
        .on_constraint(db::tags::TAG_NAME_UNIQUE, name_taken)
}

pub async fn find_tag(state: &AppState, user_id: UserId, id: TagId) -> Result<Tag, ApiError> {
    db::tags::find_tag(&state.db, user_id, id)
        .await?
        .ok_or_else(tag_not_found)
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
    db::tags::update_tag(&state.db, user_id, id, &name, color.as_ref())
        .await
        .on_constraint(db::tags::TAG_NAME_UNIQUE, name_taken)?
        .ok_or_else(tag_not_found)
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

    let mut tx = state.db.begin().await?;
    let current = db::tags::find_tag_for_update(&mut tx, user_id, id)
        .await?
        .ok_or_else(tag_not_found)?;
    let name = match name {
        Some(name) => name,
        None => TagName::parse(&current.name)?,
    };
    let current_color = current.color.as_deref().map(TagColor::parse).transpose()?;
    let color = color.apply_to(current_color);
    let tag = db::tags::update_tag(&mut *tx, user_id, id, &name, color.as_ref())
        .await
        .on_constraint(db::tags::TAG_NAME_UNIQUE, name_taken)?
        .ok_or_else(tag_not_found)?;
    tx.commit().await?;
    Ok(tag)
}

pub async fn delete_tag(state: &AppState, user_id: UserId, id: TagId) -> Result<(), ApiError> {
    if db::tags::delete_tag(&state.db, user_id, id).await? {
        Ok(())
    } else {
        Err(tag_not_found())
    }
}
