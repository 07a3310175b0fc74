//! CJaaS on its embedded default: one process, one durable redb file, no cloud.
//!
//! [`EmbeddedStore`] implements every port. The local "stream" is a durable log in the
//! same file, drained by [`poller::LocalPoller`], which runs the same Tape writer as the
//! `tape-writer` Lambda. [`server`] mounts the same HTTP routes as the API Lambdas, and
//! [`scheduler`] runs the analytics job on a timer and on demand.

pub mod adapters;
pub mod archive_dir;
mod dead_letters;
mod limits;
pub mod live;
pub mod poller;
pub mod scheduler;
pub mod server;
mod store;

pub use archive_dir::{DirArchive, LocalForwarder};
pub use store::{EmbeddedStore, DEFAULT_CACHE_MIB};
