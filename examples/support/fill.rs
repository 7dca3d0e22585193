//! Fills a blog-poster SQLite database with realistic history for the
//! benchmarks and the bulk tests: per article one run, its five jobs, two
//! LLM calls with their budget reservations, a publish-ledger row and an
//! event — through the real schema (migrated by the store), with Markdown
//! bodies of ordinary English-like text (so compression ratios are
//! realistic). Deterministic for a given seed.

#![allow(dead_code)]

use std::path::Path;
use std::time::Duration;

use blog_poster::store::sqlite::SqliteStore;
use blog_poster::store::{SiteSpec, Store};
use rusqlite::params;

#[derive(Debug, Default, Clone, Copy)]
pub struct Filled {
    pub articles: u64,
    pub rows: u64,
    pub bytes: u64,
}

const WORDS: &[&str] = &[
    "the",
    "of",
    "and",
    "to",
    "a",
    "in",
    "is",
    "that",
    "for",
    "it",
    "as",
    "with",
    "on",
    "be",
    "by",
    "this",
    "are",
    "or",
    "from",
    "your",
    "backup",
    "site",
    "plugin",
    "page",
    "content",
    "search",
    "ranking",
    "traffic",
    "theme",
    "server",
    "cache",
    "image",
    "speed",
    "mobile",
    "security",
    "update",
    "database",
    "hosting",
    "visitors",
    "keyword",
    "article",
    "write",
    "publish",
    "editor",
    "block",
    "menu",
    "widget",
    "comment",
    "spam",
    "login",
    "password",
    "domain",
    "certificate",
    "redirect",
    "sitemap",
    "schema",
    "snippet",
    "analytics",
    "report",
    "conversion",
    "newsletter",
    "audience",
    "strategy",
    "guide",
    "checklist",
    "mistake",
    "tip",
    "simple",
    "fast",
    "better",
    "small",
    "business",
    "owner",
    "team",
    "customer",
    "product",
    "store",
    "checkout",
    "payment",
    "shipping",
    "review",
    "feature",
    "option",
    "setting",
    "default",
    "custom",
    "free",
    "premium",
    "version",
    "release",
    "support",
    "community",
    "question",
    "answer",
    "problem",
    "solution",
    "example",
    "step",
    "first",
    "next",
    "last",
    "every",
    "most",
    "many",
    "few",
    "often",
    "always",
    "never",
    "usually",
    "quickly",
    "easily",
];

fn sentence(rng: &mut fastrand::Rng, out: &mut String) {
    let n = rng.usize(8..22);
    for i in 0..n {
        let w = WORDS[rng.usize(..WORDS.len())];
        if i == 0 {
            let mut c = w.chars();
            if let Some(f) = c.next() {
                out.extend(f.to_uppercase());
                out.push_str(c.as_str());
            }
        } else {
            out.push(' ');
            out.push_str(w);
        }
    }
    out.push_str(". ");
}

fn body(rng: &mut fastrand::Rng, bytes: usize) -> String {
    let mut out = String::with_capacity(bytes + 200);
    let mut section = 1;
    while out.len() < bytes {
        out.push_str(&format!("\n## Part {section}: "));
        sentence(rng, &mut out);
        out.push_str("\n\n");
        for _ in 0..rng.usize(2..5) {
            for _ in 0..rng.usize(3..7) {
                sentence(rng, &mut out);
            }
            out.push_str("\n\n");
        }
        section += 1;
    }
    out
}

/// Adds `articles` articles (or stops once the file reaches `stop_at`
/// bytes) with bodies of about `body_bytes`.
pub fn fill(
    db: &Path,
    articles: u64,
    body_bytes: usize,
    stop_at: Option<u64>,
    seed: u64,
) -> Filled {
    let now = chrono::Utc::now();
    let store = SqliteStore::open(db, Duration::from_secs(30)).expect("open");
    store.migrate(now).expect("migrate");
    store
        .sync_sites(
            &[SiteSpec {
                name: "bench".into(),
                enabled: true,
                max_concurrency: 2,
                sources: vec![],
            }],
            now,
        )
        .expect("sync");
    drop(store);
    let mut conn = rusqlite::Connection::open(db).expect("open");
    conn.execute_batch("PRAGMA synchronous = OFF; PRAGMA cache_size = -65536;")
        .expect("pragmas");
    let site: i64 = conn
        .query_row("SELECT id FROM sites WHERE name = 'bench'", [], |r| {
            r.get(0)
        })
        .expect("site");
    let mut rng = fastrand::Rng::with_seed(seed);
    let base_ms = now.timestamp_millis() - 400 * 86_400_000;
    let mut filled = Filled::default();
    let batch = 1000;
    while filled.articles < articles {
        let tx = conn.transaction().expect("tx");
        for _ in 0..batch.min(articles - filled.articles) {
            let t = base_ms + filled.articles as i64 * 60_000;
            tx.execute(
                "INSERT INTO runs (site_id, trigger, status, outcome, created_at, finished_at) VALUES (?1, 'schedule', 'succeeded', 'published', ?2, ?3)",
                params![site, t, t + 95_000],
            )
            .expect("run");
            let run = tx.last_insert_rowid();
            for (i, stage) in ["monitor", "topics", "generate", "check", "publish"]
                .iter()
                .enumerate()
            {
                let at = t + i as i64 * 19_000;
                tx.execute(
                    "INSERT INTO jobs (run_id, site_id, stage, status, attempts, max_attempts, not_before, result_summary, created_at, updated_at, started_at, finished_at)
                     VALUES (?1, ?2, ?3, 'succeeded', 1, 5, ?4, ?5, ?4, ?6, ?4, ?6)",
                    params![run, site, stage, at, format!("{stage} done"), at + 18_000],
                )
                .expect("job");
            }
            let title_len = rng.usize(4..9);
            let mut title = String::new();
            for i in 0..title_len {
                if i > 0 {
                    title.push(' ');
                }
                title.push_str(WORDS[rng.usize(20..WORDS.len())]);
            }
            let text = body(&mut rng, body_bytes);
            let slug = format!("{}-{}", title.replace(' ', "-"), run);
            tx.execute(
                "INSERT INTO articles (site_id, run_id, topic, status, title, slug, meta_description, focus_keyword, excerpt, tags, category,
                     body_markdown, check_score, check_report, published_at, published_url, created_at, updated_at, generation_notes)
                 VALUES (?1, ?2, ?3, 'published', ?4, ?5, ?6, ?3, ?6, '[\"guide\",\"tips\"]', 'Guides', ?7, ?8, '{\"checks\":[]}', ?9, ?10, ?11, ?9, '{\"model\":\"bench\"}')",
                params![site, run, WORDS[rng.usize(20..WORDS.len())], title, slug, &text[..text.len().min(150)], text, rng.i64(60..100), t + 95_000, format!("https://example.com/{slug}/"), t + 40_000],
            )
            .expect("article");
            let article = tx.last_insert_rowid();
            for (purpose, tokens_in, tokens_out, cost) in [
                ("generate", 2_400i64, 3_100i64, 41_000i64),
                ("fact_check", 3_500, 600, 19_000),
            ] {
                tx.execute(
                    "INSERT INTO budget_reservations (site_id, run_id, article_key, day, month, reserved_micros, actual_micros, status, created_at, settled_at, provider, model, purpose)
                     VALUES (?1, ?2, ?3, '2026-01-01', '2026-01', ?4, ?5, 'settled', ?6, ?6, 'anthropic', 'bench-model', ?7)",
                    params![site, run, format!("run:{run}"), cost * 3, cost, t + 40_000, purpose],
                )
                .expect("reservation");
                let reservation = tx.last_insert_rowid();
                tx.execute(
                    "INSERT INTO llm_calls (site_id, article_id, provider, model, purpose, input_tokens, output_tokens, cost_micros, latency_ms, outcome, created_at, run_id, reservation_id)
                     VALUES (?1, ?2, 'anthropic', 'bench-model', ?3, ?4, ?5, ?6, 14200, 'ok', ?7, ?8, ?9)",
                    params![site, article, purpose, tokens_in, tokens_out, cost, t + 40_000, run, reservation],
                )
                .expect("llm call");
            }
            tx.execute(
                "INSERT INTO publish_ledger (article_id, site_id, target, idempotency_key, status, remote_id, remote_url, attempts, created_at, updated_at, last_attempt_at)
                 VALUES (?1, ?2, 'outbox', ?3, 'published', ?4, ?5, 1, ?6, ?6, ?6)",
                params![article, site, format!("bp-{run}"), run.to_string(), format!("https://example.com/{slug}/"), t + 90_000],
            )
            .expect("ledger");
            tx.execute(
                "INSERT INTO events (at, site_id, run_id, kind, actor, message) VALUES (?1, ?2, ?3, 'run.finished', 'engine', ?4)",
                params![t + 95_000, site, run, format!("run {run} published \"{title}\"")],
            )
            .expect("event");
            filled.articles += 1;
            filled.rows += 12;
        }
        tx.commit().expect("commit");
        if let Some(limit) = stop_at {
            let size = std::fs::metadata(db).map(|m| m.len()).unwrap_or(0);
            if size >= limit {
                break;
            }
        }
    }
    conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)")
        .expect("checkpoint");
    filled.bytes = std::fs::metadata(db).map(|m| m.len()).unwrap_or(0);
    filled
}
