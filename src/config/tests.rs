//! Config parsing and validation: the embedded defaults, and each kind of bad
//! input with the line, key and fix it must report.

use super::*;

fn env() -> Environment {
    Environment::from_pairs([("HOME", "/home/op")])
}

fn parse_at(text: &str) -> Result<Config, ConfigError> {
    parse(
        text,
        Some(Path::new("/etc/blog-poster/config.toml")),
        &env(),
    )
}

fn one_issue(text: &str) -> ConfigIssue {
    let err = parse_at(text).expect_err("config should be refused");
    assert_eq!(err.issues.len(), 1, "{err}");
    err.issues.into_iter().next().expect("one issue")
}

#[test]
fn embedded_defaults_are_valid() {
    let c = parse(DEFAULT_CONFIG, None, &env()).expect("defaults valid");
    assert_eq!(
        c.data_dir,
        PathBuf::from("/home/op/.local/share/blog-poster")
    );
    assert_eq!(
        c.database.backend,
        DatabaseBackend::Sqlite {
            path: c.data_dir.join("blog-poster.db")
        }
    );
    assert_eq!(c.outbox.dir, c.data_dir.join("outbox"));
    assert_eq!(c.sites.len(), 1);
    let site = &c.sites[0];
    assert_eq!(site.name, "example");
    assert!(matches!(site.publisher, PublisherConfig::Outbox));
    assert_eq!(site.sources.len(), 1);
    assert_eq!(c.engine.lease, Duration::from_secs(300));
}

#[test]
fn systemd_state_directory_wins_for_the_data_dir() {
    let e = Environment::from_pairs([
        ("HOME", "/root"),
        ("STATE_DIRECTORY", "/var/lib/blog-poster"),
    ]);
    let c = parse(DEFAULT_CONFIG, None, &e).expect("valid");
    assert_eq!(c.data_dir, PathBuf::from("/var/lib/blog-poster"));
}

#[test]
fn no_home_and_no_data_dir_is_a_clear_error() {
    let err = parse(DEFAULT_CONFIG, None, &Environment::default()).expect_err("no data dir");
    assert!(err.to_string().contains("data_dir"), "{err}");
}

#[test]
fn unknown_key_names_file_line_table_and_suggestion() {
    let issue = one_issue("[sites.blog]\npublisher = \"outbox\"\nshedule = \"0 6 * * *\"\n");
    assert_eq!(
        issue.to_string(),
        "/etc/blog-poster/config.toml:3: unknown key \"shedule\" in [sites.blog] (did you mean \"schedule\"?)"
    );
    assert_eq!(issue.key.as_deref(), Some("shedule"));
}

#[test]
fn unknown_top_level_key_is_reported() {
    let issue = one_issue("data_dri = \"/x\"\n");
    assert!(
        issue
            .to_string()
            .contains(":1: unknown key \"data_dri\" (did you mean \"data_dir\"?)"),
        "{issue}"
    );
}

#[test]
fn bad_cron_names_line_key_and_fix() {
    let issue = one_issue("[sites.blog]\n\nschedule = \"0 61 * * *\"\n");
    let text = issue.to_string();
    assert!(
        text.starts_with(
            "/etc/blog-poster/config.toml:3: key \"schedule\" in [sites.blog]: invalid cron schedule \"0 61 * * *\": hour 61 is out of range 0–23"
        ),
        "{text}"
    );
    assert!(!text.contains("Component error"), "{text}");
    assert!(text.contains("use 5 fields"), "{text}");
}

#[test]
fn cron_with_wrong_field_count_is_refused() {
    let issue = one_issue("[sites.blog]\nschedule = \"daily\"\n");
    assert!(issue.to_string().contains("1 fields"), "{issue}");
}

/// The one issue a command that needs every secret meets.
fn one_secret_issue(text: &str) -> ConfigIssue {
    let config = parse_at(text).expect("secrets are not read at load");
    let err = config
        .secrets
        .require("serve", |_| true)
        .expect_err("a secret is missing");
    assert_eq!(err.issues.len(), 1, "{err}");
    err.issues.into_iter().next().expect("one issue")
}

#[test]
fn missing_secret_env_names_the_variable_and_the_fix() {
    let text = "[sites.blog]\npublisher = \"wordpress\"\n[sites.blog.wordpress]\nurl = \"https://blog.example\"\nusername = \"bot\"\napp_password_env = \"BLOG_WP_PASSWORD\"\n";
    let issue = one_secret_issue(text);
    let shown = issue.to_string();
    assert!(
        shown.starts_with(
            "/etc/blog-poster/config.toml:6: key \"app_password_env\" in [sites.blog.wordpress]: environment variable BLOG_WP_PASSWORD is not set"
        ),
        "{shown}"
    );
    assert!(
        shown.contains("\"app_password_env\" in [sites.blog.wordpress]"),
        "{shown}"
    );
    assert!(shown.contains("app_password_file"), "{shown}");
    assert!(
        shown.contains("`blog-poster serve` needs it for the WordPress of site \"blog\""),
        "{shown}"
    );
}

#[test]
fn secret_without_any_source_names_every_option() {
    let text = "[sites.blog.wordpress]\nurl = \"https://blog.example\"\nusername = \"bot\"\n";
    let shown = one_secret_issue(text).to_string();
    assert!(
        shown.contains("BLOG_POSTER_BLOG_WP_APP_PASSWORD"),
        "{shown}"
    );
    assert!(shown.contains("blog-wp-app-password"), "{shown}");
}

#[test]
fn secrets_resolve_from_env_file_and_credentials_and_stay_redacted() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("pw");
    std::fs::write(&file, "from-file\n").expect("write");
    std::fs::write(dir.path().join("blog-wp-app-password"), "from-cred").expect("write");
    let cred_dir = dir.path().to_str().expect("utf8");

    let base = "[sites.blog.wordpress]\nurl = \"https://blog.example\"\nusername = \"bot\"\n";
    let e = Environment::from_pairs([
        ("HOME", "/h"),
        ("PW", "from-env"),
        ("CREDENTIALS_DIRECTORY", cred_dir),
    ]);
    let get = |extra: &str| {
        let c = parse(&format!("{base}{extra}"), None, &e).expect("valid");
        match &c.sites[0].publisher {
            PublisherConfig::Wordpress(wp) => wp.app_password.clone(),
            PublisherConfig::Outbox => panic!("expected wordpress"),
        }
    };
    assert_eq!(get("app_password_env = \"PW\"\n").expose(), Ok("from-env"));
    assert_eq!(
        get(&format!("app_password_file = \"{}\"\n", file.display())).expose(),
        Ok("from-file")
    );
    let cred = get("");
    assert_eq!(cred.expose(), Ok("from-cred"));

    let c = parse(&format!("{base}app_password_env = \"PW\"\n"), None, &e).expect("valid");
    let debug = format!("{c:?}");
    assert!(
        !debug.contains("from-env"),
        "secret leaked into Debug: {debug}"
    );
}

#[test]
fn secret_in_the_file_is_refused_with_a_pointer_to_env() {
    let text = "[sites.blog.wordpress]\nurl = \"https://blog.example\"\nusername = \"bot\"\napp_password = \"hunter2\"\n";
    let shown = one_issue(text).to_string();
    assert!(shown.contains("app_password_env"), "{shown}");
    assert!(!shown.contains("hunter2"), "{shown}");
}

#[test]
fn several_problems_are_reported_together() {
    let text =
        "[engine]\nlease = \"5 minutes\"\nworkers = 0\n[sites.a]\ntimezone = \"Mars/Olympus\"\n";
    let err = parse_at(text).expect_err("bad");
    assert_eq!(err.issues.len(), 3, "{err}");
    let shown = err.to_string();
    assert!(
        shown.contains(":2: key \"lease\" in [engine]: invalid duration"),
        "{shown}"
    );
    assert!(
        shown.contains(":3: key \"workers\" in [engine]: 0 is not allowed"),
        "{shown}"
    );
    assert!(
        shown.contains(":5: key \"timezone\" in [sites.a]: unknown time zone"),
        "{shown}"
    );
}

#[test]
fn heartbeat_must_fit_twice_in_the_lease() {
    let issue = one_issue("[engine]\nlease = \"1m\"\nheartbeat = \"45s\"\n");
    assert!(
        issue.to_string().contains("at most half the lease"),
        "{issue}"
    );
}

#[test]
fn wrong_type_names_the_key() {
    let issue = one_issue("[engine]\nworkers = \"four\"\n");
    let shown = issue.to_string();
    assert!(shown.contains(":2:"), "{shown}");
    assert!(shown.contains("workers"), "{shown}");
}

#[test]
fn schedule_uses_its_time_zone_and_collapses_to_next_slot() {
    use chrono::TimeZone;
    let c = parse_at("[sites.a]\nschedule = \"0 6 * * *\"\ntimezone = \"Europe/Berlin\"\n")
        .expect("valid");
    let s = c.sites[0].schedule.as_ref().expect("schedule");
    let now = chrono::Utc
        .with_ymd_and_hms(2026, 7, 1, 3, 0, 0)
        .single()
        .expect("valid time");
    // 06:00 in Berlin in summer is 04:00 UTC.
    assert_eq!(
        s.next_after(now),
        chrono::Utc.with_ymd_and_hms(2026, 7, 1, 4, 0, 0).single()
    );
}

#[test]
fn relative_paths_resolve_from_the_config_folder() {
    let c =
        parse_at("data_dir = \"data\"\n[database]\nurl = \"sqlite://db/x.db\"\n").expect("valid");
    assert_eq!(c.data_dir, PathBuf::from("/etc/blog-poster/data"));
    assert_eq!(
        c.database.backend,
        DatabaseBackend::Sqlite {
            path: PathBuf::from("/etc/blog-poster/db/x.db")
        }
    );
}

#[test]
fn explicit_config_path_must_exist() {
    let err =
        locate(Some(Path::new("/nonexistent/blog-poster.toml")), &env()).expect_err("missing");
    assert!(err.to_string().contains("does not exist"), "{err}");
}

/// Keys set or shown (commented out) in the example config.
fn example_keys() -> std::collections::BTreeSet<String> {
    DEFAULT_CONFIG
        .lines()
        .map(|l| l.trim_start_matches('#').trim())
        .filter_map(|l| {
            let (key, _) = l.split_once(" = ")?;
            key.chars()
                .all(|c| c.is_ascii_lowercase() || c == '_')
                .then(|| key.to_string())
        })
        .collect()
}

#[test]
fn every_example_key_is_documented_and_every_documented_key_is_in_the_example() {
    let docs = include_str!("../../docs/configuration.md");
    let example = example_keys();
    assert!(example.len() > 20, "found {} keys", example.len());
    for key in &example {
        assert!(
            docs.contains(&format!("| `{key}` |")),
            "docs/configuration.md does not describe \"{key}\""
        );
    }
    for line in docs.lines().filter(|l| l.starts_with("| `")) {
        let key = line
            .trim_start_matches("| `")
            .split('`')
            .next()
            .unwrap_or("");
        assert!(
            example.contains(key),
            "docs/configuration.md describes \"{key}\", which the example config lacks"
        );
    }
}

#[test]
fn monitor_and_topics_defaults_match_the_example() {
    let c = parse(DEFAULT_CONFIG, None, &env()).expect("defaults valid");
    assert_eq!(c.monitor, MonitorConfig::default());
    assert_eq!(c.sites[0].topics, TopicsConfig::default());
    let bare = parse_at("[sites.a]\n").expect("valid");
    assert_eq!(bare.monitor, MonitorConfig::default());
    assert_eq!(bare.sites[0].topics, TopicsConfig::default());
}

#[test]
fn monitor_values_are_parsed() {
    let c = parse_at(
        "[monitor]\nbody_limit = \"512KiB\"\nper_host_concurrency = 1\nbackoff_base = \"1m\"\nbackoff_max = \"1h\"\nsitemap_page_fetches = 0\n",
    )
    .expect("valid");
    assert_eq!(c.monitor.body_limit, 512 * 1024);
    assert_eq!(c.monitor.per_host_concurrency, 1);
    assert_eq!(c.monitor.backoff_max, Duration::from_secs(3600));
    assert_eq!(c.monitor.sitemap_page_fetches, 0);
}

#[test]
fn bad_monitor_values_name_line_key_and_fix() {
    let issue = one_issue("[monitor]\nbody_limit = \"10\"\n");
    let shown = issue.to_string();
    assert!(
        shown.contains(":2: key \"body_limit\" in [monitor]: invalid size \"10\": missing unit"),
        "{shown}"
    );
    assert!(shown.contains("write it like \"10MiB\""), "{shown}");

    let issue = one_issue("[monitor]\nbackoff_base = \"1h\"\nbackoff_max = \"5m\"\n");
    let shown = issue.to_string();
    assert!(
        shown.contains(
            ":3: key \"backoff_max\" in [monitor]: backoff_max 5m is shorter than backoff_base 1h"
        ),
        "{shown}"
    );

    let issue = one_issue("[monitor]\nmin_check_interval = \"2d\"\n");
    assert!(
        issue
            .to_string()
            .contains(":2: key \"min_check_interval\" in [monitor]: max_check_interval 1d is shorter than min_check_interval 2d"),
        "{issue}"
    );
    assert!(
        one_issue("[monitor]\nper_host_concurrency = 0\n")
            .to_string()
            .contains("0 is not allowed")
    );
    assert!(
        one_issue("[monitor]\nmax_redirects = 50\n")
            .to_string()
            .contains("use 0 to 20")
    );
    assert!(
        one_issue("[monitor]\nbody_limit = \"12B\"\n")
            .to_string()
            .contains("below 1KiB")
    );
    assert!(
        one_issue("[monitor]\ntimout = \"5s\"\n")
            .to_string()
            .contains("did you mean \"timeout\"?")
    );
}

#[test]
fn topics_values_are_parsed_and_checked() {
    let c = parse_at(
        "[sites.a]\n[sites.a.topics]\nlookback = \"7d\"\nsimilarity_threshold = 0.5\npinned_keywords = [\" Rust \", \"rust\", \"\"]\nbanned_keywords = [\"crypto\"]\n",
    )
    .expect("valid");
    let t = &c.sites[0].topics;
    assert_eq!(t.lookback, Duration::from_secs(7 * 86_400));
    assert_eq!(t.similarity_threshold, 0.5);
    assert_eq!(
        t.pinned_keywords,
        ["Rust"],
        "trimmed, empties and repeats dropped"
    );
    assert_eq!(t.banned_keywords, ["crypto"]);

    let issue = one_issue("[sites.a]\n[sites.a.topics]\nsimilarity_threshold = 1.5\n");
    let shown = issue.to_string();
    assert!(
        shown.contains(":3: key \"similarity_threshold\" in [sites.a.topics]: similarity threshold 1.5 is outside (0, 1]"),
        "{shown}"
    );
    assert!(shown.contains("in [sites.a.topics]"), "{shown}");
    let issue = one_issue("[sites.a.topics]\nmax_candidates = 0\n");
    assert!(issue.to_string().contains("0 is not allowed"), "{issue}");
}

fn wordpress_of(c: &Config) -> &WordpressConfig {
    match &c.sites[0].publisher {
        PublisherConfig::Wordpress(wp) => wp,
        PublisherConfig::Outbox => panic!("expected wordpress"),
    }
}

#[test]
fn wordpress_posting_keys_have_defaults_and_parse() {
    let base = "[sites.blog.wordpress]\nurl = \"https://blog.example/blog\"\nusername = \"bot\"\napp_password_env = \"PW\"\n";
    let e = Environment::from_pairs([("HOME", "/h"), ("PW", "x")]);
    let c = parse(base, None, &e).expect("valid");
    let wp = wordpress_of(&c);
    assert_eq!(wp.post_status, PostStatus::Publish);
    assert_eq!(wp.schedule_delay, Duration::from_secs(3600));
    assert_eq!(wp.min_interval, Duration::from_secs(60));
    assert_eq!(wp.request_timeout, Duration::from_secs(30));
    assert_eq!(wp.seo_plugin, SeoPreference::Auto);
    assert_eq!(wp.default_category, None);

    let c = parse(
        &format!(
            "{base}post_status = \"future\"\nschedule_delay = \"2h\"\ndefault_category = \" News \"\n\
             min_interval = \"0s\"\nrequest_timeout = \"5s\"\nseo_plugin = \"rankmath\"\n"
        ),
        None,
        &e,
    )
    .expect("valid");
    let wp = wordpress_of(&c);
    assert_eq!(wp.post_status, PostStatus::Future);
    assert_eq!(wp.schedule_delay, Duration::from_secs(7200));
    assert_eq!(wp.default_category.as_deref(), Some("News"));
    assert_eq!(wp.min_interval, Duration::ZERO);
    assert_eq!(wp.request_timeout, Duration::from_secs(5));
    assert_eq!(wp.seo_plugin, SeoPreference::RankMath);
}

#[test]
fn bad_wordpress_posting_keys_name_the_line_and_the_choices() {
    let base = "[sites.blog.wordpress]\nurl = \"https://blog.example\"\nusername = \"bot\"\napp_password_env = \"PW\"\n";
    let e = Environment::from_pairs([("HOME", "/h"), ("PW", "x")]);
    let err = |extra: &str| {
        parse(
            &format!("{base}{extra}"),
            Some(Path::new("/etc/blog-poster/config.toml")),
            &e,
        )
        .expect_err("refused")
        .to_string()
    };
    let shown = err("post_status = \"published\"\n");
    assert!(
        shown.contains(
            ":5: key \"post_status\" in [sites.blog.wordpress]: unknown post status \"published\""
        ),
        "{shown}"
    );
    assert!(
        shown.contains("use draft, pending, publish or future"),
        "{shown}"
    );
    let shown = err("post_status = \"future\"\nschedule_delay = \"10s\"\n");
    assert!(
        shown.contains(
            ":6: key \"schedule_delay\" in [sites.blog.wordpress]: schedule_delay 10s is too short"
        ),
        "{shown}"
    );
    let shown = err("seo_plugin = \"allinone\"\n");
    assert!(
        shown.contains("use auto, yoast, rankmath or none"),
        "{shown}"
    );
    let shown = err("request_timeout = \"100ms\"\n");
    assert!(
        shown.contains("request_timeout 100ms is too short"),
        "{shown}"
    );
}

#[test]
fn postgres_url_selects_postgres_with_its_options_and_describe_hides_the_password() {
    let c = parse_at(
        "[database]\nurl = \"postgres://app:pw@db.example:25060/bp?sslmode=require\"\n\
         pool_size = 3\npool_timeout = \"2s\"\nconnect_timeout = \"4s\"\nstatement_timeout = \"9s\"\n\
         tls_insecure = true\n",
    )
    .expect("valid");
    assert!(matches!(
        c.database.backend,
        DatabaseBackend::Postgres { .. }
    ));
    let described = c.database.backend.describe();
    assert!(described.starts_with("postgres "), "{described}");
    assert!(!described.contains(":pw@"), "{described}");
    let pg = &c.database.postgres;
    assert_eq!(pg.pool_size, 3);
    assert_eq!(pg.pool_timeout, Duration::from_secs(2));
    assert_eq!(pg.connect_timeout, Duration::from_secs(4));
    assert_eq!(pg.statement_timeout, Duration::from_secs(9));
    assert!(pg.tls_insecure);
}

#[test]
fn missing_postgres_ca_file_is_named_with_its_line() {
    let issue = one_issue(
        "[database]\nurl = \"postgres://app@db.example/bp?sslmode=require\"\nca_file = \"/nonexistent/ca.pem\"\n",
    );
    let text = issue.to_string();
    assert!(text.contains("ca_file"), "{text}");
    assert!(text.contains("no such file"), "{text}");
}
