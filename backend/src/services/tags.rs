//! Tag rules: validated names and colours, case-insensitive uniqueness as a 400.

use std::sync::Arc;

use crate::{
    core::error::{ApiError, ErrorCode},
    db::Store,
    events::EventBus,
    models::{Caller, Tag, TagColor, TagId, TagName, UserId},
    schemas::tags::{TagRequest, UpdateTagRequest},
};

/// Tag writes and reads; each write wakes the user's event streams.
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
        Ok(self.written(caller.user_id, tag))
    }

    /// Wakes the user's event streams (the log has recorded the change); returns the tag.
    fn written(&self, user_id: UserId, tag: Tag) -> Tag {
        self.events.changed(user_id);
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
        Ok(self.written(caller.user_id, tag))
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
        Ok(self.written(caller.user_id, tag))
    }

    pub async fn delete_tag(&self, caller: Caller, id: TagId) -> Result<(), ApiError> {
        if self.store.delete_tag(&caller, id).await? {
            self.events.changed(caller.user_id);
            Ok(())
        } else {
            Err(ErrorCode::TagNotFound.into())
        }
    }
}
