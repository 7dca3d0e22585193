//! The off-site copy: any S3-compatible store (AWS S3, DigitalOcean Spaces,
//! MinIO) through SigV4 presigned URLs made by rusty-s3 and sent with our
//! one HTTP client. Upload streams the file (no copy in memory); download
//! streams to a file whose sha256 the caller checks against the catalog.
//! Error messages never carry the presigned URL.

use std::path::Path;
use std::time::Duration;

use rusty_s3::actions::ListObjectsV2;
use rusty_s3::{Bucket, Credentials, S3Action, UrlStyle};
use tokio::io::AsyncWriteExt;

use super::{BackupError, BackupResult};
use crate::config::BackupS3Config;
use crate::http::HttpOptions;

/// How long a presigned URL stays valid.
const SIGNED_FOR: Duration = Duration::from_secs(3600);

/// One object in the bucket under our prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteObject {
    pub key: String,
    pub size: u64,
    pub last_modified: Option<String>,
}

pub struct Remote {
    bucket: Bucket,
    credentials: Credentials,
    prefix: String,
    client: reqwest::Client,
}

impl std::fmt::Debug for Remote {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Remote")
            .field("bucket", &self.bucket.name())
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

fn remote(e: impl std::fmt::Display) -> BackupError {
    BackupError::Remote(e.to_string())
}

impl Remote {
    pub fn new(cfg: &BackupS3Config) -> BackupResult<Self> {
        let style = if cfg.path_style {
            UrlStyle::Path
        } else {
            UrlStyle::VirtualHost
        };
        let bucket = Bucket::new(
            cfg.endpoint.clone(),
            style,
            cfg.bucket.clone(),
            cfg.region.clone(),
        )
        .map_err(|e| {
            BackupError::Remote(format!(
                "bucket \"{}\" at {}: {e} (set path_style = true for endpoints given by IP address)",
                cfg.bucket, cfg.endpoint
            ))
        })?;
        let client = crate::http::client(&HttpOptions {
            connect_timeout: Duration::from_secs(15),
            // Large files on a small uplink.
            timeout: Duration::from_secs(3 * 3600),
            max_redirects: 0,
            public_only: false,
        })
        .map_err(remote)?;
        let key = |s: &crate::config::Secret| {
            s.expose()
                .map(str::to_string)
                .map_err(|e| BackupError::Remote(e.to_string()))
        };
        Ok(Remote {
            bucket,
            credentials: Credentials::new(key(&cfg.access_key)?, key(&cfg.secret_key)?),
            prefix: cfg.prefix.clone(),
            client,
        })
    }

    /// The object key for a backup file.
    pub fn key_for(&self, file_name: &str) -> String {
        format!("{}{file_name}", self.prefix)
    }

    async fn check(
        what: &str,
        response: Result<reqwest::Response, reqwest::Error>,
    ) -> BackupResult<reqwest::Response> {
        let response =
            response.map_err(|e| BackupError::Remote(format!("{what}: {}", e.without_url())))?;
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let body = response.text().await.unwrap_or_default();
        let code = body
            .split("<Code>")
            .nth(1)
            .and_then(|s| s.split("</Code>").next())
            .unwrap_or("");
        let hint = match status.as_u16() {
            401 | 403 => " (check the access key, the secret key and the region)",
            404 => " (check the bucket name and the endpoint)",
            _ => "",
        };
        Err(BackupError::Remote(format!(
            "{what}: HTTP {status} {code}{hint}"
        )))
    }

    /// Uploads `path` as `key`, streaming it.
    pub async fn upload(&self, path: &Path, key: &str) -> BackupResult<()> {
        let file = tokio::fs::File::open(path)
            .await
            .map_err(|e| BackupError::Remote(format!("cannot read {}: {e}", path.display())))?;
        let len = file.metadata().await.map_err(remote)?.len();
        let url = self
            .bucket
            .put_object(Some(&self.credentials), key)
            .sign(SIGNED_FOR);
        let body =
            reqwest::Body::wrap_stream(tokio_util::io::ReaderStream::with_capacity(file, 1 << 20));
        let response = self
            .client
            .put(url)
            .header(reqwest::header::CONTENT_LENGTH, len)
            .header(reqwest::header::CONTENT_TYPE, "application/zstd")
            .body(body)
            .send()
            .await;
        Self::check(&format!("upload of {key}"), response).await?;
        Ok(())
    }

    /// Every object under the prefix.
    pub async fn list(&self) -> BackupResult<Vec<RemoteObject>> {
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut action = ListObjectsV2::new(&self.bucket, Some(&self.credentials));
            action.with_prefix(self.prefix.as_str());
            if let Some(t) = &token {
                action.with_continuation_token(t.as_str());
            }
            let url = action.sign(SIGNED_FOR);
            let response =
                Self::check("listing the bucket", self.client.get(url).send().await).await?;
            let text = response.text().await.map_err(remote)?;
            let parsed = ListObjectsV2::parse_response(&text)
                .map_err(|e| BackupError::Remote(format!("unreadable bucket listing: {e}")))?;
            out.extend(parsed.contents.into_iter().map(|c| RemoteObject {
                key: c.key,
                size: c.size.unwrap_or(0),
                last_modified: c.last_modified,
            }));
            match parsed.next_continuation_token {
                Some(t) if !t.is_empty() => token = Some(t),
                _ => break,
            }
        }
        Ok(out)
    }

    /// Downloads `key` into `dest` (created or truncated); returns its size.
    pub async fn download(&self, key: &str, dest: &Path) -> BackupResult<u64> {
        let url = self
            .bucket
            .get_object(Some(&self.credentials), key)
            .sign(SIGNED_FOR);
        let mut response = Self::check(
            &format!("download of {key}"),
            self.client.get(url).send().await,
        )
        .await?;
        let mut file = crate::private_files::create_file(dest)
            .map(tokio::fs::File::from_std)
            .map_err(|e| BackupError::Remote(format!("cannot create {}: {e}", dest.display())))?;
        let mut n = 0u64;
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| BackupError::Remote(format!("download of {key}: {}", e.without_url())))?
        {
            n += chunk.len() as u64;
            file.write_all(&chunk).await.map_err(remote)?;
        }
        file.sync_all().await.map_err(remote)?;
        Ok(n)
    }

    pub async fn delete(&self, key: &str) -> BackupResult<()> {
        let url = self
            .bucket
            .delete_object(Some(&self.credentials), key)
            .sign(SIGNED_FOR);
        Self::check(
            &format!("delete of {key}"),
            self.client.delete(url).send().await,
        )
        .await?;
        Ok(())
    }
}
