//! The data directory as files: its lock, the integrity check at start, and online
//! backup and restore of the SQLite database (SQLite's backup API).
//!
//! Kept apart from the `Storage` trait: these work on the file, not through the relay's
//! writer thread, and a PostgreSQL backend would answer them with its own tools.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use fs4::fs_std::FileExt;
use rusqlite::{Connection, ErrorCode, OpenFlags};

/// The database file inside a data directory.
pub const DB_FILE: &str = "setlink.db";
/// The lock file inside a data directory; it names the relay holding it.
pub const LOCK_FILE: &str = "setlink.lock";

pub fn db_path(data_dir: &Path) -> PathBuf {
    data_dir.join(DB_FILE)
}

/// Tables every setlink database has; a file without them is not one of ours.
const REQUIRED_TABLES: &[&str] = &["meta", "productions", "members", "doc_chunks"];

// ---------------------------------------------------------------------------------------
// The lock

/// An exclusive lock on a data directory, held for as long as this value lives (the
/// kernel releases it when the process dies, even by SIGKILL). The lock file holds a
/// line naming the holder, so a second relay's error can say who has it.
#[derive(Debug)]
pub struct DataDirLock {
    file: File,
    path: PathBuf,
}

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("the data directory {dir} is in use by another setlink process ({holder}); stop it first, or give this one another --data-dir")]
    Held { dir: String, holder: String },
    #[error("cannot lock the data directory {dir}: {err}")]
    Io { dir: String, err: std::io::Error },
}

impl DataDirLock {
    /// Takes the lock or says who holds it. `holder` describes this process (what a
    /// second one will be told), e.g. "relay pid 42, listening on 127.0.0.1:7878".
    pub fn acquire(data_dir: &Path, holder: &str) -> Result<DataDirLock, LockError> {
        let io = |err| LockError::Io {
            dir: data_dir.display().to_string(),
            err,
        };
        std::fs::create_dir_all(data_dir).map_err(io)?;
        let path = data_dir.join(LOCK_FILE);
        // Never truncate before holding the lock: the holder's line is what we report.
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io)?;
        match FileExt::try_lock_exclusive(&file) {
            Ok(true) => {}
            Ok(false) => {
                let mut text = String::new();
                let _ = file.read_to_string(&mut text);
                let holder = text.trim();
                return Err(LockError::Held {
                    dir: data_dir.display().to_string(),
                    holder: if holder.is_empty() {
                        "it has not said which".to_owned()
                    } else {
                        holder.to_owned()
                    },
                });
            }
            Err(e) => return Err(io(e)),
        }
        let mut lock = DataDirLock { file, path };
        lock.describe(holder).map_err(io)?;
        Ok(lock)
    }

    /// Rewrites the holder line (a relay learns its bound address after locking).
    pub fn describe(&mut self, holder: &str) -> std::io::Result<()> {
        self.file.set_len(0)?;
        self.file.seek(SeekFrom::Start(0))?;
        writeln!(self.file, "{holder}")?;
        self.file.flush()
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// "pid N, since <UTC time>" for the lock file.
pub fn holder_line(what: &str) -> String {
    let since = time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    format!("{what}, pid {}, since {since}", std::process::id())
}

// ---------------------------------------------------------------------------------------
// Integrity

#[derive(Debug, PartialEq, Eq)]
pub enum Integrity {
    /// `PRAGMA quick_check` found nothing wrong.
    Ok,
    /// The check did not finish within its budget (a very large database): nothing
    /// wrong was found in what it read.
    Unfinished { budget: Duration },
    /// No database file yet (a new data directory).
    Missing,
    /// What SQLite reported, first problems first.
    Damaged(String),
    /// The check could not run (permissions, I/O): says nothing about the file's pages.
    Failed(String),
}

/// The errors that mean the file itself is bad, as opposed to a refused statement.
pub fn is_damage(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase)
    )
}

/// Runs `PRAGMA quick_check` on `db` for at most `budget` (interrupted past it). Reads
/// only: safe on a file a relay is using.
pub fn check_integrity(db: &Path, budget: Duration) -> Integrity {
    if !db.exists() {
        return Integrity::Missing;
    }
    let conn = match Connection::open_with_flags(
        db,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    ) {
        Ok(c) => c,
        Err(e) if is_damage(&e) => return Integrity::Damaged(e.to_string()),
        Err(e) => return Integrity::Failed(e.to_string()),
    };
    let deadline = Instant::now() + budget;
    conn.progress_handler(1000, Some(move || Instant::now() > deadline));
    let run = || -> rusqlite::Result<Vec<String>> {
        let mut stmt = conn.prepare("PRAGMA quick_check(20)")?;
        let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
        rows.collect()
    };
    let rows = match run() {
        Ok(rows) => rows,
        Err(e) if e.sqlite_error_code() == Some(ErrorCode::OperationInterrupted) => {
            return Integrity::Unfinished { budget }
        }
        Err(e) if is_damage(&e) => return Integrity::Damaged(e.to_string()),
        Err(e) => return Integrity::Failed(e.to_string()),
    };
    if rows.len() == 1 && rows[0] == "ok" {
        // A file SQLite reads fine but that is not a setlink database is refused too.
        match missing_tables(&conn) {
            Ok(missing) if missing.is_empty() => Integrity::Ok,
            Ok(missing) => Integrity::Damaged(format!(
                "not a setlink database: no {} table",
                missing.join(", ")
            )),
            Err(e) if is_damage(&e) => Integrity::Damaged(e.to_string()),
            Err(e) => Integrity::Failed(e.to_string()),
        }
    } else {
        Integrity::Damaged(rows.join("; "))
    }
}

fn missing_tables(conn: &Connection) -> rusqlite::Result<Vec<&'static str>> {
    let mut missing = Vec::new();
    for t in REQUIRED_TABLES {
        let n: i64 = conn.query_row(
            "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?1",
            [t],
            |r| r.get(0),
        )?;
        if n == 0 {
            missing.push(*t);
        }
    }
    Ok(missing)
}

/// What to tell someone whose database is damaged.
pub fn damaged_message(data_dir: &Path, detail: &str) -> String {
    format!(
        "the database {} is damaged ({detail}); the relay will not serve from it. \
         Restore your latest backup: stop every relay on this data directory, then run \
         `setlink restore --from <backup file> --data-dir {}` (the damaged file is moved \
         aside, not deleted). Backups are made with `setlink backup --to <file>`.",
        db_path(data_dir).display(),
        data_dir.display()
    )
}

// ---------------------------------------------------------------------------------------
// Backup and restore

#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("{0}")]
    Refused(String),
    #[error("{what}: {err}")]
    Sqlite { what: String, err: rusqlite::Error },
    #[error("{what}: {err}")]
    Io { what: String, err: std::io::Error },
}

fn sqlite(what: impl Into<String>) -> impl FnOnce(rusqlite::Error) -> BackupError {
    let what = what.into();
    move |err| BackupError::Sqlite { what, err }
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> BackupError {
    let what = what.into();
    move |err| BackupError::Io { what, err }
}

/// Copies every page of `from` into the database at `to` with SQLite's backup API, in one
/// step: one read transaction, so the copy is one consistent state of `from` even while
/// a relay writes to it (WAL readers do not block the writer, nor it them).
fn copy_database(from: &Connection, to: &Path) -> Result<(), BackupError> {
    let mut dst = Connection::open(to).map_err(sqlite(format!("creating {}", to.display())))?;
    {
        let backup =
            rusqlite::backup::Backup::new(from, &mut dst).map_err(sqlite("starting the backup"))?;
        let mut waited = Duration::ZERO;
        loop {
            match backup.step(-1).map_err(sqlite("copying pages"))? {
                rusqlite::backup::StepResult::Done => break,
                rusqlite::backup::StepResult::More => {}
                // Busy or locked: the writer holds an exclusive lock for a moment.
                _ if waited < Duration::from_secs(30) => {
                    std::thread::sleep(Duration::from_millis(50));
                    waited += Duration::from_millis(50);
                }
                _ => {
                    return Err(BackupError::Refused(
                        "the database stayed locked for 30 s; try again".into(),
                    ))
                }
            }
        }
    }
    // A standalone file: no WAL beside it.
    dst.pragma_update(None, "journal_mode", "DELETE")
        .map_err(sqlite("finishing the copy"))?;
    drop(dst);
    File::open(to)
        .and_then(|f| f.sync_all())
        .map_err(io(format!("syncing {}", to.display())))
}

/// A temporary path next to `path` (same file system, so the final rename is atomic).
fn temp_beside(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "backup".into());
    path.with_file_name(format!(".{name}.partial-{}", std::process::id()))
}

fn sync_dir(dir: &Path) {
    // Makes the rename durable; some file systems refuse to open a directory: harmless.
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

/// `setlink backup --to FILE`: an online, consistent copy of the data directory's
/// database. Written to a temporary file, checked, then renamed: FILE is either the
/// whole backup or untouched. Returns the backup's size in bytes.
pub fn backup(data_dir: &Path, to: &Path) -> Result<u64, BackupError> {
    let db = db_path(data_dir);
    if !db.exists() {
        return Err(BackupError::Refused(format!(
            "no database at {} (is --data-dir right?)",
            db.display()
        )));
    }
    if to.exists() {
        return Err(BackupError::Refused(format!(
            "{} already exists; choose a new file name (a backup never overwrites a file)",
            to.display()
        )));
    }
    let src = Connection::open_with_flags(&db, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .map_err(sqlite(format!("opening {}", db.display())))?;
    src.busy_timeout(Duration::from_secs(10))
        .map_err(sqlite("setting a busy timeout"))?;
    let tmp = temp_beside(to);
    let _ = std::fs::remove_file(&tmp);
    let result = copy_database(&src, &tmp).and_then(|()| {
        match check_integrity(&tmp, Duration::from_secs(3600)) {
            Integrity::Ok => Ok(()),
            other => Err(BackupError::Refused(format!(
                "the copy failed its integrity check ({other:?}); is the database itself damaged? Run `setlink serve` on it to check"
            ))),
        }
    });
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    let len = std::fs::metadata(&tmp).map(|m| m.len()).unwrap_or(0);
    std::fs::rename(&tmp, to).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        io(format!("moving the backup to {}", to.display()))(e)
    })?;
    if let Some(parent) = to.parent() {
        sync_dir(parent);
    }
    Ok(len)
}

/// What `restore` did.
#[derive(Debug)]
pub struct Restored {
    /// Where the database it replaced (and its WAL) went, if there was one.
    pub moved_aside: Option<PathBuf>,
}

/// `setlink restore --from FILE`: checks the backup, then makes it the data directory's
/// database. Takes the directory's lock for the whole time, so it refuses while a relay
/// runs there. The database it replaces is moved aside into `before-restore-<time>/`,
/// never deleted.
pub fn restore(data_dir: &Path, from: &Path) -> Result<Restored, BackupError> {
    if !from.is_file() {
        return Err(BackupError::Refused(format!(
            "no backup file at {}",
            from.display()
        )));
    }
    match check_integrity(from, Duration::from_secs(3600)) {
        Integrity::Ok => {}
        Integrity::Damaged(why) => {
            return Err(BackupError::Refused(format!(
                "the backup {} is damaged or not a setlink database ({why}); nothing was changed",
                from.display()
            )))
        }
        other => {
            return Err(BackupError::Refused(format!(
                "cannot check the backup {} ({other:?}); nothing was changed",
                from.display()
            )))
        }
    }
    let _lock = DataDirLock::acquire(data_dir, &holder_line("setlink restore"))
        .map_err(|e| BackupError::Refused(format!("{e}; nothing was changed")))?;
    let db = db_path(data_dir);
    let src = Connection::open_with_flags(from, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .map_err(sqlite(format!("opening {}", from.display())))?;
    let tmp = temp_beside(&db);
    let _ = std::fs::remove_file(&tmp);
    if let Err(e) = copy_database(&src, &tmp) {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    drop(src);
    // The replaced database goes aside with its WAL and shared-memory files: a WAL left
    // beside the restored file would be replayed into it.
    let mut moved_aside = None;
    let companions: Vec<PathBuf> = ["", "-wal", "-shm"]
        .iter()
        .map(|s| data_dir.join(format!("{DB_FILE}{s}")))
        .filter(|p| p.exists())
        .collect();
    if !companions.is_empty() {
        let stamp = time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000;
        let aside = data_dir.join(format!("before-restore-{stamp}"));
        std::fs::create_dir_all(&aside).map_err(io(format!("creating {}", aside.display())))?;
        for p in companions {
            let name = p.file_name().map(|n| n.to_owned()).unwrap_or_default();
            std::fs::rename(&p, aside.join(name))
                .map_err(io(format!("moving {} aside", p.display())))?;
        }
        moved_aside = Some(aside);
    }
    std::fs::rename(&tmp, &db).map_err(io(format!(
        "moving the restored database into {}",
        db.display()
    )))?;
    sync_dir(data_dir);
    Ok(Restored { moved_aside })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn make_db(path: &Path, rows: usize) {
        let c = Connection::open(path).unwrap();
        c.execute_batch(
            "PRAGMA journal_mode=WAL;
             CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT);
             CREATE TABLE productions (id TEXT);
             CREATE TABLE members (id TEXT);
             CREATE TABLE doc_chunks (doc_id BLOB, seq INTEGER, data BLOB);",
        )
        .unwrap();
        for i in 0..rows {
            c.execute(
                "INSERT INTO doc_chunks VALUES (?1, ?2, ?3)",
                rusqlite::params![vec![i as u8; 16], i as i64, vec![7u8; 2000]],
            )
            .unwrap();
        }
    }

    #[test]
    fn the_integrity_check_stops_at_its_budget() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("x.db");
        make_db(&db, 2000);
        assert_eq!(
            check_integrity(&db, Duration::from_nanos(1)),
            Integrity::Unfinished {
                budget: Duration::from_nanos(1)
            }
        );
        assert_eq!(check_integrity(&db, Duration::from_secs(60)), Integrity::Ok);
    }

    #[test]
    fn a_second_lock_names_the_first_holder() {
        let dir = tempfile::tempdir().unwrap();
        let first = DataDirLock::acquire(dir.path(), "relay on 127.0.0.1:1234").unwrap();
        let err = DataDirLock::acquire(dir.path(), "second").unwrap_err();
        let text = err.to_string();
        assert!(text.contains("relay on 127.0.0.1:1234"), "{text}");
        drop(first);
        DataDirLock::acquire(dir.path(), "third").unwrap();
    }

    #[test]
    fn integrity_check_finds_overwritten_pages_and_foreign_files() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("x.db");
        make_db(&db, 500);
        Connection::open(&db)
            .unwrap()
            .pragma_update(None, "wal_checkpoint", "TRUNCATE")
            .unwrap();
        assert_eq!(check_integrity(&db, Duration::from_secs(60)), Integrity::Ok);
        // Garbage over pages in the middle of the file, as a failing disk leaves them.
        let mut bytes = std::fs::read(&db).unwrap();
        let mid = bytes.len() / 2;
        for b in &mut bytes[mid..mid + 8192] {
            *b = 0xA5;
        }
        std::fs::write(&db, bytes).unwrap();
        assert!(matches!(
            check_integrity(&db, Duration::from_secs(60)),
            Integrity::Damaged(_)
        ));
        let other = dir.path().join("other.db");
        Connection::open(&other)
            .unwrap()
            .execute_batch("CREATE TABLE t (x)")
            .unwrap();
        match check_integrity(&other, Duration::from_secs(60)) {
            Integrity::Damaged(why) => assert!(why.contains("not a setlink database"), "{why}"),
            x => panic!("{x:?}"),
        }
        assert_eq!(
            check_integrity(&dir.path().join("none.db"), Duration::from_secs(1)),
            Integrity::Missing
        );
    }

    #[test]
    fn backup_and_restore_round_trip_and_keep_the_replaced_file() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        std::fs::create_dir_all(&data).unwrap();
        make_db(&db_path(&data), 50);
        let file = dir.path().join("b.db");
        assert!(backup(&data, &file).unwrap() > 0);
        // Never over an existing file.
        assert!(matches!(backup(&data, &file), Err(BackupError::Refused(_))));
        // Writes after the backup are not in it; restoring brings the backup's state back.
        Connection::open(db_path(&data))
            .unwrap()
            .execute("DELETE FROM doc_chunks", [])
            .unwrap();
        let lock = DataDirLock::acquire(&data, "a relay").unwrap();
        let refused = restore(&data, &file).unwrap_err().to_string();
        assert!(refused.contains("a relay"), "{refused}");
        drop(lock);
        let r = restore(&data, &file).unwrap();
        let aside = r.moved_aside.unwrap();
        assert!(aside.join(DB_FILE).exists());
        let n: i64 = Connection::open(db_path(&data))
            .unwrap()
            .query_row("SELECT count(*) FROM doc_chunks", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 50);
        // A damaged backup is refused before anything changes.
        let bad = dir.path().join("bad.db");
        std::fs::write(&bad, b"not a database at all, just text").unwrap();
        assert!(restore(&data, &bad)
            .unwrap_err()
            .to_string()
            .contains("nothing was changed"));
    }
}
