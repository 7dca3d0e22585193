//! The feed corpus, table-driven: every document under
//! tests/fixtures/feeds/corpus/ (hand-written ones in manifest.toml, the
//! encoding variants of scripts/gen_feed_corpus.py in generated.toml) goes
//! through the monitor's own entry point, `parse_document`, and must give
//! the titles, links, texts, dates, counts, skips and dedup keys — or the
//! error — its manifest entry names. The test prints a table of results by
//! problem class and by feed kind (docs/testing.md, "Feed corpus").

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use blog_poster::config::SourceKind;
use blog_poster::feeds::ParsedItem;
use blog_poster::feeds::feed::ParsedFeed;
use blog_poster::feeds::item::feed_keys;
use blog_poster::feeds::sitemap::{ParsedSitemap, Sitemap};
use blog_poster::feeds::source::{Document, parse_document};
use reqwest::Url;
use serde::Deserialize;

#[derive(Debug, Deserialize)]
struct Manifest {
    case: Vec<Case>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    file: String,
    kind: String,
    class: String,
    content_type: Option<String>,
    source_kind: Option<String>,
    expect: String,
    count: Option<usize>,
    skipped: Option<u32>,
    feed_title: Option<String>,
    titles: Option<Vec<String>>,
    links: Option<Vec<String>>,
    texts: Option<Vec<String>>,
    dates: Option<Vec<String>>,
    distinct_keys: Option<usize>,
    error: Option<String>,
    page_title: Option<String>,
    feed_links: Option<Vec<String>>,
}

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/feeds/corpus")
}

fn load(name: &str) -> Vec<Case> {
    let path = corpus_dir().join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    toml::from_str::<Manifest>(&text)
        .unwrap_or_else(|e| panic!("{path:?}: {e}"))
        .case
}

fn source_kind(name: Option<&str>) -> SourceKind {
    match name.unwrap_or("auto") {
        "auto" => SourceKind::Auto,
        "feed" => SourceKind::Feed,
        "sitemap" => SourceKind::Sitemap,
        "page" => SourceKind::Page,
        other => panic!("unknown source_kind {other:?}"),
    }
}

/// What one case produced, for the tables.
struct Outcome {
    failures: Vec<String>,
    items: usize,
    skipped: u32,
    parsed: bool,
}

fn check_list(failures: &mut Vec<String>, what: &str, want: &[String], got: &[String]) {
    for (i, w) in want.iter().enumerate() {
        match got.get(i) {
            Some(g) if g == w => {}
            Some(g) => failures.push(format!("{what}[{i}]: want {w:?}, got {g:?}")),
            None => failures.push(format!("{what}[{i}]: want {w:?}, got no item")),
        }
    }
}

fn check_feed(case: &Case, feed: &ParsedFeed, source_url: &str, failures: &mut Vec<String>) {
    let items: &[ParsedItem] = &feed.items;
    if let Some(want) = &case.feed_title
        && feed.title.as_deref() != Some(want.as_str())
    {
        failures.push(format!("feed title: want {want:?}, got {:?}", feed.title));
    }
    if let Some(want) = &case.titles {
        let got: Vec<String> = items.iter().map(|i| i.title.clone()).collect();
        check_list(failures, "title", want, &got);
    }
    if let Some(want) = &case.links {
        let got: Vec<String> = items
            .iter()
            .map(|i| i.url.clone().unwrap_or_default())
            .collect();
        check_list(failures, "link", want, &got);
    }
    if let Some(want) = &case.texts {
        for (i, w) in want.iter().enumerate() {
            match items.get(i) {
                Some(it) if it.text.contains(w.as_str()) => {}
                Some(it) => failures.push(format!("text[{i}]: want {w:?} in {:?}", it.text)),
                None => failures.push(format!("text[{i}]: no item")),
            }
        }
    }
    if let Some(want) = &case.dates {
        let got: Vec<String> = items
            .iter()
            .map(|i| i.published.map(|t| t.to_rfc3339()).unwrap_or_default())
            .collect();
        check_list(failures, "date", want, &got);
    }
    if let Some(want) = case.distinct_keys {
        let keys: BTreeSet<String> = feed_keys(source_url, items).into_iter().collect();
        if keys.len() != want {
            failures.push(format!("distinct keys: want {want}, got {}", keys.len()));
        }
    }
    if let Some(want) = case.skipped
        && feed.skipped != want
    {
        failures.push(format!("skipped: want {want}, got {}", feed.skipped));
    }
}

fn run_case(case: &Case) -> Outcome {
    let path = corpus_dir().join(&case.file);
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    let source_url = "https://corpus.example/feed";
    let url = Url::parse(source_url).expect("url");
    let result = parse_document(
        &bytes,
        case.content_type.as_deref(),
        &url,
        source_kind(case.source_kind.as_deref()),
        10 << 20,
    );
    let mut failures = Vec::new();
    let mut out = Outcome {
        failures: Vec::new(),
        items: 0,
        skipped: 0,
        parsed: result.is_ok(),
    };
    let count = |failures: &mut Vec<String>, n: usize| {
        if let Some(want) = case.count
            && want != n
        {
            failures.push(format!("count: want {want}, got {n}"));
        }
    };
    match (case.expect.as_str(), result) {
        ("feed", Ok(Document::Feed(feed))) => {
            out.items = feed.items.len();
            out.skipped = feed.skipped;
            count(&mut failures, feed.items.len());
            check_feed(case, &feed, source_url, &mut failures);
        }
        (
            "sitemap",
            Ok(Document::Sitemap(ParsedSitemap {
                sitemap: Sitemap::Urls(entries),
                skipped,
            })),
        )
        | (
            "sitemap-index",
            Ok(Document::Sitemap(ParsedSitemap {
                sitemap: Sitemap::Index(entries),
                skipped,
            })),
        ) => {
            out.items = entries.len();
            out.skipped = skipped;
            if let Some(want) = case.skipped
                && skipped != want
            {
                failures.push(format!("skipped: want {want}, got {skipped}"));
            }
            count(&mut failures, entries.len());
            if let Some(want) = &case.links {
                let got: Vec<String> = entries.iter().map(|e| e.loc.to_string()).collect();
                check_list(&mut failures, "link", want, &got);
            }
            if let Some(want) = &case.titles {
                let got: Vec<String> = entries
                    .iter()
                    .map(|e| e.title.clone().unwrap_or_default())
                    .collect();
                check_list(&mut failures, "title", want, &got);
            }
        }
        ("page", Ok(Document::Page(page))) => {
            out.items = 1;
            if let Some(want) = &case.page_title
                && &page.title != want
            {
                failures.push(format!("page title: want {want:?}, got {:?}", page.title));
            }
            if let Some(want) = &case.feed_links {
                let got: Vec<String> = page.feed_links.iter().map(Url::to_string).collect();
                if &got != want {
                    failures.push(format!("feed links: want {want:?}, got {got:?}"));
                }
            }
        }
        ("error", Err(e)) => {
            let msg = e.to_string();
            let want = case.error.as_deref().unwrap_or("");
            if !msg.contains(want) {
                failures.push(format!("error: want {want:?} in {msg:?}"));
            }
        }
        (want, Ok(doc)) => failures.push(format!("want {want}, got {}", describe(&doc))),
        (want, Err(e)) => failures.push(format!("want {want}, got error: {e}")),
    }
    out.failures = failures;
    out
}

fn describe(doc: &Document) -> String {
    match doc {
        Document::Feed(f) => format!("a feed of {} items", f.items.len()),
        Document::Sitemap(ParsedSitemap {
            sitemap: Sitemap::Urls(u),
            ..
        }) => format!("a sitemap of {} URLs", u.len()),
        Document::Sitemap(ParsedSitemap {
            sitemap: Sitemap::Index(c),
            ..
        }) => format!("a sitemap index of {} children", c.len()),
        Document::Page(p) => format!("a page titled {:?}", p.title),
    }
}

fn panic_message(panic: &Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a non-string panic".into())
}

#[derive(Default)]
struct Row {
    cases: usize,
    passed: usize,
    items: usize,
    skipped: u32,
    errors: usize,
}

fn table(title: &str, rows: &BTreeMap<String, Row>) -> String {
    let mut s = format!(
        "\n| {title} | cases | as expected | items | entries skipped | refused (error) |\n|---|---|---|---|---|---|\n"
    );
    for (k, r) in rows {
        s.push_str(&format!(
            "| {k} | {} | {} | {} | {} | {} |\n",
            r.cases, r.passed, r.items, r.skipped, r.errors
        ));
    }
    s
}

#[test]
fn feed_corpus_documents_parse_as_their_manifest_says() {
    let mut cases = load("manifest.toml");
    let generated = load("generated.toml");
    assert!(
        generated.len() >= 30,
        "generated.toml has {} cases; run scripts/gen_feed_corpus.py",
        generated.len()
    );
    cases.extend(generated);

    // Every file in the folder is a case: none is forgotten.
    let listed: BTreeSet<&str> = cases.iter().map(|c| c.file.as_str()).collect();
    for entry in std::fs::read_dir(corpus_dir()).expect("corpus dir") {
        let name = entry
            .expect("entry")
            .file_name()
            .to_string_lossy()
            .into_owned();
        if !name.ends_with(".toml") {
            assert!(listed.contains(name.as_str()), "{name} is in no manifest");
        }
    }

    let mut by_class: BTreeMap<String, Row> = BTreeMap::new();
    let mut by_kind: BTreeMap<String, Row> = BTreeMap::new();
    let mut failed = Vec::new();
    for case in &cases {
        // A panic is one failed case, not the end of the table.
        let out = std::panic::catch_unwind(|| run_case(case)).unwrap_or_else(|panic| Outcome {
            failures: vec![format!("panicked: {}", panic_message(&panic))],
            items: 0,
            skipped: 0,
            parsed: false,
        });
        let ok = out.failures.is_empty();
        for row in [
            by_class.entry(case.class.clone()).or_default(),
            by_kind.entry(case.kind.clone()).or_default(),
        ] {
            row.cases += 1;
            row.passed += usize::from(ok);
            row.items += out.items;
            row.skipped += out.skipped;
            row.errors += usize::from(!out.parsed);
        }
        if !ok {
            failed.push(format!("{}: {}", case.file, out.failures.join("; ")));
        }
    }
    println!("{}", table("class", &by_class));
    println!("{}", table("feed kind", &by_kind));
    assert!(
        failed.is_empty(),
        "{} of {} corpus cases differ from their manifest:\n{}",
        failed.len(),
        cases.len(),
        failed.join("\n")
    );
}
