//! One error type for the format crate. The public [`ErrorKind`] is small and says whether a
//! retry can help; the message carries the detail (what was wrong and where).

use std::fmt;

/// What went wrong, coarsely. Callers branch on this, never on message text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// Someone else committed first; refresh and retry.
    CommitConflict,
    /// The thing asked for does not exist (table, snapshot, file).
    NotFound,
    /// The thing to create exists already.
    AlreadyExists,
    /// Bytes or input that do not decode or violate the format.
    DataInvalid,
    /// A valid request this build or table does not support.
    Unsupported,
    /// Storage could not be reached or answered with a transient failure.
    Unavailable,
    /// A bug or an impossible state.
    Internal,
}

impl ErrorKind {
    /// Whether the same operation may succeed if simply tried again.
    pub fn is_retryable(self) -> bool {
        matches!(self, ErrorKind::CommitConflict | ErrorKind::Unavailable)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::CommitConflict => "commit conflict",
            ErrorKind::NotFound => "not found",
            ErrorKind::AlreadyExists => "already exists",
            ErrorKind::DataInvalid => "invalid data",
            ErrorKind::Unsupported => "unsupported",
            ErrorKind::Unavailable => "unavailable",
            ErrorKind::Internal => "internal error",
        }
    }
}

/// The format crate's error: a kind, a one-line message, and an optional source.
pub struct Error {
    kind: ErrorKind,
    message: String,
    source: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error {
            kind,
            message: message.into(),
            source: None,
        }
    }

    pub fn with_source(mut self, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        self.source = Some(Box::new(source));
        self
    }

    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    pub fn message(&self) -> &str {
        &self.message
    }

    /// Prefixes the message with where the problem was found, e.g. a file path.
    pub fn context(mut self, context: impl fmt::Display) -> Self {
        self.message = format!("{context}: {}", self.message);
        self
    }

    pub fn data_invalid(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::DataInvalid, message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::NotFound, message)
    }

    pub fn unsupported(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::Unsupported, message)
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::Internal, message)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        if let Some(source) = &self.source {
            // One line: the source's own text, without its chain of newlines.
            let text = source.to_string().replace('\n', " ");
            if !self.message.contains(&text) {
                write!(f, ": {text}")?;
            }
        }
        Ok(())
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self, self.kind.as_str())
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

impl From<object_store::Error> for Error {
    fn from(e: object_store::Error) -> Self {
        let kind = match &e {
            object_store::Error::NotFound { .. } => ErrorKind::NotFound,
            object_store::Error::AlreadyExists { .. }
            | object_store::Error::Precondition { .. } => ErrorKind::AlreadyExists,
            object_store::Error::NotSupported { .. }
            | object_store::Error::NotImplemented { .. } => ErrorKind::Unsupported,
            _ => ErrorKind::Unavailable,
        };
        let msg = match &e {
            object_store::Error::NotFound { path, .. } => format!("file not found: {path}"),
            other => other.to_string().replace('\n', " "),
        };
        Error::new(kind, msg)
    }
}

impl From<arrow_schema::ArrowError> for Error {
    fn from(e: arrow_schema::ArrowError) -> Self {
        Error::new(ErrorKind::DataInvalid, format!("arrow: {e}"))
    }
}

impl From<parquet::errors::ParquetError> for Error {
    fn from(e: parquet::errors::ParquetError) -> Self {
        Error::new(ErrorKind::DataInvalid, format!("parquet: {e}"))
    }
}

impl From<apache_avro::Error> for Error {
    fn from(e: apache_avro::Error) -> Self {
        Error::new(ErrorKind::DataInvalid, format!("avro: {e}"))
    }
}

impl From<serde_json::Error> for Error {
    fn from(e: serde_json::Error) -> Self {
        Error::new(ErrorKind::DataInvalid, format!("json: {e}"))
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        let kind = match e.kind() {
            std::io::ErrorKind::NotFound => ErrorKind::NotFound,
            std::io::ErrorKind::AlreadyExists => ErrorKind::AlreadyExists,
            _ => ErrorKind::Unavailable,
        };
        Error::new(kind, format!("io: {e}"))
    }
}

/// Builds a `DataInvalid` error with `format!` arguments.
#[macro_export]
macro_rules! invalid {
    ($($arg:tt)*) => {
        $crate::error::Error::data_invalid(format!($($arg)*))
    };
}
