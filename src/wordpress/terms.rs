//! Categories and tags by name: found by a search and an exact
//! (case-insensitive, entity-decoded) name match, created when missing. Two
//! publishers creating the same term at once is normal: the loser gets
//! `term_exists` with the winner's `term_id`, which is just as good; and
//! when WordPress's own check-then-insert lets both creates through, both
//! settle on the oldest term and the duplicate is removed.

use reqwest::Method;
use serde::Deserialize;

use super::{Action, Body, WpClient, WpError};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Taxonomy {
    Category,
    Tag,
}

impl Taxonomy {
    fn route(self) -> &'static str {
        match self {
            Taxonomy::Category => "wp/v2/categories",
            Taxonomy::Tag => "wp/v2/tags",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Taxonomy::Category => "category",
            Taxonomy::Tag => "tag",
        }
    }
}

#[derive(Debug, Deserialize)]
struct Term {
    id: u64,
    #[serde(default)]
    name: String,
}

async fn root_route(
    client: &WpClient,
    taxonomy: Taxonomy,
    id: u64,
) -> Result<reqwest::Url, WpError> {
    Ok(client
        .api_root()
        .await?
        .route(&format!("{}/{id}", taxonomy.route()), &[("force", "true")]))
}

/// How WordPress compares term names, near enough: entities decoded,
/// surrounding space dropped, case folded.
fn same_name(stored: &str, wanted: &str) -> bool {
    decode_entities(stored).trim().to_lowercase() == wanted.trim().to_lowercase()
}

impl WpClient {
    /// The id of the term called `name`, created if the site has none.
    pub async fn ensure_term(&self, taxonomy: Taxonomy, name: &str) -> Result<u64, WpError> {
        let name = name.trim();
        if let Some(id) = self.find_term(taxonomy, name).await? {
            return Ok(id);
        }
        let created = self.create_term(taxonomy, name).await?;
        // WordPress's own check-then-insert can let two simultaneous creates
        // both succeed (the second under another slug). Settle on the oldest
        // term of that name, and remove the duplicate we made.
        match self.find_term(taxonomy, name).await? {
            Some(oldest) if oldest < created => {
                let url = root_route(self, taxonomy, created).await?;
                if let Err(e) = self
                    .call(Method::DELETE, url, Action::CreateTerm, None)
                    .await
                {
                    tracing::warn!(term = created, error = %e, "could not remove a duplicate {}", taxonomy.label());
                }
                Ok(oldest)
            }
            _ => Ok(created),
        }
    }

    /// The oldest term whose name is `name`.
    async fn find_term(&self, taxonomy: Taxonomy, name: &str) -> Result<Option<u64>, WpError> {
        let url = self.api_root().await?.route(
            taxonomy.route(),
            &[
                ("search", name),
                ("per_page", "100"),
                ("_fields", "id,name"),
                ("hide_empty", "false"),
                ("orderby", "id"),
                ("order", "asc"),
            ],
        );
        let found: Vec<Term> = self
            .call(Method::GET, url, Action::Read, None)
            .await?
            .json()?;
        Ok(found
            .iter()
            .filter(|t| same_name(&t.name, name))
            .map(|t| t.id)
            .min())
    }

    /// Creates the term; if it exists already (a race with another
    /// publisher, or a name the search did not match), its id.
    pub async fn create_term(&self, taxonomy: Taxonomy, name: &str) -> Result<u64, WpError> {
        let name = name.trim();
        let url = self.api_root().await?.route(taxonomy.route(), &[]);
        let body = serde_json::json!({ "name": name });
        match self
            .call(
                Method::POST,
                url,
                Action::CreateTerm,
                Some(Body::Json(body)),
            )
            .await
        {
            Ok(reply) => Ok(reply.json::<Term>()?.id),
            // Someone created it since we looked (or the search missed it).
            Err(WpError::Rejected {
                code,
                term_id: Some(id),
                ..
            }) if code == "term_exists" => Ok(id),
            Err(e) => Err(e),
        }
    }
}

/// Decodes the HTML entities WordPress puts in rendered names and titles
/// (`&amp;`, `&#8217;`, `&#x2019;`, …). Unknown entities stay as written.
pub fn decode_entities(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        let decoded = tail.find(';').filter(|&end| end <= 10).and_then(|end| {
            let entity = &tail[1..end];
            let c = match entity {
                "amp" => Some('&'),
                "lt" => Some('<'),
                "gt" => Some('>'),
                "quot" => Some('"'),
                "apos" => Some('\''),
                "nbsp" => Some('\u{a0}'),
                e if e.starts_with("#x") || e.starts_with("#X") => u32::from_str_radix(&e[2..], 16)
                    .ok()
                    .and_then(char::from_u32),
                e if e.starts_with('#') => e[1..].parse::<u32>().ok().and_then(char::from_u32),
                _ => None,
            };
            c.map(|c| (c, end))
        });
        match decoded {
            Some((c, end)) => {
                out.push(c);
                rest = &tail[end + 1..];
            }
            None => {
                out.push('&');
                rest = &tail[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entities_decode_named_decimal_and_hex() {
        assert_eq!(decode_entities("Café &amp; Crème"), "Café & Crème");
        assert_eq!(decode_entities("It&#8217;s &#x2019;ok&#039;"), "It’s ’ok'");
        assert_eq!(decode_entities("a & b &unknown; &"), "a & b &unknown; &");
    }

    #[test]
    fn names_match_like_wordpress_compares_them() {
        assert!(same_name("Café &amp; Crème", "café & crème "));
        assert!(same_name("Ünïcode Tag", "ünïcode tag"));
        assert!(!same_name("Rust", "Rusty"));
    }
}
