//! `BLOG_POSTER_READY_FILE`: once `serve` is ready (migrations ran, the HTTP
//! listener is bound, workers are up: the moment systemd gets READY=1), it
//! writes the address it listens on to that file. A supervisor or a test
//! starts `serve` with `listen = "127.0.0.1:0"` and reads the real port from
//! here, so no one has to pick a "free" port that someone else may take
//! before the child binds it. Unset, nothing is written.

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// The environment variable naming the file.
pub const ENV: &str = "BLOG_POSTER_READY_FILE";

#[derive(Debug, thiserror::Error)]
#[error(
    "cannot write the ready file {path} (named by {ENV}): {source}; \
     point {ENV} at a file in a writable directory, or unset it"
)]
pub struct ReadyFileError {
    pub path: PathBuf,
    #[source]
    pub source: std::io::Error,
}

/// Writes `addr` to the file named by [`ENV`], if it is set.
pub fn announce(addr: SocketAddr) -> Result<(), ReadyFileError> {
    match std::env::var_os(ENV) {
        Some(p) if !p.is_empty() => write(Path::new(&p), addr),
        _ => Ok(()),
    }
}

/// Writes `addr` and a newline to `path` atomically (a temporary file in the
/// same directory, then a rename), so a reader polling for the file never
/// sees it half-written.
pub fn write(path: &Path, addr: SocketAddr) -> Result<(), ReadyFileError> {
    let err = |source| ReadyFileError {
        path: path.to_path_buf(),
        source,
    };
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let mut f = std::fs::File::create(&tmp).map_err(err)?;
    writeln!(f, "{addr}").map_err(err)?;
    f.sync_all().map_err(err)?;
    drop(f);
    std::fs::rename(&tmp, path).map_err(err)
}

/// Reads an address [`write`] wrote: `None` while the file does not exist.
pub fn read(path: &Path) -> Result<Option<SocketAddr>, String> {
    match std::fs::read_to_string(path) {
        Ok(s) => s
            .trim()
            .parse()
            .map(Some)
            .map_err(|e| format!("{}: {e}: {s:?} is not an address", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("{}: {e}", path.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_file_round_trips_the_address_and_is_absent_before() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("ready");
        assert_eq!(read(&p), Ok(None));
        let addr: SocketAddr = "127.0.0.1:45678".parse().expect("addr");
        write(&p, addr).expect("write");
        assert_eq!(read(&p), Ok(Some(addr)));
        assert!(!dir.path().join("ready.tmp").exists(), "renamed into place");
        let v6: SocketAddr = "[::1]:8080".parse().expect("addr");
        write(&p, v6).expect("overwrite");
        assert_eq!(read(&p), Ok(Some(v6)));
    }

    #[test]
    fn ready_file_in_a_missing_directory_names_the_file_and_the_fix() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("no-such-dir").join("ready");
        let e = write(&p, "127.0.0.1:1".parse().expect("addr")).expect_err("missing dir");
        let msg = e.to_string();
        assert!(msg.contains(&p.display().to_string()), "{msg}");
        assert!(msg.contains(ENV), "{msg}");
    }

    #[test]
    fn ready_file_with_garbage_is_an_error_not_an_address() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("ready");
        std::fs::write(&p, "not an address\n").expect("write");
        assert!(read(&p).is_err());
    }
}
