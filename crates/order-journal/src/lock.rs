//! One process at a time on a SQLite journal file: an exclusive OS lock on `<db>.lock`
//! (`flock` on Unix, `LockFileEx` on Windows, through `std::fs::File::try_lock`), held for the
//! journal's life, with the holder's process id and host written into the file so that a
//! second process can say who has it.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read as _, Seek as _, SeekFrom, Write as _};
use std::path::{Path, PathBuf};

use order_domain::JournalError;

/// The held lock; released when dropped (the OS releases it too if the process dies).
#[derive(Debug)]
pub(crate) struct HolderLock {
    _file: File,
}

/// The lock file beside the database file `db`: `<db>.lock`.
pub(crate) fn lock_path(db: &Path) -> PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push(".lock");
    PathBuf::from(name)
}

/// This process, as written into the lock file: `pid 4242 on host-a`.
fn holder_text() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .or_else(|| std::env::var("COMPUTERNAME").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "an unknown host".to_owned());
    format!("pid {} on {host}", std::process::id())
}

/// Takes the lock of the journal file `db` without waiting. When another process holds it,
/// fails with [`JournalError::Locked`] naming the journal and the holder.
pub(crate) fn acquire(db: &Path) -> Result<HolderLock, JournalError> {
    let path = lock_path(db);
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(|e| {
            JournalError::storage(format!("cannot open the lock file {}", path.display()), e)
        })?;
    match file.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => {
            let mut holder = String::new();
            let _ = file.read_to_string(&mut holder);
            let holder = holder.trim();
            return Err(JournalError::Locked {
                journal: db.display().to_string(),
                holder: if holder.is_empty() {
                    "another process".to_owned()
                } else {
                    holder.to_owned()
                },
            });
        }
        Err(TryLockError::Error(e)) => {
            return Err(JournalError::storage(
                format!("cannot lock {}", path.display()),
                e,
            ));
        }
    }
    let write = |file: &mut File| -> std::io::Result<()> {
        file.set_len(0)?;
        file.seek(SeekFrom::Start(0))?;
        file.write_all(holder_text().as_bytes())?;
        file.write_all(b"\n")?;
        file.sync_all()
    };
    write(&mut file).map_err(|e| {
        JournalError::storage(format!("cannot write the lock file {}", path.display()), e)
    })?;
    Ok(HolderLock { _file: file })
}
