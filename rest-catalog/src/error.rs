//! The catalog's error: a small kind plus a one-line message. [`CatalogError`] turns into
//! an HTTP response in exactly one place ([`IntoResponse`] below), with Iceberg's error body
//! `{"error": {"message", "type", "code"}}`, so every handler maps kinds the same way and a
//! commit conflict can never surface as a 500.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;
use strata_format::ErrorKind as FormatKind;

/// What went wrong, as a REST client needs to know it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Malformed request, invalid name or location, a rule of the spec broken.
    BadRequest,
    /// Missing or wrong credentials.
    Unauthorized,
    /// No such namespace.
    NoSuchNamespace,
    /// No such table.
    NoSuchTable,
    /// No such view.
    NoSuchView,
    /// No such route.
    NoSuchRoute,
    /// Something that must not exist does.
    AlreadyExists,
    /// A namespace that still holds tables or views.
    NamespaceNotEmpty,
    /// A requirement failed or another commit won: refresh and retry.
    CommitFailed,
    /// A valid request the catalog does not support (e.g. writing to a Strata table).
    Unsupported,
    /// A well-formed request that contradicts itself (a property both set and removed).
    Unprocessable,
    /// Storage could not be reached; retrying may help.
    Unavailable,
    /// A bug or a broken warehouse.
    Internal,
}

impl Kind {
    /// The HTTP status and Iceberg exception name of a kind: the one mapping.
    fn status_and_type(self) -> (StatusCode, &'static str) {
        match self {
            Kind::BadRequest => (StatusCode::BAD_REQUEST, "BadRequestException"),
            Kind::Unauthorized => (StatusCode::UNAUTHORIZED, "NotAuthorizedException"),
            Kind::NoSuchNamespace => (StatusCode::NOT_FOUND, "NoSuchNamespaceException"),
            Kind::NoSuchTable => (StatusCode::NOT_FOUND, "NoSuchTableException"),
            Kind::NoSuchView => (StatusCode::NOT_FOUND, "NoSuchViewException"),
            Kind::NoSuchRoute => (StatusCode::NOT_FOUND, "NotFoundException"),
            Kind::AlreadyExists => (StatusCode::CONFLICT, "AlreadyExistsException"),
            Kind::NamespaceNotEmpty => (StatusCode::CONFLICT, "NamespaceNotEmptyException"),
            Kind::CommitFailed => (StatusCode::CONFLICT, "CommitFailedException"),
            Kind::Unsupported => (StatusCode::NOT_ACCEPTABLE, "UnsupportedOperationException"),
            Kind::Unprocessable => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "UnprocessableEntityException",
            ),
            Kind::Unavailable => (
                StatusCode::SERVICE_UNAVAILABLE,
                "ServiceUnavailableException",
            ),
            Kind::Internal => (StatusCode::INTERNAL_SERVER_ERROR, "InternalServerError"),
        }
    }

    pub fn status(self) -> StatusCode {
        self.status_and_type().0
    }
}

/// A catalog error: kind and message.
#[derive(Debug, Clone)]
pub struct CatalogError {
    pub kind: Kind,
    pub message: String,
}

pub type Result<T, E = CatalogError> = std::result::Result<T, E>;

impl CatalogError {
    pub fn new(kind: Kind, message: impl Into<String>) -> Self {
        CatalogError {
            kind,
            message: message.into(),
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(Kind::BadRequest, message)
    }

    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(Kind::CommitFailed, message)
    }

    pub fn unsupported(message: impl Into<String>) -> Self {
        Self::new(Kind::Unsupported, message)
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(Kind::Internal, message)
    }
}

impl std::fmt::Display for CatalogError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for CatalogError {}

impl From<strata_format::Error> for CatalogError {
    fn from(e: strata_format::Error) -> Self {
        let kind = match e.kind() {
            FormatKind::CommitConflict => Kind::CommitFailed,
            FormatKind::NotFound => Kind::NoSuchTable,
            FormatKind::AlreadyExists => Kind::AlreadyExists,
            FormatKind::DataInvalid => Kind::BadRequest,
            FormatKind::Unsupported => Kind::Unsupported,
            FormatKind::Unavailable => Kind::Unavailable,
            FormatKind::Internal => Kind::Internal,
        };
        CatalogError::new(kind, e.to_string().replace('\n', " "))
    }
}

impl From<iceberg::Error> for CatalogError {
    fn from(e: iceberg::Error) -> Self {
        use iceberg::ErrorKind as I;
        let kind = match e.kind() {
            I::CatalogCommitConflicts => Kind::CommitFailed,
            I::DataInvalid | I::PreconditionFailed => Kind::BadRequest,
            I::FeatureUnsupported => Kind::Unsupported,
            I::NamespaceNotFound => Kind::NoSuchNamespace,
            I::TableNotFound => Kind::NoSuchTable,
            I::NamespaceAlreadyExists | I::TableAlreadyExists => Kind::AlreadyExists,
            _ => Kind::Internal,
        };
        CatalogError::new(kind, e.to_string().replace('\n', " "))
    }
}

/// Iceberg's error body: `{"error": {"message", "type", "code"}}`.
pub fn error_body(kind: Kind, message: &str) -> serde_json::Value {
    let (status, type_name) = kind.status_and_type();
    json!({"error": {"message": message, "type": type_name, "code": status.as_u16()}})
}

impl IntoResponse for CatalogError {
    fn into_response(self) -> Response {
        let status = self.kind.status();
        if status.is_server_error() {
            tracing::error!(kind = ?self.kind, "{}", self.message);
        } else {
            tracing::debug!(kind = ?self.kind, "{}", self.message);
        }
        let body = error_body(self.kind, &self.message);
        let mut response = (status, axum::Json(body)).into_response();
        if self.kind == Kind::Unauthorized {
            response.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Bearer"),
            );
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conflicts_are_409_never_500() {
        let e: CatalogError = strata_format::Error::new(FormatKind::CommitConflict, "x").into();
        assert_eq!(e.kind.status(), StatusCode::CONFLICT);
        let e: CatalogError =
            iceberg::Error::new(iceberg::ErrorKind::CatalogCommitConflicts, "x").into();
        assert_eq!(e.kind.status(), StatusCode::CONFLICT);
        let body = error_body(Kind::NoSuchTable, "gone");
        assert_eq!(body["error"]["code"], 404);
        assert_eq!(body["error"]["type"], "NoSuchTableException");
    }
}
