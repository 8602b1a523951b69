//! The id of the request being served, available to any code running inside it.
//!
//! The request middleware sets it for the duration of the request, so an error body built deep
//! inside a handler can name the request without the id being threaded through every call.

use axum::http::HeaderValue;

tokio::task_local! {
    static REQUEST_ID: String;
}

/// Runs `future` with `id` as the current request id.
pub async fn scope<F: Future>(id: String, future: F) -> F::Output {
    REQUEST_ID.scope(id, future).await
}

/// The current request's id, or a fresh one outside a request.
pub fn current() -> String {
    REQUEST_ID
        .try_with(Clone::clone)
        .unwrap_or_else(|_| uuid::Uuid::new_v4().to_string())
}

/// The caller's `X-Request-Id` when it is sane (1–128 visible characters from a safe set),
/// otherwise a new UUID.
pub fn from_header(value: Option<&HeaderValue>) -> String {
    value
        .and_then(|v| v.to_str().ok())
        .filter(|id| is_sane(id))
        .map_or_else(|| uuid::Uuid::new_v4().to_string(), str::to_owned)
}

fn is_sane(id: &str) -> bool {
    (1..=128).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sane_ids_are_kept_and_others_replaced() {
        let kept = from_header(Some(&HeaderValue::from_static("abc-123_x.y:z")));
        assert_eq!(kept, "abc-123_x.y:z");

        for bad in ["", "has space", "<script>", &"x".repeat(129)] {
            let value = HeaderValue::from_str(bad).unwrap();
            let replaced = from_header(Some(&value));
            assert_ne!(replaced, bad);
            assert!(uuid::Uuid::parse_str(&replaced).is_ok());
        }
        assert!(uuid::Uuid::parse_str(&from_header(None)).is_ok());
    }
}
