//! Validation of `[sites.*]`: each site's settings, its cron schedule (also
//! used by `[backup]`), and its publisher (the outbox, or WordPress with its
//! URL and application password), each problem reported with its line and
//! a fix.

use super::*;

impl Validator<'_> {
    pub(super) fn site(
        &mut self,
        name: &str,
        site: &S<RawSite>,
        engine: &EngineConfig,
        llm: &LlmConfig,
        budget: &BudgetConfig,
    ) -> Option<SiteConfig> {
        let span = site.span();
        let raw = site.get_ref();
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            self.push(
                span.clone(),
                "sites",
                format!("site name \"{name}\" is not allowed"),
                Some("use letters, digits, '-' and '_' only: it names folders and URLs".into()),
            );
        }
        let tz = match &raw.timezone {
            None => chrono_tz::UTC,
            Some(t) => match t.get_ref().parse::<chrono_tz::Tz>() {
                Ok(tz) => tz,
                Err(_) => {
                    self.push(
                        t.span(),
                        "timezone",
                        format!("unknown time zone \"{}\"", t.get_ref()),
                        Some("use an IANA name like \"Europe/Berlin\" or \"UTC\"".into()),
                    );
                    chrono_tz::UTC
                }
            },
        };
        let schedule = raw.schedule.as_ref().and_then(|s| self.schedule(s, tz));
        let publisher = self.publisher(name, raw);
        let mut sources = Vec::new();
        for src in &raw.sources {
            let r = src.get_ref();
            let url = match reqwest::Url::parse(r.url.get_ref()) {
                Ok(u) if matches!(u.scheme(), "http" | "https") => u,
                Ok(_) | Err(_) => {
                    self.push(
                        r.url.span(),
                        "url",
                        format!("invalid source URL \"{}\"", r.url.get_ref()),
                        Some("use a full http:// or https:// URL".into()),
                    );
                    continue;
                }
            };
            let kind = match r.kind.as_ref().map(|k| (k.get_ref().as_str(), k.span())) {
                None | Some(("auto", _)) => SourceKind::Auto,
                Some(("feed", _)) => SourceKind::Feed,
                Some(("sitemap", _)) => SourceKind::Sitemap,
                Some(("page", _)) => SourceKind::Page,
                Some((other, span)) => {
                    self.push(
                        span,
                        "kind",
                        format!("unknown source kind \"{other}\""),
                        Some("use auto, feed, sitemap or page".into()),
                    );
                    SourceKind::Auto
                }
            };
            sources.push(SourceConfig {
                url,
                kind,
                allow_private: r.allow_private.as_ref().is_some_and(|a| *a.get_ref()),
            });
        }
        let generate = self.generate_settings(raw, llm);
        let check = self.check_settings(raw, generate.target_words);
        let site_budget = self.site_budget(raw, budget);
        Some(SiteConfig {
            name: name.to_string(),
            enabled: raw.enabled.unwrap_or(true),
            schedule,
            publisher: publisher?,
            max_concurrency: self.positive(
                &raw.max_concurrency,
                "max_concurrency",
                engine.per_site_concurrency,
            ),
            seed_keywords: raw
                .seed_keywords
                .iter()
                .map(|k| k.trim().to_string())
                .filter(|k| !k.is_empty())
                .collect(),
            sources,
            topics: self.topics(raw.topics.as_ref()),
            generate,
            check,
            budget: site_budget,
        })
    }

    pub(super) fn schedule(&mut self, s: &S<String>, tz: chrono_tz::Tz) -> Option<Schedule> {
        self.cron_schedule(s, tz, "schedule")
    }

    /// A cron expression in `tz`; problems are reported under `key`.
    pub(super) fn cron_schedule(
        &mut self,
        s: &S<String>,
        tz: chrono_tz::Tz,
        key: &str,
    ) -> Option<Schedule> {
        let expr = s.get_ref().trim();
        let fields = expr.split_whitespace().count();
        let parsed = if (5..=7).contains(&fields) {
            croner::parser::CronParser::new()
                .parse(expr)
                .map_err(|e| explain_cron(expr).unwrap_or_else(|| e.to_string()))
        } else {
            Err(format!("{fields} fields"))
        };
        match parsed {
            Ok(cron) => Some(Schedule {
                expr: expr.to_string(),
                cron,
                tz,
            }),
            Err(e) => {
                self.push(
                    s.span(),
                    key,
                    format!("invalid cron schedule \"{expr}\": {e}"),
                    Some(
                        "use 5 fields \"min hour day month weekday\" (e.g. \"0 6 * * *\" for 06:00 daily) or 6 with seconds first"
                            .into(),
                    ),
                );
                None
            }
        }
    }

    pub(super) fn publisher(&mut self, site: &str, raw: &RawSite) -> Option<PublisherConfig> {
        let kind = raw
            .publisher
            .as_ref()
            .map(|p| (p.get_ref().as_str(), p.span()));
        match kind {
            None if raw.wordpress.is_some() => self.wordpress(site, raw.wordpress.as_ref()?),
            None | Some(("outbox", _)) => Some(PublisherConfig::Outbox),
            Some(("wordpress", span)) => {
                match &raw.wordpress {
                    Some(wp) => self.wordpress(site, wp),
                    None => {
                        self.push(
                        span,
                        "publisher",
                        "publisher is \"wordpress\" but there is no wordpress table".into(),
                        Some(format!("add [sites.{site}.wordpress] with url, username and app_password_env")),
                    );
                        None
                    }
                }
            }
            Some((other, span)) => {
                self.push(
                    span,
                    "publisher",
                    format!("unknown publisher \"{other}\""),
                    Some("use outbox or wordpress".into()),
                );
                None
            }
        }
    }

    pub(super) fn wordpress(
        &mut self,
        site: &str,
        wp: &S<RawWordpress>,
    ) -> Option<PublisherConfig> {
        let raw = wp.get_ref();
        let url = match reqwest::Url::parse(raw.url.get_ref()) {
            Ok(u) if matches!(u.scheme(), "http" | "https") => Some(u),
            _ => {
                self.push(
                    raw.url.span(),
                    "url",
                    format!("invalid WordPress URL \"{}\"", raw.url.get_ref()),
                    Some("use the site's home URL, like \"https://example.com\"".into()),
                );
                None
            }
        };
        let default_env = format!(
            "BLOG_POSTER_{}_WP_APP_PASSWORD",
            site.to_ascii_uppercase().replace('-', "_")
        );
        let credential = format!("{site}-wp-app-password");
        let secret = self.secret(
            &raw.app_password_env,
            &raw.app_password_file,
            "app_password",
            &default_env,
            &credential,
            wp.span(),
            SecretUse::Wordpress {
                site: site.to_string(),
            },
        );
        let post_status = match raw.post_status.as_ref() {
            None => PostStatus::Publish,
            Some(p) => PostStatus::parse(p.get_ref()).unwrap_or_else(|| {
                self.push(
                    p.span(),
                    "post_status",
                    format!("unknown post status \"{}\"", p.get_ref()),
                    Some("use draft, pending, publish or future".into()),
                );
                PostStatus::Publish
            }),
        };
        let schedule_delay = self.duration(
            &raw.schedule_delay,
            "schedule_delay",
            Duration::from_secs(3600),
        );
        if post_status == PostStatus::Future
            && schedule_delay < Duration::from_secs(60)
            && let Some(d) = &raw.schedule_delay
        {
            self.push(
                d.span(),
                "schedule_delay",
                format!(
                    "schedule_delay {} is too short for scheduled posts",
                    format_duration(schedule_delay)
                ),
                Some(
                    "use at least \"1m\": WordPress publishes a post dated in the past at once"
                        .into(),
                ),
            );
        }
        let request_timeout = self.duration(
            &raw.request_timeout,
            "request_timeout",
            Duration::from_secs(30),
        );
        if request_timeout < Duration::from_secs(1)
            && let Some(t) = &raw.request_timeout
        {
            self.push(
                t.span(),
                "request_timeout",
                format!(
                    "request_timeout {} is too short",
                    format_duration(request_timeout)
                ),
                Some("use at least \"1s\" (default \"30s\")".into()),
            );
        }
        let seo_plugin = match raw.seo_plugin.as_ref() {
            None => SeoPreference::Auto,
            Some(p) => match p.get_ref().as_str() {
                "auto" => SeoPreference::Auto,
                "yoast" => SeoPreference::Yoast,
                "rankmath" => SeoPreference::RankMath,
                "none" => SeoPreference::None,
                other => {
                    self.push(
                        p.span(),
                        "seo_plugin",
                        format!("unknown SEO plugin \"{other}\""),
                        Some("use auto, yoast, rankmath or none".into()),
                    );
                    SeoPreference::Auto
                }
            },
        };
        let default_category = raw
            .default_category
            .as_ref()
            .map(|c| c.get_ref().trim().to_string())
            .filter(|c| !c.is_empty());
        Some(PublisherConfig::Wordpress(WordpressConfig {
            url: url?,
            username: raw.username.get_ref().clone(),
            app_password: secret,
            post_status,
            schedule_delay,
            default_category,
            min_interval: self.duration(&raw.min_interval, "min_interval", Duration::from_secs(60)),
            request_timeout,
            seo_plugin,
        }))
    }
}

/// Names the field of a cron expression that is out of range, which the cron
/// parser's own message does not.
fn explain_cron(expr: &str) -> Option<String> {
    let fields: Vec<&str> = expr.split_whitespace().collect();
    let names: &[(&str, u32, u32)] = match fields.len() {
        5 => &[
            ("minute", 0, 59),
            ("hour", 0, 23),
            ("day of month", 1, 31),
            ("month", 1, 12),
            ("weekday", 0, 7),
        ],
        6 | 7 => &[
            ("second", 0, 59),
            ("minute", 0, 59),
            ("hour", 0, 23),
            ("day of month", 1, 31),
            ("month", 1, 12),
            ("weekday", 0, 7),
        ],
        _ => return None,
    };
    for (field, (name, lo, hi)) in fields.iter().zip(names.iter()) {
        for part in field.split(',') {
            let range = part.split('/').next().unwrap_or(part);
            for value in range.split('-') {
                if let Ok(n) = value.parse::<u32>()
                    && (n < *lo || n > *hi)
                {
                    return Some(format!("{name} {n} is out of range {lo}–{hi}"));
                }
            }
        }
    }
    None
}
