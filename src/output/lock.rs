//! Who may write into an output folder, and what a killed run leaves behind.
//!
//! - [`OutputLock`]: a run that writes into a local output (a conversion's write phase, a
//!   compaction) holds an exclusive lock on `DIR/_hsmtrail/lock` while it reads the event IDs
//!   already there and adds its files. A second run waits for it, then reads the first one's
//!   files too: two conversions at once never both write an event.
//! - [`Owned`]: a run's hidden working folders (spilled rows) are owned through a lock file
//!   beside them; a later run removes the folders whose owner is gone, however it died.
//! - [`cleanup`]: on SIGINT, SIGTERM or SIGHUP the working folders and temporary files of
//!   the run are removed before it exits.
//!
//! Locks are `flock`s (`File::lock`): the kernel releases them when the process ends, even by
//! SIGKILL, so a lock is never left stale.

use std::fs::{File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use anyhow::{Context, Result};

/// Where the output lock lives, under the output folder.
pub const LOCK_FILE: &str = "_hsmtrail/lock";

/// An exclusive lock on a local output folder, released when dropped.
#[derive(Debug)]
pub struct OutputLock {
    _file: File,
}

impl OutputLock {
    /// Takes the lock on `dir`, waiting for another run that holds it; `waiting` is called
    /// once if it has to wait (to tell the user why nothing happens).
    pub fn acquire(dir: &Path, waiting: impl FnOnce()) -> Result<OutputLock> {
        let path = dir.join(LOCK_FILE);
        let parent = path.parent().expect("the lock file is in a folder");
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating {}", parent.display()))?;
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .with_context(|| format!("opening the output lock {}", path.display()))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                waiting();
                file.lock()
                    .with_context(|| format!("locking {}", path.display()))?;
            }
            Err(TryLockError::Error(e)) => {
                return Err(e).with_context(|| format!("locking {}", path.display()));
            }
        }
        Ok(OutputLock { _file: file })
    }
}

/// A hidden working folder owned by this run: `PREFIX<random>/` beside the lock file
/// `PREFIX<random>.lock`, which this run holds locked while the folder exists. Removed (and
/// unregistered from [`cleanup`]) when dropped.
#[derive(Debug)]
pub struct Owned {
    dir: PathBuf,
    lock_path: PathBuf,
    _lock: File,
}

impl Owned {
    /// Creates a new owned folder in `parent`, its name starting with `prefix`.
    ///
    /// The lock file is created and locked under a temporary name and only then renamed to
    /// its final one, so whenever another run can see it, it is locked; the folder is created
    /// after it. A folder whose lock file is missing or can be locked has no live owner.
    pub fn create(parent: &Path, prefix: &str) -> Result<Owned> {
        let temp = tempfile::Builder::new()
            .prefix(&format!("{prefix}pending-"))
            .suffix(".tmp")
            .tempfile_in(parent)
            .with_context(|| format!("creating a lock file in {}", parent.display()))?;
        temp.as_file()
            .lock()
            .with_context(|| format!("locking {}", temp.path().display()))?;
        let name = format!(
            "{prefix}{}",
            temp.path()
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.strip_prefix(&format!("{prefix}pending-")))
                .and_then(|n| n.strip_suffix(".tmp"))
                .expect("named as asked")
        );
        let dir = parent.join(&name);
        let lock_path = parent.join(format!("{name}.lock"));
        let lock = temp
            .persist(&lock_path)
            .with_context(|| format!("creating {}", lock_path.display()))?;
        register(&lock_path);
        std::fs::create_dir(&dir).with_context(|| format!("creating {}", dir.display()))?;
        register(&dir);
        Ok(Owned {
            dir,
            lock_path,
            _lock: lock,
        })
    }

    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// Removes the folders in `parent` named `prefix*` whose owner is gone (killed, or an
    /// older version that made no lock file), with their lock files. Returns how many.
    pub fn remove_stale(parent: &Path, prefix: &str) -> Result<usize> {
        let Ok(entries) = std::fs::read_dir(parent) else {
            return Ok(0);
        };
        let mut removed = 0;
        for entry in entries.flatten() {
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            if !name.starts_with(prefix)
                || name.ends_with(".lock")
                || name.ends_with(".tmp")
                || !entry.file_type().is_ok_and(|t| t.is_dir())
            {
                continue;
            }
            let lock_path = parent.join(format!("{name}.lock"));
            let lock = match File::open(&lock_path) {
                Ok(file) => match file.try_lock() {
                    Ok(()) => Some(file),
                    Err(TryLockError::WouldBlock) => continue,
                    Err(TryLockError::Error(e)) => {
                        return Err(e).with_context(|| format!("locking {}", lock_path.display()));
                    }
                },
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
                Err(e) => {
                    return Err(e).with_context(|| format!("opening {}", lock_path.display()));
                }
            };
            std::fs::remove_dir_all(entry.path())
                .with_context(|| format!("removing the stale {}", entry.path().display()))?;
            if lock.is_some() {
                let _ = std::fs::remove_file(&lock_path);
            }
            removed += 1;
        }
        Ok(removed)
    }
}

impl Drop for Owned {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
        unregister(&self.dir);
        let _ = std::fs::remove_file(&self.lock_path);
        unregister(&self.lock_path);
    }
}

/// Paths (working folders, temporary files) to remove if the run is interrupted.
static REGISTERED: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

/// Removes `path` (a folder with its contents, or a file) if the run is interrupted.
pub fn register(path: &Path) {
    REGISTERED
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(path.to_path_buf());
}

/// `path` is gone or kept on purpose: no longer removed on interruption.
pub fn unregister(path: &Path) {
    let mut paths = REGISTERED.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(i) = paths.iter().rposition(|p| p == path) {
        paths.swap_remove(i);
    }
}

/// Removes everything registered, newest first. Called on interruption, while workers may
/// still be adding files to a folder: a folder that is not empty yet is tried again.
pub fn cleanup() {
    let paths = std::mem::take(&mut *REGISTERED.lock().unwrap_or_else(|e| e.into_inner()));
    for path in paths.iter().rev() {
        if path.is_dir() {
            for _ in 0..5 {
                if std::fs::remove_dir_all(path).is_ok() || !path.exists() {
                    break;
                }
            }
        } else {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// The signal that interrupted the run, once one has (0 before).
static INTERRUPTED: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(0);

/// Whether the run was interrupted: an error that follows (a spill file removed under a
/// worker) is the interruption's doing, and the exit is the signal handler's to make.
pub fn interrupted() -> bool {
    INTERRUPTED.load(std::sync::atomic::Ordering::SeqCst) != 0
}

/// Installs the handler that, on SIGINT, SIGTERM or SIGHUP, removes what is registered and
/// exits with 128 + the signal's number, as a shell reports a killed command.
pub fn clean_up_on_interrupt() -> Result<()> {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP])
        .context("installing the signal handler")?;
    std::thread::Builder::new()
        .name("hsmtrail-signals".into())
        .spawn(move || {
            if let Some(signal) = signals.forever().next() {
                INTERRUPTED.store(signal, std::sync::atomic::Ordering::SeqCst);
                cleanup();
                std::process::exit(128 + signal);
            }
        })
        .context("starting the signal handler")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stale_folders_go_and_live_ones_stay() {
        let parent = tempfile::tempdir().unwrap();
        let live = Owned::create(parent.path(), ".x-").unwrap();
        std::fs::write(live.path().join("rows"), "1").unwrap();
        // A folder of a run that died: its lock file exists but nobody holds it.
        let dead = parent.path().join(".x-dead");
        std::fs::create_dir(&dead).unwrap();
        std::fs::write(parent.path().join(".x-dead.lock"), "").unwrap();
        // A folder of an older version, with no lock file at all.
        std::fs::create_dir(parent.path().join(".x-old")).unwrap();
        // Something else of the user's.
        std::fs::create_dir(parent.path().join("keep")).unwrap();
        assert_eq!(Owned::remove_stale(parent.path(), ".x-").unwrap(), 2);
        assert!(live.path().join("rows").is_file());
        assert!(!dead.exists() && !parent.path().join(".x-dead.lock").exists());
        assert!(!parent.path().join(".x-old").exists());
        assert!(parent.path().join("keep").is_dir());
        let path = live.path().to_path_buf();
        drop(live);
        assert!(!path.exists());
        assert_eq!(std::fs::read_dir(parent.path()).unwrap().count(), 1);
    }

    #[test]
    fn the_output_lock_is_exclusive() {
        let dir = tempfile::tempdir().unwrap();
        let first = OutputLock::acquire(dir.path(), || panic!("nobody holds it")).unwrap();
        let path = dir.path().to_path_buf();
        let second = std::thread::spawn(move || {
            let mut waited = false;
            let lock = OutputLock::acquire(&path, || waited = true).unwrap();
            drop(lock);
            waited
        });
        // The second run can only finish once the first lets go; whether it found the lock
        // taken depends on scheduling, so only the outcome is checked.
        drop(first);
        second.join().unwrap();
        let file = File::open(dir.path().join(LOCK_FILE)).unwrap();
        let held = OutputLock::acquire(dir.path(), || {}).unwrap();
        assert!(matches!(file.try_lock(), Err(TryLockError::WouldBlock)));
        drop(held);
        assert!(file.try_lock().is_ok());
    }
}
