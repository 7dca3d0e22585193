//! /metrics against a running `serve` with real data in the database: the
//! text parses as Prometheus exposition format (a parser here checks names,
//! labels, types, histogram buckets and `_total` counters) and
//! `promtool check metrics` (Debian package prometheus) passes.

use std::collections::{BTreeMap, BTreeSet};

use blog_poster::budget::BudgetCaps;
use blog_poster::domain::money::Money;
use blog_poster::store::sqlite::SqliteStore;
use blog_poster::store::*;

use crate::harness::t;
use crate::web_client::{
    create_token, feed_server, monitor_now, prepare_with_feed, request, rss, start,
};

#[derive(Debug, Default)]
struct Family {
    kind: String,
    samples: Vec<(String, BTreeMap<String, String>, f64)>,
}

fn valid_name(n: &str) -> bool {
    let mut chars = n.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

/// Parses `name{a="b",c="d"} value` with escapes in label values.
fn parse_sample(line: &str) -> Result<(String, BTreeMap<String, String>, f64), String> {
    let name_end = line.find(['{', ' ']).ok_or("no value")?;
    let name = &line[..name_end];
    if !valid_name(name) {
        return Err(format!("bad metric name {name:?}"));
    }
    let mut labels = BTreeMap::new();
    let mut rest = &line[name_end..];
    if let Some(r) = rest.strip_prefix('{') {
        let mut chars = r.char_indices().peekable();
        let consumed;
        loop {
            let start = chars.peek().map(|(i, _)| *i).ok_or("unterminated labels")?;
            if r[start..].starts_with('}') {
                consumed = start + 1;
                break;
            }
            let eq = r[start..].find('=').ok_or("label without =")? + start;
            let key = &r[start..eq];
            if !valid_name(key) || key.starts_with("__") {
                return Err(format!("bad label name {key:?}"));
            }
            if !r[eq + 1..].starts_with('"') {
                return Err("label value not quoted".into());
            }
            let mut value = String::new();
            let mut i = eq + 2;
            let bytes: Vec<char> = r[i..].chars().collect();
            let mut j = 0;
            loop {
                let c = *bytes.get(j).ok_or("unterminated label value")?;
                match c {
                    '\\' => {
                        let n = *bytes.get(j + 1).ok_or("dangling escape")?;
                        value.push(match n {
                            'n' => '\n',
                            '\\' => '\\',
                            '"' => '"',
                            _ => return Err(format!("bad escape \\{n}")),
                        });
                        j += 2;
                    }
                    '"' => {
                        j += 1;
                        break;
                    }
                    '\n' => return Err("raw newline in label value".into()),
                    c => {
                        value.push(c);
                        j += 1;
                    }
                }
            }
            i += bytes[..j].iter().map(|c| c.len_utf8()).sum::<usize>();
            if labels.insert(key.to_string(), value).is_some() {
                return Err(format!("duplicate label {key}"));
            }
            while chars.peek().is_some_and(|(k, _)| *k < i) {
                chars.next();
            }
            if r[i..].starts_with(',') {
                chars.next();
            }
        }
        rest = &r[consumed..];
    }
    let value = rest.trim();
    let v: f64 = match value {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        "NaN" => f64::NAN,
        v => v.parse().map_err(|_| format!("bad value {v:?}"))?,
    };
    Ok((name.to_string(), labels, v))
}

/// Parses the exposition and checks its structure; returns the families.
fn parse_exposition(text: &str) -> Result<BTreeMap<String, Family>, String> {
    let mut families: BTreeMap<String, Family> = BTreeMap::new();
    let mut seen_series = BTreeSet::new();
    for (n, line) in text.lines().enumerate() {
        let at = |e: String| format!("line {}: {e}: {line}", n + 1);
        if line.is_empty() {
            continue;
        }
        if let Some(c) = line.strip_prefix("# ") {
            let mut parts = c.splitn(3, ' ');
            match (parts.next(), parts.next(), parts.next()) {
                (Some("TYPE"), Some(name), Some(kind)) => {
                    if !["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind) {
                        return Err(at(format!("unknown type {kind}")));
                    }
                    let f = families.entry(name.to_string()).or_default();
                    if !f.kind.is_empty() || !f.samples.is_empty() {
                        return Err(at("TYPE after samples or twice".into()));
                    }
                    f.kind = kind.to_string();
                }
                (Some("HELP"), Some(name), _) if valid_name(name) => {}
                _ => return Err(at("bad comment".into())),
            }
            continue;
        }
        let (name, labels, v) = parse_sample(line).map_err(at)?;
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|s| {
                name.strip_suffix(s)
                    .filter(|base| families.get(*base).is_some_and(|f| f.kind == "histogram"))
            })
            .unwrap_or(&name)
            .to_string();
        let f = families
            .get_mut(&family)
            .ok_or_else(|| at(format!("sample of {family} before its TYPE")))?;
        if !seen_series.insert(format!("{name}{labels:?}")) {
            return Err(at("duplicate series".into()));
        }
        f.samples.push((name, labels, v));
    }
    for (name, f) in &families {
        match f.kind.as_str() {
            "counter" if !name.ends_with("_total") => {
                return Err(format!("counter {name} does not end in _total"));
            }
            "gauge" if name.ends_with("_total") => {
                return Err(format!("gauge {name} ends in _total"));
            }
            "histogram" => check_histogram(name, f)?,
            _ => {}
        }
    }
    Ok(families)
}

fn check_histogram(name: &str, f: &Family) -> Result<(), String> {
    let mut series: BTreeMap<String, Vec<(f64, f64)>> = BTreeMap::new();
    let mut counts: BTreeMap<String, f64> = BTreeMap::new();
    for (n, labels, v) in &f.samples {
        let mut key_labels = labels.clone();
        let le = key_labels.remove("le");
        let key = format!("{key_labels:?}");
        if n.ends_with("_bucket") {
            let le = le.ok_or(format!("{name}: bucket without le"))?;
            let bound = if le == "+Inf" {
                f64::INFINITY
            } else {
                le.parse().map_err(|_| format!("{name}: bad le {le}"))?
            };
            series.entry(key).or_default().push((bound, *v));
        } else if n.ends_with("_count") {
            counts.insert(key, *v);
        }
    }
    for (key, buckets) in &series {
        if !buckets
            .windows(2)
            .all(|w| w[0].0 < w[1].0 && w[0].1 <= w[1].1)
        {
            return Err(format!("{name}{key}: buckets not increasing"));
        }
        let inf = buckets
            .last()
            .filter(|b| b.0.is_infinite())
            .ok_or(format!("{name}{key}: no +Inf bucket"))?;
        if counts.get(key) != Some(&inf.1) {
            return Err(format!("{name}{key}: _count differs from the +Inf bucket"));
        }
    }
    Ok(())
}

#[test]
fn web_metrics_parser_rejects_broken_text() {
    assert!(parse_exposition("# TYPE a_total counter\na_total 1\n").is_ok());
    assert!(parse_exposition("a 1\n").is_err(), "sample before TYPE");
    assert!(
        parse_exposition("# TYPE a counter\na 1\n").is_err(),
        "counter without _total"
    );
    assert!(
        parse_exposition("# TYPE a gauge\na{x=\"1\"} 1\na{x=\"1\"} 2\n").is_err(),
        "duplicate"
    );
    assert!(
        parse_exposition("# TYPE a gauge\na{x=1} 1\n").is_err(),
        "unquoted"
    );
    assert!(
        parse_exposition("# TYPE a gauge\na{x=\"a\\\"b\"} 1\n").is_ok(),
        "escaped quote"
    );
    assert!(
        parse_exposition("# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count 1\n").is_err(),
        "decreasing buckets"
    );
}

#[test]
fn web_metrics_parse_and_pass_promtool() {
    let feed = feed_server(rss(&[(
        "Rust 2027 \"edition\" news",
        "https://rival.example/a",
    )]));
    let (dir, config) = prepare_with_feed(feed, "");
    let admin = create_token(dir.path(), &config, "admin", "prometheus");
    // Spend and a publish-free LLM history, written the way the pipeline does.
    {
        let store = SqliteStore::open(
            &dir.path().join("data/blog-poster.db"),
            std::time::Duration::from_secs(5),
        )
        .expect("open");
        store.migrate(t(0)).expect("migrate");
        store
            .sync_sites(
                &[SiteSpec {
                    name: "example".into(),
                    enabled: true,
                    max_concurrency: 2,
                    sources: vec![],
                }],
                t(0),
            )
            .expect("sync");
        let now = chrono::Utc::now();
        let req = BudgetRequest {
            site: "example".into(),
            job: None,
            run: None,
            article_key: "run:1".into(),
            provider: "anthropic".into(),
            model: "claude-\"quoted\"".into(),
            purpose: "generate".into(),
            amount: Money(50_000),
            caps: BudgetCaps::default(),
        };
        let Reservation::Granted(id) = store.reserve_budget(&req, now).expect("reserve") else {
            panic!("refused")
        };
        store
            .record_llm_call(
                &NewLlmCall {
                    reservation: Some(id),
                    site: "example".into(),
                    job: None,
                    run: None,
                    provider: "anthropic".into(),
                    model: "claude-\"quoted\"".into(),
                    purpose: "generate".into(),
                    input_tokens: 1200,
                    output_tokens: 800,
                    cost: Money(31_000),
                    latency_ms: 900,
                    outcome: CallOutcome::Ok,
                    error: None,
                },
                now,
            )
            .expect("record");
    }
    let served = start(dir, config);
    let addr = served.addr;
    monitor_now(addr, &admin);
    let _ = request(addr, "GET", "/api/v1/status", Some(&admin), None).expect("status");

    let r = request(addr, "GET", "/metrics", Some(&admin), None).expect("metrics");
    assert_eq!(r.status, 200);
    assert!(
        r.header("Content-Type")
            .is_some_and(|c| c.starts_with("text/plain; version=0.0.4"))
    );
    let families = parse_exposition(&r.body).unwrap_or_else(|e| panic!("{e}\n{}", r.body));
    for name in [
        "blog_poster_runs",
        "blog_poster_jobs",
        "blog_poster_stage_duration_seconds",
        "blog_poster_llm_calls_total",
        "blog_poster_llm_tokens_total",
        "blog_poster_llm_cost_usd_total",
        "blog_poster_spend_usd",
        "blog_poster_cap_usd",
        "blog_poster_sources_failing",
        "blog_poster_publish_ledger",
        "blog_poster_http_requests_total",
    ] {
        assert!(families.contains_key(name), "{name} missing:\n{}", r.body);
    }
    let cost = &families["blog_poster_llm_cost_usd_total"].samples;
    assert_eq!(cost.len(), 1);
    assert_eq!(cost[0].1["model"], "claude-\"quoted\"");
    assert!((cost[0].2 - 0.031).abs() < 1e-9, "{cost:?}");
    let stages = &families["blog_poster_stage_duration_seconds"].samples;
    assert!(
        stages
            .iter()
            .any(|(n, l, v)| n.ends_with("_count") && l["stage"] == "monitor" && *v >= 1.0),
        "{stages:?}"
    );
    assert!(r.body.contains(
        "blog_poster_http_requests_total{route=\"/api/v1/status\",method=\"GET\",code=\"200\"}"
    ));

    // promtool, from Debian's prometheus package (scripts/test.sh installs it).
    let path = served.dir.path().join("metrics.txt");
    std::fs::write(&path, &r.body).expect("write");
    let out = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::fs::File::open(&path).expect("open"))
        .output()
        .expect(
            "promtool is missing: install the Debian package prometheus (scripts/test.sh does)",
        );
    assert!(
        out.status.success(),
        "promtool check metrics failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    drop(served);
}

/// The attack on the registry: thousands of requests with made-up
/// methods (each kept as a label, they grew memory without bound) and
/// three with 15 KB method names (which made /metrics too large to serve).
/// Every method outside the fixed set counts as `other`: /metrics stays
/// small and parses.
#[test]
fn web_metrics_made_up_and_15kb_methods_count_as_other() {
    use std::io::Write;
    let (dir, config) = crate::web_client::prepare("");
    let admin = create_token(dir.path(), &config, "admin", "prometheus");
    let served = crate::web_client::start(dir, config);
    let addr = served.addr;
    let _ = request(addr, "GET", "/metrics", Some(&admin), None).expect("metrics");
    let before = request(addr, "GET", "/metrics", Some(&admin), None).expect("metrics");

    const TCHAR: &[u8] =
        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789!#$%&'*+-.^_`|~";
    let mut rng = fastrand::Rng::with_seed(11);
    let mut methods: Vec<String> = (0..2000)
        .map(|_| {
            let len = rng.usize(1..=24);
            (0..len)
                .map(|_| TCHAR[rng.usize(..TCHAR.len())] as char)
                .collect::<String>()
        })
        .filter(|m| m != "GET" && m != "HEAD")
        .collect();
    for i in 0..3 {
        methods.push(format!("{}{i}", "M".repeat(15_000)));
    }
    let mut answered = 0;
    for batch in methods.chunks(100) {
        let mut s = std::net::TcpStream::connect(addr).expect("connect");
        s.set_read_timeout(Some(std::time::Duration::from_secs(30)))
            .expect("timeout");
        let mut buf = Vec::new();
        for (i, m) in batch.iter().enumerate() {
            let path = if i % 2 == 0 {
                "/api/v1/status"
            } else {
                "/made-up"
            };
            s.write_all(
                format!(
                    "{m} {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {admin}\r\n\r\n"
                )
                .as_bytes(),
            )
            .expect("send");
            let a = crate::web_front::read_answer(&mut s, &mut buf).expect("answer");
            assert!(
                [404, 405].contains(&a.status),
                "{} for method {:?}: {}",
                a.status,
                &m[..m.len().min(40)],
                a.head
            );
            answered += 1;
        }
    }
    assert_eq!(answered, methods.len());

    let after = request(addr, "GET", "/metrics", Some(&admin), None).expect("metrics");
    assert_eq!(after.status, 200);
    let families = parse_exposition(&after.body).unwrap_or_else(|e| panic!("{e}\n{}", after.body));
    let fixed = [
        "GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "other",
    ];
    let http = &families["blog_poster_http_requests_total"].samples;
    for (_, labels, _) in http {
        assert!(fixed.contains(&labels["method"].as_str()), "{labels:?}");
    }
    let other: f64 = http
        .iter()
        .filter(|(_, l, _)| l["method"] == "other")
        .map(|(_, _, v)| v)
        .sum();
    assert!(other >= 2000.0, "made-up methods counted as other: {other}");
    println!(
        "/metrics: {} bytes before, {} bytes after {} requests with made-up methods",
        before.body.len(),
        after.body.len(),
        methods.len()
    );
    assert!(
        after.body.len() < before.body.len() + 4096,
        "/metrics grew from {} to {} bytes",
        before.body.len(),
        after.body.len()
    );
    drop(served);
}
