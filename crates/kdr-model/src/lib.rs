//! The types every kdr crate speaks: normalized [`Event`]s in, [`Alert`]s out.
//!
//! This crate owns no parsing of outside formats (that is `kdr-decode`) and no detection
//! logic (that is `kdr-rules` / `kdr-engine`). It only defines shapes and their JSON form.

mod alert;
mod event;
mod time;

pub use alert::*;
pub use event::*;
pub use time::*;
