//! Every refusal and failure of the API in one JSON shape,
//! `{"error": "what went wrong, in plain words"}`, with the status that
//! fits. Handlers return `Result<_, ApiError>`; the conversions below map
//! the admin service's and the store's errors in one place.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use caravel_store::StoreError;
use serde_json::json;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError { status, message: message.into() }
    }

    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, message)
    }

    pub fn forbidden(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::FORBIDDEN, message)
    }

    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, message)
    }

    /// A failure on the server: the details go to the log, not to a
    /// client that may not even be signed in.
    pub fn unavailable(e: impl std::fmt::Display) -> ApiError {
        tracing::error!(error = %e, "web API request failed");
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "Temporary failure on the server; try again in a moment.")
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(json!({ "error": self.message }))).into_response()
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> ApiError {
        match e {
            StoreError::NotFound(m) => ApiError::not_found(m),
            StoreError::Conflict(m) => ApiError::new(StatusCode::CONFLICT, m),
            StoreError::Invalid(m) => ApiError::bad_request(m),
            other => ApiError::unavailable(other),
        }
    }
}

/// The admin service words its refusals for people; "no user ...", "no
/// queued message ..." is a 404, "already ..." a 409, the rest a 400.
impl From<caravel_admin::AdminError> for ApiError {
    fn from(e: caravel_admin::AdminError) -> ApiError {
        let m = e.0;
        let lower = m.to_ascii_lowercase();
        if lower.starts_with("no ") || lower.contains("is not served here") || lower.contains("not found") {
            ApiError::not_found(m)
        } else if lower.contains("already") {
            ApiError::new(StatusCode::CONFLICT, m)
        } else {
            ApiError::bad_request(m)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_and_admin_errors_get_their_status() {
        assert_eq!(ApiError::from(StoreError::NotFound("no user x".into())).status, StatusCode::NOT_FOUND);
        assert_eq!(ApiError::from(StoreError::Conflict("exists".into())).status, StatusCode::CONFLICT);
        let admin = |m: &str| ApiError::from(caravel_admin::AdminError(m.into())).status;
        assert_eq!(admin("no user a@b.test"), StatusCode::NOT_FOUND);
        assert_eq!(admin("user a@b.test already exists"), StatusCode::CONFLICT);
        assert_eq!(admin("bad quota: x"), StatusCode::BAD_REQUEST);
        assert_eq!(admin("no queued message 9"), StatusCode::NOT_FOUND);
    }
}
