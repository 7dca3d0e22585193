//! Featured images: uploaded through `/wp/v2/media` with a slug derived
//! from the article's publish key, so a retried publish finds the image it
//! already uploaded instead of uploading a second copy.

use reqwest::Method;
use serde::Deserialize;

use super::{Action, Body, WpClient, WpError};

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
