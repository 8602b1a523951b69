//! Storage errors as the API answers them: the one place where a [`StoreError`] becomes an
//! HTTP error.

use crate::{
    core::error::{ApiError, ErrorCode},
    db::{Constraint, Missing, SessionEnd, StorageFault, StoreError},
};

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::NotFound(Missing::Task) => ErrorCode::TaskNotFound.into(),
            StoreError::NotFound(Missing::Tag) => ErrorCode::TagNotFound.into(),
            StoreError::NotFound(Missing::TagInSet) => {
                ApiError::new(ErrorCode::TagNotFound).with_field("tag_ids")
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
