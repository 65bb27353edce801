//! One daemon per SQLite file. Two daemons on one file would both lead (SQLite has no
//! leader election), so both would push to every channel; instead `serve` holds an exclusive
//! lock on `<file>.lock` for as long as it runs, and a second one refuses to start, naming the
//! file and the process that holds it. The lock is the operating system's (`flock(2)`, through rustix), so it ends
//! with its process however that ends; the file itself is left behind, harmless.

use crate::ledger::LedgerError;
use rustix::fs::{flock, FlockOperation};
use rustix::io::Errno;
use std::fs::File;
use std::io::{Read, Seek, Write};
use std::path::PathBuf;

/// The held lock; released when dropped.
#[derive(Debug)]
pub struct DatabaseFileLock {
    _file: File,
}

impl DatabaseFileLock {
    /// Locks the SQLite file named by `url` for this process: `None` for a database in memory.
    pub fn acquire(url: &str) -> Result<Option<Self>, LedgerError> {
        let Some(database) = sqlite_file(url) else {
            return Ok(None);
        };
        let mut lock_path = database.clone().into_os_string();
        lock_path.push(".lock");
        let lock_path = PathBuf::from(lock_path);
        let failed = |source| LedgerError::Lock {
            lock_file: lock_path.display().to_string(),
            source,
        };
        let mut file = File::options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&lock_path)
            .map_err(failed)?;
        match flock(&file, FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => {}
            Err(Errno::WOULDBLOCK) => {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                let holder = holder.trim();
                return Err(LedgerError::InUse {
                    database: database.display().to_string(),
                    lock_file: lock_path.display().to_string(),
                    holder: if holder.is_empty() {
                        "another process".to_string()
                    } else {
                        holder.to_string()
                    },
                });
            }
            Err(errno) => return Err(failed(errno.into())),
        }
        // Who holds it, for the message of the next one that tries.
        file.set_len(0).map_err(failed)?;
        file.rewind().map_err(failed)?;
        writeln!(file, "omnistock pid {}", std::process::id()).map_err(failed)?;
        Ok(Some(Self { _file: file }))
    }
}

/// The file of an `sqlite:` url (`sqlite://path`, `sqlite:path`, with or without `?options`);
/// `None` for a database in memory.
fn sqlite_file(url: &str) -> Option<PathBuf> {
    let rest = url.split_once(':')?.1;
    let (path, options) = rest.split_once('?').unwrap_or((rest, ""));
    let path = path.strip_prefix("//").unwrap_or(path);
    let in_memory = path.is_empty()
        || path == ":memory:"
        || options.split('&').any(|option| option == "mode=memory");
    (!in_memory).then(|| PathBuf::from(path))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_file_of_an_sqlite_url() {
        assert_eq!(
            sqlite_file("sqlite:///var/lib/omnistock/ledger.db?mode=rwc"),
            Some(PathBuf::from("/var/lib/omnistock/ledger.db"))
        );
        assert_eq!(
            sqlite_file("sqlite://ledger.db"),
            Some(PathBuf::from("ledger.db"))
        );
        assert_eq!(
            sqlite_file("sqlite:ledger.db"),
            Some(PathBuf::from("ledger.db"))
        );
        assert_eq!(sqlite_file("sqlite::memory:"), None);
        assert_eq!(
            sqlite_file("sqlite://shared?mode=memory&cache=shared"),
            None
        );
    }

    #[test]
    fn a_second_lock_on_one_file_is_refused_naming_the_holder() {
        let folder = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", folder.path().join("ledger.db").display());
        let first = DatabaseFileLock::acquire(&url).unwrap();
        assert!(first.is_some());
        let refused = DatabaseFileLock::acquire(&url).unwrap_err().to_string();
        assert!(refused.contains("ledger.db"), "{refused}");
        assert!(
            refused.contains(&format!("omnistock pid {}", std::process::id())),
            "{refused}"
        );
        drop(first);
        assert!(DatabaseFileLock::acquire(&url).unwrap().is_some());
    }
}
