//! Storage errors as the API answers them: the one place where a [`StoreError`] becomes an
//! HTTP error.

use crate::{
    core::error::{ApiError, ErrorCode},
    db::{Constraint, Missing, Refusal, SessionEnd, StorageFault, StoreError},
    models::CategoryKind,
};

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::NotFound(Missing::Task) => ErrorCode::TaskNotFound.into(),
            StoreError::NotFound(Missing::Tag) => ErrorCode::TagNotFound.into(),
            StoreError::NotFound(Missing::TagInSet) => {
                ApiError::new(ErrorCode::TagNotFound).with_field("tag_ids")
            }
            StoreError::NotFound(Missing::Category(CategoryKind::Status)) => {
                ErrorCode::StatusNotFound.into()
            }
            StoreError::NotFound(Missing::Category(CategoryKind::Priority)) => {
                ErrorCode::PriorityNotFound.into()
            }
            StoreError::NotFound(Missing::Status) => CategoryKind::Status.invalid("status"),
            StoreError::NotFound(Missing::Priority) => CategoryKind::Priority.invalid("priority"),
            StoreError::NotFound(Missing::StatusKind) => {
                crate::services::tasks::status_contradicts_completed()
            }
            StoreError::NotFound(Missing::Replacement) => {
                ApiError::new(ErrorCode::InvalidReplacement).with_field("replace_with")
            }
            StoreError::Refused(Refusal::Default) => ErrorCode::CannotDeleteDefault.into(),
            StoreError::Refused(Refusal::InUse(CategoryKind::Status)) => {
                ErrorCode::StatusInUse.into()
            }
            StoreError::Refused(Refusal::InUse(CategoryKind::Priority)) => {
                ErrorCode::PriorityInUse.into()
            }
            StoreError::Refused(Refusal::NotRecurring) => ErrorCode::TaskNotRecurring.into(),
            StoreError::Refused(Refusal::NotOpen) => ErrorCode::TaskNotOpen.into(),
            StoreError::Refused(Refusal::SeriesEnded) => ApiError::new(ErrorCode::TaskNotRecurring)
                .with_detail(
                    "The series has no occurrence after this one: there is none to skip to.",
                ),
            StoreError::Conflict(Constraint::StatusName) => {
                ApiError::new(ErrorCode::StatusAlreadyExists).with_field("name")
            }
            StoreError::Conflict(Constraint::PriorityName) => {
                ApiError::new(ErrorCode::PriorityAlreadyExists).with_field("name")
            }
            // A status or priority the write named was deleted meanwhile: nothing was written,
            // and the same request resolves the name afresh.
            StoreError::Conflict(Constraint::Reference) => {
                ApiError::new(ErrorCode::ServiceUnavailable)
                    .with_detail(
                        "A status or priority this write uses changed meanwhile; nothing was \
                         saved. Send the request again.",
                    )
                    .with_retry_after(1)
            }
            StoreError::SessionEnded(SessionEnd::Revoked) => ErrorCode::TokenRevoked.into(),
            StoreError::SessionEnded(SessionEnd::Gone) => ApiError::new(ErrorCode::InvalidToken)
                .with_detail("The token's account or session no longer exists."),
            StoreError::Conflict(Constraint::UserEmail) => {
                ApiError::new(ErrorCode::EmailAlreadyExists).with_field("email")
            }
            StoreError::Conflict(Constraint::TagName) => {
                ApiError::new(ErrorCode::TagAlreadyExists).with_field("name")
            }
            StoreError::Unavailable {
                connection_lost,
                source,
            } => ApiError::database_unreachable(source, connection_lost),
            // Not logged here: the store's health logs a storage episode once, not once per
            // request that meets it.
            StoreError::Storage { fault, source } => {
                tracing::debug!(error = %source, "refused for the database's storage");
                ErrorCode::from(fault).into()
            }
            // Only client input can carry a value the database refuses as data.
            StoreError::Rejected(source) => {
                tracing::info!(error = %source, "database refused a value from the request");
                ApiError::validation(
                    "body",
                    "The request contains a value that cannot be stored (for example a NUL \
                     character).",
                )
            }
            StoreError::Other(source) => ApiError::internal(source),
        }
    }
}

impl From<StorageFault> for ErrorCode {
    fn from(fault: StorageFault) -> Self {
        match fault {
            StorageFault::Full => Self::InsufficientStorage,
            StorageFault::ReadOnly => Self::DatabaseReadOnly,
            StorageFault::Io | StorageFault::Corrupt => Self::StorageError,
        }
    }
}
