//! Featured images: uploaded through `/wp/v2/media` with a slug derived
//! from the article's publish key, so a retried publish finds the image it
//! already uploaded instead of uploading a second copy.

use std::path::Path;
use std::time::Duration;

use reqwest::Method;
use serde::Deserialize;

use super::{Action, Body, WpClient, WpError};
use crate::http::{HttpError, HttpOptions, read_capped};

/// An image ready to upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaFile {
    pub bytes: Vec<u8>,
    /// ASCII, with the right extension.
    pub file_name: String,
    pub mime: &'static str,
}

/// The image type from its first bytes: (MIME type, extension). Only the
/// formats WordPress accepts by default.
pub fn sniff_image(bytes: &[u8]) -> Option<(&'static str, &'static str)> {
    if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some(("image/png", "png"))
    } else if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some(("image/jpeg", "jpg"))
    } else if bytes.starts_with(b"GIF87a") || bytes.starts_with(b"GIF89a") {
        Some(("image/gif", "gif"))
    } else if bytes.len() >= 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
        Some(("image/webp", "webp"))
    } else {
        None
    }
}

/// Largest featured image we upload.
const IMAGE_LIMIT: usize = 20 * 1024 * 1024;

/// Reads a featured image from a local file (relative paths resolve from
/// `base_dir`) or downloads it from an http(s) URL. `stem` names the
/// uploaded file (ASCII; the extension comes from the image's type).
pub async fn load_image(
    source: &str,
    base_dir: &Path,
    stem: &str,
    timeout: Duration,
) -> Result<MediaFile, WpError> {
    let image_error = |detail: String| WpError::Image {
        source_name: source.to_string(),
        detail,
    };
    let bytes = if source.starts_with("http://") || source.starts_with("https://") {
        let client = crate::http::client(&HttpOptions {
            timeout,
            ..HttpOptions::default()
        })
        .map_err(|e| image_error(e.to_string()))?;
        let resp = client
            .get(source)
            .send()
            .await
            .map_err(|e| super::error::transport(source, &e, timeout))?;
        if !resp.status().is_success() {
            return Err(image_error(format!(
                "download answered {}; fix the image URL",
                resp.status().as_u16()
            )));
        }
        read_capped(resp, IMAGE_LIMIT).await.map_err(|e| match e {
            HttpError::Transport(e) => super::error::transport(source, &e, timeout),
            other => image_error(other.to_string()),
        })?
    } else {
        let path = base_dir.join(source);
        tokio::fs::read(&path).await.map_err(|e| {
            image_error(format!(
                "cannot read {}: {e}; fix the path or remove the image",
                path.display()
            ))
        })?
    };
    if bytes.len() > IMAGE_LIMIT {
        return Err(image_error(format!(
            "{} bytes is more than the {IMAGE_LIMIT}-byte limit",
            bytes.len()
        )));
    }
    let (mime, ext) = sniff_image(&bytes)
        .ok_or_else(|| image_error("not a PNG, JPEG, GIF or WebP image".to_string()))?;
    let stem: String = stem
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '-'
            }
        })
        .take(60)
        .collect();
    Ok(MediaFile {
        bytes,
        file_name: format!("{}.{ext}", if stem.is_empty() { "image" } else { &stem }),
        mime,
    })
}

#[derive(Deserialize)]
struct MediaItem {
    id: u64,
}

impl WpClient {
    /// The media item with this slug, if it was uploaded before.
    pub async fn media_by_slug(&self, slug: &str) -> Result<Option<u64>, WpError> {
        let url = self.api_root().await?.route(
            "wp/v2/media",
            &[("slug", slug), ("_fields", "id"), ("context", "edit")],
        );
        let found: Vec<MediaItem> = self
            .call(Method::GET, url, Action::Read, None)
            .await?
            .json()?;
        Ok(found.first().map(|m| m.id))
    }

    /// Uploads `file` as `slug` with its alt text; returns the media id.
    pub async fn upload_media(
        &self,
        file: &MediaFile,
        slug: &str,
        alt_text: &str,
        title: &str,
    ) -> Result<u64, WpError> {
        let url = self.api_root().await?.route(
            "wp/v2/media",
            &[("slug", slug), ("alt_text", alt_text), ("title", title)],
        );
        let body = Body::Bytes {
            bytes: file.bytes.clone(),
            content_type: file.mime.to_string(),
            disposition: format!("attachment; filename=\"{}\"", file.file_name),
        };
        let item: MediaItem = self
            .call(Method::POST, url, Action::UploadMedia, Some(body))
            .await?
            .json()?;
        Ok(item.id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_types_are_sniffed_from_magic_bytes() {
        assert_eq!(
            sniff_image(b"\x89PNG\r\n\x1a\n...."),
            Some(("image/png", "png"))
        );
        assert_eq!(
            sniff_image(&[0xFF, 0xD8, 0xFF, 0xE0]),
            Some(("image/jpeg", "jpg"))
        );
        assert_eq!(
            sniff_image(b"RIFF\x00\x00\x00\x00WEBPVP8 "),
            Some(("image/webp", "webp"))
        );
        assert_eq!(sniff_image(b"<svg xmlns="), None);
    }
}
