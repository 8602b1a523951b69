//! Tag rules: validated names and colours, case-insensitive uniqueness as a 400.

use std::sync::Arc;

use crate::{
    core::error::{ApiError, ErrorCode},
    db::Store,
    events::EventBus,
    models::{Caller, Tag, TagColor, TagId, TagName, UserId},
    schemas::tags::{TagRequest, TagResponse, UpdateTagRequest},
};

/// Tag writes and reads, and the events they publish.
pub struct TagService {
    store: Arc<Store>,
    events: EventBus,
}

impl TagService {
    pub fn new(store: Arc<Store>, events: EventBus) -> Self {
        Self { store, events }
    }

    /// All of the user's tags, ordered by name regardless of case.
    pub async fn list_tags(&self, caller: Caller) -> Result<Vec<Tag>, ApiError> {
        Ok(self.store.list_tags(&caller).await?)
    }

    pub async fn create_tag(&self, caller: Caller, body: TagRequest) -> Result<Tag, ApiError> {
        let name = TagName::parse(&body.name)?;
        let color = body.color.as_deref().map(TagColor::parse).transpose()?;
        let tag = self
            .store
            .insert_tag(&caller, &name, color.as_ref())
            .await?;
        Ok(self.published(caller.user_id, "tag.created", tag).await)
    }

    /// Publishes the tag on the user's event streams; returns it.
    async fn published(&self, user_id: UserId, name: &str, tag: Tag) -> Tag {
        self.events
            .publish(user_id, name, TagResponse::from(tag.clone()))
            .await;
        tag
    }

    pub async fn find_tag(&self, caller: Caller, id: TagId) -> Result<Tag, ApiError> {
        self.store
            .find_tag(&caller, id)
            .await?
            .ok_or_else(|| ErrorCode::TagNotFound.into())
    }

    /// Replaces name and colour (an omitted colour becomes null).
    pub async fn replace_tag(
        &self,
        caller: Caller,
        id: TagId,
        body: TagRequest,
    ) -> Result<Tag, ApiError> {
        let name = TagName::parse(&body.name)?;
        let color = body.color.as_deref().map(TagColor::parse).transpose()?;
        let tag = self
            .store
            .edit_tag(&caller, id, move |_| Ok::<_, ApiError>((name, color)))
            .await?;
        Ok(self.published(caller.user_id, "tag.updated", tag).await)
    }

    /// Changes only the fields present; `"color": null` clears the colour.
    pub async fn update_tag(
        &self,
        caller: Caller,
        id: TagId,
        body: UpdateTagRequest,
    ) -> Result<Tag, ApiError> {
        // A `null` name was refused with the body (see `schemas::not_null`).
        let name = body.name.as_deref().map(TagName::parse).transpose()?;
        let color = body.color.try_map(|c| TagColor::parse(&c))?;

        let edit = move |current: &Tag| {
            let name = name.map_or_else(|| TagName::parse(&current.name), Ok)?;
            let current_color = current.color.as_deref().map(TagColor::parse).transpose()?;
            Ok::<_, ApiError>((name, color.apply_to(current_color)))
        };
        let tag = self.store.edit_tag(&caller, id, edit).await?;
        Ok(self.published(caller.user_id, "tag.updated", tag).await)
    }

    pub async fn delete_tag(&self, caller: Caller, id: TagId) -> Result<(), ApiError> {
        if self.store.delete_tag(&caller, id).await? {
            self.events
                .publish(caller.user_id, "tag.deleted", serde_json::json!({"id": id}))
                .await;
            Ok(())
        } else {
            Err(ErrorCode::TagNotFound.into())
        }
    }
}
