//! The database under the ledger: which backend a url names (`database_url.rs`), one daemon
//! per SQLite file (`file_lock.rs`), many rows as one parameter (`row_set.rs`) and the write
//! transaction every balance change goes through (`write.rs`).

pub(super) mod database_url;
pub(super) mod file_lock;
pub(crate) mod row_set;
pub(super) mod write;
