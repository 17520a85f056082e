use std::fmt;

/// A 1-based position in the query text. Columns count characters, not bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Pos {
    pub line: u32,
    pub column: u32,
}

impl fmt::Display for Pos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.column)
    }
}

/// What kind of mistake the query has.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    Syntax,
    UnknownTable,
    UnknownColumn,
    UnknownFunction,
    Type,
    /// Valid KQL that this subset does not implement.
    Unsupported,
}

/// A query error with where it is and what was expected.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("line {}, column {}: {message}", pos.line, pos.column)]
pub struct KqlError {
    pub kind: ErrorKind,
    pub pos: Pos,
    pub message: String,
}

impl KqlError {
    pub fn new(kind: ErrorKind, pos: Pos, message: impl Into<String>) -> KqlError {
        KqlError {
            kind,
            pos,
            message: message.into(),
        }
    }

    pub fn line(&self) -> u32 {
        self.pos.line
    }

    pub fn column(&self) -> u32 {
        self.pos.column
    }
}

pub type Result<T> = std::result::Result<T, KqlError>;
