//! The validated `[backup]` table: where backups go, when `serve` takes and
//! drills them, what retention keeps, and the optional S3 off-site copy.
//! Parsed in `validate_backup.rs`; used by [`crate::backup`].

use std::path::PathBuf;

use super::{Schedule, Secret};

#[derive(Debug, Clone)]
pub struct BackupConfig {
    /// Backup files live here (default `<data_dir>/backups`).
    pub dir: PathBuf,
    /// When `serve` takes a backup (UTC); `None`: only by hand.
    pub schedule: Option<Schedule>,
    /// When `serve` verifies the newest backup (a restore drill, UTC).
    pub drill_schedule: Option<Schedule>,
    /// Always keep the newest N backups.
    pub keep_last: u32,
    /// Also keep the newest backup of each of the last N days that have one.
    pub keep_daily: u32,
    /// Also keep the newest backup of each of the last N ISO weeks that have one.
    pub keep_weekly: u32,
    /// zstd level, 1 (fast) to 19 (small).
    pub compression_level: i32,
    pub s3: Option<BackupS3Config>,
}

impl BackupConfig {
    /// Defaults for a data folder: daily backups at 03:17 UTC, a drill at
    /// 04:17, keep 7 + 7 daily + 4 weekly.
    pub fn defaults(data_dir: &std::path::Path) -> Self {
        BackupConfig {
            dir: data_dir.join("backups"),
            schedule: None,
            drill_schedule: None,
            keep_last: DEFAULT_KEEP_LAST,
            keep_daily: DEFAULT_KEEP_DAILY,
            keep_weekly: DEFAULT_KEEP_WEEKLY,
            compression_level: DEFAULT_COMPRESSION_LEVEL,
            s3: None,
        }
    }
}

pub const DEFAULT_KEEP_LAST: u32 = 7;
pub const DEFAULT_KEEP_DAILY: u32 = 7;
pub const DEFAULT_KEEP_WEEKLY: u32 = 4;
pub const DEFAULT_COMPRESSION_LEVEL: i32 = 3;

/// An S3-compatible bucket (AWS, DigitalOcean Spaces, MinIO…) for off-site
/// copies. Keys come from the environment or files, never from the config.
#[derive(Debug, Clone)]
pub struct BackupS3Config {
    pub endpoint: url::Url,
    pub bucket: String,
    pub region: String,
    /// Object names start with this ("blog-poster/").
    pub prefix: String,
    /// `https://endpoint/bucket/key` instead of `https://bucket.endpoint/key`.
    pub path_style: bool,
    pub access_key: Secret,
    pub secret_key: Secret,
}
