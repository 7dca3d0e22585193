//! The status page: static files embedded with rust-embed (no build step,
//! no external assets). The page fetches the JSON API itself and writes
//! every value with textContent, so untrusted text stays text.

use rust_embed::RustEmbed;

use super::api::Ctx;
use super::reply::{ApiError, Reply};

#[derive(RustEmbed)]
#[folder = "assets/status/"]
struct Assets;

fn serve(name: &str) -> Result<Reply, ApiError> {
    let file = Assets::get(name).ok_or_else(|| ApiError::not_found(format!("no asset {name}")))?;
    let content_type = match name.rsplit('.').next() {
        Some("html") => "text/html; charset=utf-8",
        Some("js") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("svg") => "image/svg+xml",
        _ => "application/octet-stream",
    };
    Ok(Reply::bytes(200, content_type, file.data.into_owned())
        .with_header("Cache-Control", "no-cache"))
}

pub fn index(_: &Ctx<'_>) -> Result<Reply, ApiError> {
    serve("index.html")
}

pub fn asset(ctx: &Ctx<'_>) -> Result<Reply, ApiError> {
    let name = ctx.param("file");
    if name.starts_with('.') || name.contains('/') || name == "index.html" {
        return Err(ApiError::not_found(format!("no asset {name}")));
    }
    serve(name)
}
