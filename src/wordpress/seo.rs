//! SEO fields (meta description, focus keyword, SEO title) for Yoast or
//! Rank Math. Neither plugin lets the REST API write its fields unless the
//! site registers them (`register_post_meta(…, ['show_in_rest' => true])`),
//! so we read the posts schema and fill only what the site exposes; the
//! rest is skipped with a note saying how to expose it.

use std::collections::BTreeSet;

use reqwest::Method;
use serde_json::{Map, Value};

use super::{Action, WpClient, WpError};
use crate::config::SeoPreference;
use crate::store::NewArticle;

const YOAST: [&str; 3] = [
    "_yoast_wpseo_title",
    "_yoast_wpseo_metadesc",
    "_yoast_wpseo_focuskw",
];
const RANK_MATH: [&str; 3] = [
    "rank_math_title",
    "rank_math_description",
    "rank_math_focus_keyword",
];

/// What the site offers: plugin namespaces and writable post meta keys.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SeoSupport {
    pub yoast_active: bool,
    pub rank_math_active: bool,
    /// Post meta keys in the posts schema (writable through the REST API).
    pub meta_keys: BTreeSet<String>,
}

/// The meta to send, and what to tell the operator.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SeoPlan {
    pub meta: Map<String, Value>,
    /// "Yoast" or "Rank Math" when fields are sent.
    pub plugin: Option<&'static str>,
    /// Why fields were skipped, with the fix.
    pub note: Option<String>,
}

impl WpClient {
    /// Reads the plugin namespaces and the posts schema once per client.
    pub async fn seo_support(&self) -> Result<&SeoSupport, WpError> {
        self.seo
            .get_or_try_init(|| async {
                let index = &self.discovery().await?.index;
                let url = self.api_root().await?.route("wp/v2/posts", &[]);
                let schema: Value = self
                    .call(Method::OPTIONS, url, Action::Read, None)
                    .await?
                    .json()?;
                let meta_keys = schema
                    .pointer("/schema/properties/meta/properties")
                    .and_then(Value::as_object)
                    .map(|m| m.keys().cloned().collect())
                    .unwrap_or_default();
                Ok(SeoSupport {
                    yoast_active: index.has_namespace("yoast/v1"),
                    rank_math_active: index.has_namespace("rankmath/v1"),
                    meta_keys,
                })
            })
            .await
    }
}

/// Decides which SEO fields to send for `article`. Pure.
pub fn seo_plan(pref: SeoPreference, support: &SeoSupport, article: &NewArticle) -> SeoPlan {
    if pref == SeoPreference::None {
        return SeoPlan::default();
    }
    let exposes = |keys: &[&str; 3]| keys.iter().all(|k| support.meta_keys.contains(*k));
    let yoast = exposes(&YOAST);
    let rank_math = exposes(&RANK_MATH);
    let chosen = match pref {
        SeoPreference::Yoast if yoast => Some(("Yoast", YOAST)),
        SeoPreference::RankMath if rank_math => Some(("Rank Math", RANK_MATH)),
        SeoPreference::Auto if yoast => Some(("Yoast", YOAST)),
        SeoPreference::Auto if rank_math => Some(("Rank Math", RANK_MATH)),
        _ => None,
    };
    if let Some((plugin, [title, description, keyword])) = chosen {
        let mut meta = Map::new();
        meta.insert(title.into(), Value::String(article.title.clone()));
        meta.insert(
            description.into(),
            Value::String(article.meta_description.clone()),
        );
        meta.insert(keyword.into(), Value::String(article.focus_keyword.clone()));
        return SeoPlan {
            meta,
            plugin: Some(plugin),
            note: None,
        };
    }
    let (name, keys) = match pref {
        SeoPreference::RankMath => ("Rank Math", RANK_MATH),
        SeoPreference::Yoast => ("Yoast", YOAST),
        _ if support.rank_math_active && !support.yoast_active => ("Rank Math", RANK_MATH),
        _ => ("Yoast", YOAST),
    };
    let active = match name {
        "Rank Math" => support.rank_math_active,
        _ => support.yoast_active,
    };
    let note = if active || pref != SeoPreference::Auto {
        format!(
            "SEO fields skipped: {name} {} its fields ({}) to the REST API; register them with \
             register_post_meta('post', KEY, ['show_in_rest' => true, 'single' => true, 'type' => 'string', \
             'auth_callback' => fn() => current_user_can('edit_posts')]) in a small plugin to have them filled",
            if active {
                "is active but does not expose"
            } else {
                "is not detected and the site does not expose"
            },
            keys.join(", ")
        )
    } else {
        "SEO fields skipped: no SEO plugin (Yoast, Rank Math) exposes its fields to the REST API on this site"
            .to_string()
    };
    SeoPlan {
        meta: Map::new(),
        plugin: None,
        note: Some(note),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn article() -> NewArticle {
        NewArticle {
            topic: "t".into(),
            title: "Title".into(),
            slug: "s".into(),
            meta_description: "Desc".into(),
            focus_keyword: "kw".into(),
            excerpt: String::new(),
            tags: vec![],
            category: None,
            body_markdown: String::new(),
        }
    }

    fn support(keys: &[&str], yoast: bool, rank_math: bool) -> SeoSupport {
        SeoSupport {
            yoast_active: yoast,
            rank_math_active: rank_math,
            meta_keys: keys.iter().map(|k| k.to_string()).collect(),
        }
    }

    #[test]
    fn exposed_yoast_fields_are_filled() {
        let plan = seo_plan(
            SeoPreference::Auto,
            &support(&YOAST, true, false),
            &article(),
        );
        assert_eq!(plan.plugin, Some("Yoast"));
        assert_eq!(plan.meta["_yoast_wpseo_metadesc"], "Desc");
        assert_eq!(plan.meta["_yoast_wpseo_focuskw"], "kw");
        assert_eq!(plan.note, None);
    }

    #[test]
    fn rank_math_is_used_when_only_it_is_exposed() {
        let plan = seo_plan(
            SeoPreference::Auto,
            &support(&RANK_MATH, false, true),
            &article(),
        );
        assert_eq!(plan.plugin, Some("Rank Math"));
        assert_eq!(plan.meta["rank_math_description"], "Desc");
    }

    #[test]
    fn active_but_unexposed_plugin_is_skipped_with_the_fix() {
        let plan = seo_plan(SeoPreference::Auto, &support(&[], false, true), &article());
        assert!(plan.meta.is_empty());
        let note = plan.note.expect("note");
        assert!(
            note.contains("Rank Math is active but does not expose"),
            "{note}"
        );
        assert!(note.contains("register_post_meta"), "{note}");
    }

    #[test]
    fn no_plugin_and_none_preference() {
        let plan = seo_plan(SeoPreference::Auto, &support(&[], false, false), &article());
        assert!(plan.note.expect("note").contains("no SEO plugin"));
        let plan = seo_plan(
            SeoPreference::None,
            &support(&YOAST, true, false),
            &article(),
        );
        assert_eq!(plan, SeoPlan::default());
        let plan = seo_plan(
            SeoPreference::RankMath,
            &support(&YOAST, true, false),
            &article(),
        );
        assert!(plan.meta.is_empty());
        assert!(
            plan.note
                .expect("note")
                .contains("Rank Math is not detected")
        );
    }
}
