//! The bytes of a backup: an online snapshot with SQLite's backup API,
//! zstd compression with the sha256 computed as the file is written,
//! decompression that checks the sha256 as it reads, what a database holds
//! (schema version, rows per table) and its integrity check. Temporary
//! files are deleted unless they are persisted by an atomic rename.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::backup::{Backup, StepResult};
use rusqlite::{Connection, OpenFlags};
use sha2::{Digest, Sha256};

use super::{BackupError, BackupResult, io, sql};

const BUF: usize = 1 << 20;

/// A file deleted on drop unless persisted.
#[derive(Debug)]
pub struct TempFile {
    path: PathBuf,
    keep: bool,
}

impl TempFile {
    pub fn new(path: PathBuf) -> Self {
        let _ = std::fs::remove_file(&path);
        // Made here, 0600, so whoever writes it (SQLite's backup API, zstd)
        // finds it owner-only whatever the umask. A failure shows on that write.
        let _ = crate::private_files::create_file(&path);
        TempFile { path, keep: false }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// fsync, rename to `dest` (atomic on one filesystem), fsync the folder.
    pub fn persist(mut self, dest: &Path) -> BackupResult<()> {
        File::open(&self.path)
            .and_then(|f| f.sync_all())
            .map_err(io(format!("cannot sync {}", self.path.display())))?;
        std::fs::rename(&self.path, dest).map_err(io(format!(
            "cannot rename {} to {}",
            self.path.display(),
            dest.display()
        )))?;
        self.keep = true;
        sync_dir(dest)
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if !self.keep {
            let _ = std::fs::remove_file(&self.path);
        }
        // SQLite's side files, had the file been opened as a database.
        for suffix in ["-wal", "-shm", "-journal"] {
            let mut side = self.path.as_os_str().to_owned();
            side.push(suffix);
            let _ = std::fs::remove_file(side);
        }
    }
}

/// fsync the folder holding `path`, so a rename in it survives a crash.
pub fn sync_dir(path: &Path) -> BackupResult<()> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io(format!("cannot sync the folder {}", dir.display())))
}

/// Copies the live database at `src` into a new file `dest` in one step of
/// SQLite's backup API: one read transaction, so the copy is the database
/// as of one commit even while other processes write (WAL readers do not
/// block writers). Busy or locked: wait and try again.
pub fn snapshot(src: &Path, dest: &Path, busy_timeout: Duration) -> BackupResult<()> {
    let from = Connection::open_with_flags(
        src,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(sql("cannot open the database to back it up"))?;
    from.busy_timeout(busy_timeout)
        .map_err(sql("cannot set the busy timeout"))?;
    let mut to = Connection::open(dest).map_err(sql("cannot create the snapshot file"))?;
    // A scratch file, deleted if anything fails: no journal and no fsync
    // while the pages are copied (the compressed result is synced).
    to.execute_batch("PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF;")
        .map_err(sql("cannot set up the snapshot file"))?;
    copy_all(&from, &mut to, busy_timeout)?;
    // The copy carries the source's WAL flag; a rollback-journal file opens
    // read-only without leaving -wal/-shm files behind. Opening it with the
    // store turns WAL on again.
    to.query_row("PRAGMA journal_mode = DELETE", [], |_| Ok(()))
        .map_err(sql("cannot finish the snapshot"))?;
    Ok(())
}

fn copy_all(from: &Connection, to: &mut Connection, busy_timeout: Duration) -> BackupResult<()> {
    let backup = Backup::new(from, to).map_err(sql("cannot start the backup"))?;
    let deadline = std::time::Instant::now() + busy_timeout.max(Duration::from_secs(5));
    loop {
        // -1: every page in one step, so no writer can restart the copy.
        match backup.step(-1).map_err(sql("backup step failed"))? {
            StepResult::Done => return Ok(()),
            StepResult::More => {}
            StepResult::Busy | StepResult::Locked if std::time::Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(50));
            }
            StepResult::Busy | StepResult::Locked => {
                return Err(BackupError::Sqlite(
                    "the database stayed locked during the backup; try again".into(),
                ));
            }
            _ => {}
        }
    }
}

/// What a database file holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DbFacts {
    /// Highest applied migration (0 without schema_migrations).
    pub schema_version: u32,
    pub row_counts: BTreeMap<String, u64>,
}

fn open_read_only(path: &Path) -> BackupResult<Connection> {
    let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .map_err(sql("cannot open the database copy"))?;
    // Large sequential scans: give the check a bigger page cache.
    conn.execute_batch("PRAGMA cache_size = -65536")
        .map_err(sql("cannot set up the database copy"))?;
    Ok(conn)
}

/// Schema version and rows per table of the database file at `path`.
pub fn inspect(path: &Path) -> BackupResult<DbFacts> {
    let conn = open_read_only(path)?;
    let tables: Vec<String> = {
        let mut stmt = conn
            .prepare(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name",
            )
            .map_err(sql("cannot list tables"))?;
        stmt.query_map([], |r| r.get(0))
            .and_then(|rows| rows.collect::<Result<Vec<String>, _>>())
            .map_err(sql("cannot list tables"))?
    };
    let mut row_counts = BTreeMap::new();
    for t in &tables {
        let n: i64 = conn
            .query_row(
                &format!("SELECT COUNT(*) FROM \"{}\"", t.replace('"', "\"\"")),
                [],
                |r| r.get(0),
            )
            .map_err(sql("cannot count rows"))?;
        row_counts.insert(t.clone(), n.max(0) as u64);
    }
    let schema_version = if tables.iter().any(|t| t == "schema_migrations") {
        conn.query_row(
            "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
            [],
            |r| r.get::<_, i64>(0),
        )
        .map_err(sql("cannot read the schema version"))?
        .max(0) as u32
    } else {
        0
    };
    Ok(DbFacts {
        schema_version,
        row_counts,
    })
}

/// `PRAGMA integrity_check`: empty when the file is sound.
pub fn integrity_problems(path: &Path) -> BackupResult<Vec<String>> {
    let conn = match open_read_only(path) {
        Ok(c) => c,
        Err(e) => return Ok(vec![e.to_string()]),
    };
    let rows: Result<Vec<String>, _> = conn
        .prepare("PRAGMA integrity_check")
        .and_then(|mut s| s.query_map([], |r| r.get(0))?.collect());
    Ok(match rows {
        Ok(rows) if rows.len() == 1 && rows[0] == "ok" => vec![],
        Ok(rows) => rows
            .into_iter()
            .take(5)
            .map(|r| format!("integrity_check: {r}"))
            .collect(),
        Err(e) => vec![format!("integrity_check could not run: {e}")],
    })
}

/// Counts and hashes what passes through.
struct Hashing<T> {
    inner: T,
    hash: Sha256,
    bytes: u64,
}

impl<T> Hashing<T> {
    fn new(inner: T) -> Self {
        Hashing {
            inner,
            hash: Sha256::new(),
            bytes: 0,
        }
    }

    fn finish(self) -> (T, String, u64) {
        (self.inner, hex::encode(self.hash.finalize()), self.bytes)
    }
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hash.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hash.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }
}

/// Compresses `src` into `dest`; returns the compressed size and its sha256.
/// `dest` is synced to disk before this returns.
pub fn compress(src: &Path, dest: &Path, level: i32) -> BackupResult<(u64, String)> {
    let input = File::open(src).map_err(io(format!("cannot read {}", src.display())))?;
    let output = crate::private_files::create_file(dest)
        .map_err(io(format!("cannot create {}", dest.display())))?;
    let write_err = io(format!("cannot write {}", dest.display()));
    let sink = Hashing::new(BufWriter::with_capacity(BUF, output));
    let compressed = (|| {
        let mut encoder = zstd::stream::Encoder::new(sink, level)?;
        let workers = std::thread::available_parallelism().map_or(1, |n| n.get()) as u32;
        if workers > 1 {
            // Falls back to one thread if the library lacks it.
            let _ = encoder.multithread(workers);
        }
        encoder.include_checksum(true)?;
        std::io::copy(&mut BufReader::with_capacity(BUF, input), &mut encoder)?;
        encoder.finish()
    })();
    let sink = compressed.map_err(write_err)?;
    let (writer, sha256, size) = sink.finish();
    let file = writer
        .into_inner()
        .map_err(|e| io(format!("cannot write {}", dest.display()))(e.into_error()))?;
    file.sync_all()
        .map_err(io(format!("cannot sync {}", dest.display())))?;
    Ok((size, sha256))
}

/// Why unpacking failed.
#[derive(Debug)]
pub enum Unpack {
    /// The file's sha256 (hex) is not the expected one.
    Checksum(String),
    Other(BackupError),
}

/// sha256 (hex) and size of a file.
pub fn sha256_file(path: &Path) -> BackupResult<(String, u64)> {
    let file = File::open(path).map_err(io(format!("cannot read {}", path.display())))?;
    let mut reader = Hashing::new(BufReader::with_capacity(BUF, file));
    std::io::copy(&mut reader, &mut std::io::sink())
        .map_err(io(format!("cannot read {}", path.display())))?;
    let (_, sum, size) = reader.finish();
    Ok((sum, size))
}

/// Decompresses `src` into `dest`, hashing `src` as it is read; a wrong
/// sha256 is reported as such even when the damage also broke the zstd
/// stream. `dest` is synced before this returns.
pub fn decompress_checked(src: &Path, dest: &Path, expected_sha256: &str) -> Result<u64, Unpack> {
    let input = File::open(src)
        .map_err(|e| Unpack::Other(io(format!("cannot read {}", src.display()))(e)))?;
    let output = crate::private_files::create_file(dest)
        .map_err(|e| Unpack::Other(io(format!("cannot create {}", dest.display()))(e)))?;
    let mut reader = Hashing::new(BufReader::with_capacity(BUF, input));
    let mut writer = BufWriter::with_capacity(BUF, output);
    let unpacked = (|| {
        let mut decoder = zstd::stream::Decoder::new(&mut reader)?;
        let n = std::io::copy(&mut decoder, &mut writer)?;
        drop(decoder);
        // Whatever the decoder left unread still counts for the checksum.
        std::io::copy(&mut reader, &mut std::io::sink())?;
        Ok::<u64, std::io::Error>(n)
    })();
    let (_, actual, _) = reader.finish();
    match unpacked {
        Ok(n) if actual == expected_sha256 => {
            let file = writer.into_inner().map_err(|e| {
                Unpack::Other(io(format!("cannot write {}", dest.display()))(
                    e.into_error(),
                ))
            })?;
            file.sync_all()
                .map_err(|e| Unpack::Other(io(format!("cannot sync {}", dest.display()))(e)))?;
            Ok(n)
        }
        Ok(_) => Err(Unpack::Checksum(actual)),
        Err(e) => {
            // The stream broke before the end: hash the whole file to tell
            // damage from a read error.
            match sha256_file(src) {
                Ok((sum, _)) if sum != expected_sha256 => Err(Unpack::Checksum(sum)),
                _ => Err(Unpack::Other(BackupError::Io {
                    what: format!("cannot decompress {}", src.display()),
                    source: e,
                })),
            }
        }
    }
}
