//! Validation of `[backup]` and `[backup.s3]`.

use super::*;
use crate::config::backup::*;
use crate::config::raw::{RawConfig, S};

impl Validator<'_> {
    pub(super) fn backup(&mut self, raw: &RawConfig, data_dir: &Path) -> BackupConfig {
        let b = &raw.backup;
        let mut out = BackupConfig::defaults(data_dir);
        if let Some(d) = &b.dir {
            out.dir = self.path(d.get_ref());
        }
        let utc = chrono_tz::UTC;
        out.schedule = b
            .schedule
            .as_ref()
            .and_then(|s| self.cron_schedule(s, utc, "schedule"));
        out.drill_schedule = b
            .drill_schedule
            .as_ref()
            .and_then(|s| self.cron_schedule(s, utc, "drill_schedule"));
        out.keep_last = self.positive(&b.keep_last, "keep_last", DEFAULT_KEEP_LAST);
        out.keep_daily = b
            .keep_daily
            .as_ref()
            .map_or(DEFAULT_KEEP_DAILY, |v| *v.get_ref());
        out.keep_weekly = b
            .keep_weekly
            .as_ref()
            .map_or(DEFAULT_KEEP_WEEKLY, |v| *v.get_ref());
        if let Some(l) = &b.compression_level {
            if (1..=19).contains(l.get_ref()) {
                out.compression_level = *l.get_ref();
            } else {
                self.push(
                    l.span(),
                    "compression_level",
                    format!("zstd level {} is out of range 1–19", l.get_ref()),
                    Some(format!(
                        "use 1 (fastest) to 19 (smallest); default {DEFAULT_COMPRESSION_LEVEL}"
                    )),
                );
            }
        }
        out.s3 = b.s3.as_ref().and_then(|s3| self.backup_s3(s3));
        out
    }

    fn backup_s3(&mut self, s3: &S<super::raw::RawBackupS3>) -> Option<BackupS3Config> {
        let r = s3.get_ref();
        let endpoint = match url::Url::parse(r.endpoint.get_ref()) {
            Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => Some(u),
            _ => {
                self.push(
                    r.endpoint.span(),
                    "endpoint",
                    format!("invalid S3 endpoint \"{}\"", r.endpoint.get_ref()),
                    Some("use the provider's endpoint URL, like \"https://fra1.digitaloceanspaces.com\"".into()),
                );
                None
            }
        };
        let bucket = r.bucket.get_ref().trim().to_string();
        if bucket.is_empty() {
            self.push(
                r.bucket.span(),
                "bucket",
                "the bucket name is empty".into(),
                Some("name an existing bucket (Space)".into()),
            );
        }
        let region = r
            .region
            .as_ref()
            .map_or_else(|| "us-east-1".to_string(), |s| s.get_ref().clone());
        let prefix = r
            .prefix
            .as_ref()
            .map_or_else(|| "blog-poster/".to_string(), |s| s.get_ref().clone());
        let access_key = self.secret(
            &r.access_key_env,
            &r.access_key_file,
            "access_key",
            "BLOG_POSTER_S3_ACCESS_KEY",
            "s3-access-key",
            s3.span(),
            SecretUse::BackupS3,
        );
        let secret_key = self.secret(
            &r.secret_key_env,
            &r.secret_key_file,
            "secret_key",
            "BLOG_POSTER_S3_SECRET_KEY",
            "s3-secret-key",
            s3.span(),
            SecretUse::BackupS3,
        );
        Some(BackupS3Config {
            endpoint: endpoint?,
            bucket,
            region,
            prefix,
            path_style: r.path_style.unwrap_or(false),
            access_key,
            secret_key,
        })
    }
}
