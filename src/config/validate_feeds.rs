//! Validation of `[monitor]` and `[sites.NAME.topics]`: sizes, durations,
//! limits and keyword lists, each problem reported with its line and a fix.

use std::time::Duration;

use super::feeds::{MonitorConfig, TopicsConfig};
use super::raw::{RawMonitor, RawTopics, S};
use super::units::{format_duration, format_size, parse_size};
use super::validate::Validator;

impl Validator<'_> {
    pub(super) fn monitor(&mut self, raw: &RawMonitor) -> MonitorConfig {
        let d = MonitorConfig::default();
        let body_limit = match &raw.body_limit {
            None => d.body_limit,
            Some(v) => match parse_size(v.get_ref()) {
                Ok(n) if n >= 1024 => n,
                Ok(_) => {
                    self.push(
                        v.span(),
                        "body_limit",
                        format!("body limit \"{}\" is below 1KiB", v.get_ref()),
                        Some(format!(
                            "use at least \"1KiB\" (default {})",
                            format_size(d.body_limit)
                        )),
                    );
                    d.body_limit
                }
                Err(e) => {
                    self.push(
                        v.span(),
                        "body_limit",
                        format!("invalid size \"{}\": {e}", v.get_ref()),
                        Some(format!("write it like \"{}\"", format_size(d.body_limit))),
                    );
                    d.body_limit
                }
            },
        };
        let min_check_interval = self.duration(
            &raw.min_check_interval,
            "min_check_interval",
            d.min_check_interval,
        );
        let max_check_interval = self.duration(
            &raw.max_check_interval,
            "max_check_interval",
            d.max_check_interval,
        );
        self.ordered(
            (min_check_interval, &raw.min_check_interval),
            (max_check_interval, &raw.max_check_interval),
            ("min_check_interval", "max_check_interval"),
        );
        let backoff_base = self.duration(&raw.backoff_base, "backoff_base", d.backoff_base);
        let backoff_max = self.duration(&raw.backoff_max, "backoff_max", d.backoff_max);
        self.ordered(
            (backoff_base, &raw.backoff_base),
            (backoff_max, &raw.backoff_max),
            ("backoff_base", "backoff_max"),
        );
        let max_redirects = match &raw.max_redirects {
            Some(v) if *v.get_ref() > 20 => {
                self.push(
                    v.span(),
                    "max_redirects",
                    format!(
                        "{} redirects is more than any real source needs",
                        v.get_ref()
                    ),
                    Some("use 0 to 20 (default 5)".into()),
                );
                d.max_redirects
            }
            Some(v) => *v.get_ref(),
            None => d.max_redirects,
        };
        MonitorConfig {
            body_limit,
            connect_timeout: self.duration(
                &raw.connect_timeout,
                "connect_timeout",
                d.connect_timeout,
            ),
            timeout: self.duration(&raw.timeout, "timeout", d.timeout),
            concurrency: self.positive(&raw.concurrency, "concurrency", d.concurrency),
            per_host_concurrency: self.positive(
                &raw.per_host_concurrency,
                "per_host_concurrency",
                d.per_host_concurrency,
            ),
            max_redirects,
            check_interval: self.duration(&raw.check_interval, "check_interval", d.check_interval),
            min_check_interval,
            max_check_interval,
            backoff_base,
            backoff_max,
            max_items_per_source: self.positive(
                &raw.max_items_per_source,
                "max_items_per_source",
                d.max_items_per_source,
            ),
            max_child_sitemaps: self.positive(
                &raw.max_child_sitemaps,
                "max_child_sitemaps",
                d.max_child_sitemaps,
            ),
            sitemap_page_fetches: raw
                .sitemap_page_fetches
                .as_ref()
                .map_or(d.sitemap_page_fetches, |v| *v.get_ref()),
        }
    }

    /// Reports `hi` < `lo` at the key that was written (the upper one first).
    fn ordered(
        &mut self,
        (lo, lo_raw): (Duration, &Option<S<String>>),
        (hi, hi_raw): (Duration, &Option<S<String>>),
        (lo_key, hi_key): (&str, &str),
    ) {
        if hi >= lo {
            return;
        }
        let (span, key) = match (hi_raw, lo_raw) {
            (Some(h), _) => (h.span(), hi_key),
            (None, Some(l)) => (l.span(), lo_key),
            (None, None) => return,
        };
        self.push(
            span,
            key,
            format!(
                "{hi_key} {} is shorter than {lo_key} {}",
                format_duration(hi),
                format_duration(lo)
            ),
            Some(format!("make {hi_key} ≥ {lo_key}")),
        );
    }

    pub(super) fn topics(&mut self, raw: Option<&S<RawTopics>>) -> TopicsConfig {
        let d = TopicsConfig::default();
        let Some(raw) = raw.map(S::get_ref) else {
            return d;
        };
        let similarity_threshold = match &raw.similarity_threshold {
            None => d.similarity_threshold,
            Some(v) if *v.get_ref() > 0.0 && *v.get_ref() <= 1.0 => *v.get_ref(),
            Some(v) => {
                self.push(
                    v.span(),
                    "similarity_threshold",
                    format!("similarity threshold {} is outside (0, 1]", v.get_ref()),
                    Some(format!(
                        "use a number like {} (1.0 rejects only exact matches)",
                        d.similarity_threshold
                    )),
                );
                d.similarity_threshold
            }
        };
        TopicsConfig {
            lookback: self.duration(&raw.lookback, "lookback", d.lookback),
            recency_half_life: self.duration(
                &raw.recency_half_life,
                "recency_half_life",
                d.recency_half_life,
            ),
            similarity_threshold,
            min_mentions: self.positive(&raw.min_mentions, "min_mentions", d.min_mentions),
            max_candidates: self.positive(&raw.max_candidates, "max_candidates", d.max_candidates),
            pinned_keywords: keywords(&raw.pinned_keywords),
            banned_keywords: keywords(&raw.banned_keywords),
        }
    }
}

/// Trimmed, without empties and repeats (case-insensitive), order kept.
fn keywords(list: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for k in list.iter().map(|k| k.trim()).filter(|k| !k.is_empty()) {
        if !out.iter().any(|o| o.eq_ignore_ascii_case(k)) {
            out.push(k.to_string());
        }
    }
    out
}
