//! Status and priority rules: validated names, colours and positions, a status's fixed kind,
//! one default of each kind, and deletion that never strands a task.

use std::sync::Arc;

use crate::{
    core::error::{ApiError, ErrorCode},
    db::{CategoryEdit, NewCategory, Store},
    events::EventBus,
    models::{Caller, Category, CategoryKind, CategoryName, TagColor},
    schemas::{
        WholeNumber,
        categories::{
            CreatePriorityRequest, CreateStatusRequest, DeleteCategoryQuery, StatusKind,
            UpdateCategoryRequest,
        },
    },
};

const MAX_POSITION: i32 = 10_000;

fn position(raw: WholeNumber) -> Result<i32, ApiError> {
    i32::try_from(raw.0)
        .ok()
        .filter(|position| (0..=MAX_POSITION).contains(position))
        .ok_or_else(|| {
            ApiError::validation(
                "position",
                "position must be a whole number from 0 to 10000.",
            )
        })
}

fn color(raw: &str) -> Result<String, ApiError> {
    TagColor::parse(raw).map(String::from)
}

/// Writes and reads of the user's statuses and priorities; each write wakes the user's event
/// streams.
pub struct CategoryService {
    store: Arc<Store>,
    events: EventBus,
}

impl CategoryService {
    pub fn new(store: Arc<Store>, events: EventBus) -> Self {
        Self { store, events }
    }

    pub async fn list(
        &self,
        caller: Caller,
        kind: CategoryKind,
    ) -> Result<Vec<Category>, ApiError> {
        Ok(self.store.list_categories(&caller, kind).await?)
    }

    /// Statuses, then priorities.
    pub async fn list_all(
        &self,
        caller: Caller,
    ) -> Result<(Vec<Category>, Vec<Category>), ApiError> {
        Ok(self.store.list_all_categories(&caller).await?)
    }

    pub async fn find(
        &self,
        caller: Caller,
        kind: CategoryKind,
        id: i64,
    ) -> Result<Category, ApiError> {
        self.store
            .find_category(&caller, kind, id)
            .await?
            .ok_or_else(|| not_found(kind))
    }

    pub async fn create_status(
        &self,
        caller: Caller,
        body: CreateStatusRequest,
    ) -> Result<Category, ApiError> {
        let new = NewCategory {
            name: CategoryName::parse(&body.name)?,
            color: body.color.as_deref().map(color).transpose()?,
            position: body.position.map(position).transpose()?,
            done: body.kind == Some(StatusKind::Done),
            is_default: body.is_default.unwrap_or(false),
        };
        self.create(caller, CategoryKind::Status, new).await
    }

    pub async fn create_priority(
        &self,
        caller: Caller,
        body: CreatePriorityRequest,
    ) -> Result<Category, ApiError> {
        let new = NewCategory {
            name: CategoryName::parse(&body.name)?,
            color: body.color.as_deref().map(color).transpose()?,
            position: body.position.map(position).transpose()?,
            done: false,
            is_default: body.is_default.unwrap_or(false),
        };
        self.create(caller, CategoryKind::Priority, new).await
    }

    async fn create(
        &self,
        caller: Caller,
        kind: CategoryKind,
        new: NewCategory,
    ) -> Result<Category, ApiError> {
        let created = self.store.insert_category(&caller, kind, &new).await?;
        self.events.changed(caller.user_id);
        Ok(created)
    }

    /// Changes the fields present. A new name shows on every task of this status or priority
    /// at once.
    pub async fn update(
        &self,
        caller: Caller,
        kind: CategoryKind,
        id: i64,
        body: UpdateCategoryRequest,
    ) -> Result<Category, ApiError> {
        let name = body.name.as_deref().map(CategoryName::parse).transpose()?;
        let new_color = body.color.try_map(|raw| color(&raw))?;
        let new_position = body.position.map(position).transpose()?;
        if body.is_default == Some(false) {
            return Err(ApiError::validation(
                "is_default",
                "A default stops being one when another is made the default: set is_default \
                 on that one.",
            ));
        }
        let make_default = body.is_default == Some(true);
        let updated = self
            .store
            .edit_category(&caller, kind, id, |current| {
                Ok::<_, ApiError>(CategoryEdit {
                    name: name.map_or_else(|| current.name.clone(), String::from),
                    color: new_color.apply_to(current.color.clone()),
                    position: new_position.unwrap_or(current.position),
                    make_default,
                })
            })
            .await?;
        self.events.changed(caller.user_id);
        Ok(updated)
    }

    /// Deletes one; tasks that use it move to `replace_with` in the same transaction.
    pub async fn delete(
        &self,
        caller: Caller,
        kind: CategoryKind,
        id: i64,
        query: DeleteCategoryQuery,
    ) -> Result<(), ApiError> {
        let replace_with = query
            .replace_with
            .map(|raw| {
                raw.trim().parse::<i64>().map_err(|_| {
                    ApiError::validation("replace_with", "replace_with must be a whole number.")
                })
            })
            .transpose()?;
        if !self
            .store
            .delete_category(&caller, kind, id, replace_with)
            .await?
        {
            return Err(not_found(kind));
        }
        self.events.changed(caller.user_id);
        Ok(())
    }
}

fn not_found(kind: CategoryKind) -> ApiError {
    match kind {
        CategoryKind::Status => ErrorCode::StatusNotFound.into(),
        CategoryKind::Priority => ErrorCode::PriorityNotFound.into(),
    }
}
