//! What the site already covers, for topic selection: its articles' titles,
//! focus keywords and topics. Read-only.

use rusqlite::{Connection, params};

use super::map_err;
use crate::domain::lifecycle::ArticleStatus;
use crate::store::*;

pub(super) fn list_article_titles(
    c: &Connection,
    site: &str,
    limit: u32,
) -> StoreResult<Vec<ArticleTitle>> {
    let mut stmt = c
        .prepare_cached(
            "SELECT a.id, a.title, a.focus_keyword, a.topic, a.status
             FROM articles a JOIN sites s ON s.id = a.site_id
             WHERE s.name = ?1 ORDER BY a.id DESC LIMIT ?2",
        )
        .map_err(map_err)?;
    let rows = stmt
        .query_map(params![site, limit], |r| {
            let status: String = r.get(4)?;
            Ok(ArticleTitle {
                id: ArticleId(r.get(0)?),
                title: r.get(1)?,
                focus_keyword: r.get(2)?,
                topic: r.get(3)?,
                status: ArticleStatus::parse(&status).unwrap_or(ArticleStatus::Draft),
            })
        })
        .map_err(map_err)?;
    rows.collect::<Result<_, _>>().map_err(map_err)
}
