use std::fmt;
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database refused or failed a statement. `operation` says what the store was doing,
    /// `statement` which SQL it ran.
    #[error("{backend}: {operation}: {message} (in `{statement}`)")]
    Database {
        backend: &'static str,
        operation: String,
        statement: String,
        message: String,
        /// A conflict between concurrent writers (deadlock, serialization failure, busy):
        /// running the same transaction again may succeed.
        retryable: bool,
    },
    #[error("cannot open the store at {location}: {message}")]
    Open { location: String, message: String },
    #[error("cannot create the data directory {path}: {source}")]
    DataDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{what} {id:?} not found")]
    NotFound { what: &'static str, id: String },
    #[error("{what} {id:?} already exists")]
    AlreadyExists { what: &'static str, id: String },
    #[error("invalid {what}: {message}")]
    Invalid { what: &'static str, message: String },
    #[error("the store's schema is at version {found}, newer than this kdr knows ({known}); upgrade kdr")]
    SchemaTooNew { found: i64, known: i64 },
    #[error("corrupt {what} in the store: {message}")]
    Corrupt { what: String, message: String },
    /// A hunting query was refused (with its line and column) or failed to run.
    #[error(transparent)]
    Hunt(#[from] kdr_kql::RunError),
}

impl StoreError {
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            StoreError::Database {
                retryable: true,
                ..
            }
        )
    }

    /// Says what the store was doing when a database error happened.
    pub(crate) fn during(mut self, what: impl fmt::Display) -> StoreError {
        if let StoreError::Database { operation, .. } = &mut self {
            *operation = if operation.is_empty() {
                what.to_string()
            } else {
                format!("{what}: {operation}")
            };
        }
        self
    }
}

pub(crate) trait ResultExt<T> {
    fn during(self, what: impl fmt::Display) -> Result<T, StoreError>;
}

impl<T> ResultExt<T> for Result<T, StoreError> {
    fn during(self, what: impl fmt::Display) -> Result<T, StoreError> {
        self.map_err(|error| error.during(what))
    }
}
