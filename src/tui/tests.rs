//! Snapshot tests of every screen at 80×24 (TestBackend + insta), and the
//! update logic driven by key events.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;
use ratatui::backend::TestBackend;

use super::app::*;
use super::data::*;
use super::ui;

fn key(c: KeyCode) -> Event {
    Event::Key(KeyEvent::new(c, KeyModifiers::NONE))
}

fn ch(c: char) -> Event {
    key(KeyCode::Char(c))
}

fn spend(total: i64, cap: Option<i64>) -> Spend {
    Spend {
        spent: total,
        reserved: 0,
        total,
        cap,
    }
}

fn t(s: &str) -> Option<String> {
    Some(s.to_string())
}

/// An app with data on every tab, as a daemon would answer.
fn fixture() -> App {
    let mut app = App::new("http://127.0.0.1:8080");
    let status = Status {
        generated_at: t("2026-11-23T09:00:00Z"),
        version: t("0.1.0"),
        update: Box::default(),
        global: Window {
            today: spend(1_250_000, Some(5_000_000)),
            month: spend(42_100_000, Some(50_000_000)),
        },
        jobs: [("queued", 2), ("waiting", 1), ("running", 1), ("dead", 1)]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect(),
        sites: vec![
            SiteStatus {
                name: "blog".into(),
                enabled: true,
                next_run_at: t("2026-11-24T06:00:00Z"),
                last_run_at: t("2026-11-23T06:00:00Z"),
                queue: Queue {
                    queued: 1,
                    waiting: 0,
                    running: 1,
                    dead: 0,
                },
                today: spend(900_000, Some(2_000_000)),
                month: spend(12_000_000, Some(30_000_000)),
                ..SiteStatus::default()
            },
            SiteStatus {
                name: "docs".into(),
                enabled: true,
                paused: true,
                queue: Queue {
                    queued: 1,
                    waiting: 1,
                    running: 0,
                    dead: 1,
                },
                today: spend(350_000, Some(2_000_000)),
                month: spend(2_000_000, None),
                last_error: t("publish: WordPress answered 401 (\x1b[31mbad app password\x1b[0m)"),
                last_error_at: t("2026-11-23T08:12:00Z"),
                ..SiteStatus::default()
            },
        ],
        operations: Vec::new(),
    };
    app.update(Event::Loaded(Loaded::Status(status)));
    app.update(Event::Loaded(Loaded::Runs(
        vec![
            Run {
                id: 12,
                site: "blog".into(),
                trigger: "schedule".into(),
                status: "running".into(),
                created_at: t("2026-11-23T06:00:00Z"),
                ..Run::default()
            },
            Run {
                id: 11,
                site: "docs".into(),
                trigger: "manual".into(),
                until: t("monitor"),
                status: "failed".into(),
                error: t("publish failed"),
                created_at: t("2026-11-23T05:00:00Z"),
                ..Run::default()
            },
        ],
        vec![
            Job {
                id: 41,
                run_id: 12,
                site: "blog".into(),
                stage: "generate".into(),
                status: "running".into(),
                attempts: 1,
                max_attempts: 5,
                created_at: t("2026-11-23T06:01:00Z"),
                ..Job::default()
            },
            Job {
                id: 40,
                run_id: 11,
                site: "docs".into(),
                stage: "publish".into(),
                status: "dead".into(),
                attempts: 5,
                max_attempts: 5,
                last_error: t("WordPress answered 401: invalid application password"),
                created_at: t("2026-11-23T05:02:00Z"),
                ..Job::default()
            },
        ],
    )));
    app.update(Event::Loaded(Loaded::Review(vec![
        ArticleSummary {
            id: 7,
            site: "blog".into(),
            status: "review".into(),
            title: "<img src=x onerror=alert(1)> Rust SQLite in WAL mode".into(),
            words: 812,
            check_score: Some(64),
            review_reason: t("score 64 below the gate 70: 2 unsupported claims"),
            ..ArticleSummary::default()
        },
        ArticleSummary {
            id: 6,
            site: "docs".into(),
            status: "approved".into(),
            title: "Backups with the online API".into(),
            words: 1040,
            check_score: Some(81),
            ..ArticleSummary::default()
        },
    ])));
    app.update(Event::Loaded(Loaded::Costs(
        Costs {
            days: 14,
            by_day: vec![
                CostRow {
                    day: t("2026-11-23"),
                    calls: 4,
                    cost: 41_000,
                    ..CostRow::default()
                },
                CostRow {
                    day: t("2026-11-22"),
                    calls: 9,
                    cost: 120_500,
                    ..CostRow::default()
                },
            ],
            by_site: vec![CostRow {
                site: t("blog"),
                calls: 13,
                cost: 161_500,
                ..CostRow::default()
            }],
            by_model: vec![CostRow {
                provider: t("anthropic"),
                model: t("claude-sonnet-4-5"),
                calls: 13,
                input_tokens: 29_000,
                output_tokens: 9_100,
                cost: 161_500,
                ..CostRow::default()
            }],
        },
        Caps {
            global: GlobalCaps {
                effective: CapValues {
                    global_daily: Some(5_000_000),
                    global_monthly: Some(50_000_000),
                    ..CapValues::default()
                },
            },
            sites: vec![SiteCaps {
                site: "blog".into(),
                effective: CapValues {
                    site_daily: Some(2_000_000),
                    site_monthly: None,
                    article: Some(1_000_000),
                    ..CapValues::default()
                },
            }],
        },
    )));
    app.update(Event::Loaded(Loaded::Sources(vec![
        Source {
            id: 1,
            site: "blog".into(),
            url: "https://competitor.example/feed.xml".into(),
            kind: "feed".into(),
            last_success_at: t("2026-11-23T06:00:10Z"),
            next_check_at: t("2026-11-23T07:00:00Z"),
            healthy: true,
            skipped_entries: 2,
            ..Source::default()
        },
        Source {
            id: 2,
            site: "docs".into(),
            url: "https://gone.example/sitemap.xml".into(),
            kind: "sitemap".into(),
            consecutive_failures: 7,
            last_error: t("HTTP 503 Service Unavailable"),
            next_check_at: t("2026-11-23T09:30:00Z"),
            ..Source::default()
        },
    ])));
    app.update(Event::Loaded(Loaded::Events(vec![
        AuditEvent {
            id: 5,
            at: "2026-11-23T08:30:00Z".into(),
            kind: "api.write".into(),
            actor: t("ops"),
            message: "PUT /api/v1/caps → 200".into(),
            ..AuditEvent::default()
        },
        AuditEvent {
            id: 4,
            at: "2026-11-23T08:12:00Z".into(),
            site: t("docs"),
            kind: "job.dead".into(),
            message: "publish: WordPress answered 401".into(),
            ..AuditEvent::default()
        },
    ])));
    app
}

fn screen(app: &App) -> String {
    let mut terminal = Terminal::new(TestBackend::new(80, 24)).expect("terminal");
    terminal.draw(|f| ui::draw(f, app)).expect("draw");
    terminal.backend().to_string()
}

fn on_tab(n: char) -> App {
    let mut app = fixture();
    app.update(ch(n));
    app
}

#[test]
fn tui_overview_shows_a_running_operation_and_nothing_once_it_is_done() {
    let mut app = on_tab('1');
    let mut status = app.status.clone().expect("status");
    status.operations = vec![Operation {
        id: 3,
        kind: "db_copy".into(),
        state: "running".into(),
        description: "copy into postgres://app:***@db:5432/blog".into(),
        started_at: t("2026-11-23T09:01:00Z"),
        step: "copied jobs               \x1b  500000 rows in 3.2s (5/16 tables)".into(),
    }];
    app.update(Event::Loaded(Loaded::Status(status.clone())));
    let s = screen(&app);
    assert!(
        s.contains("op 3 db_copy since 11-23 09:01: copied jobs 500000 rows in 3.2s (5/16 tables)"),
        "{s}"
    );
    assert!(!s.contains('\x1b'), "control characters reached the screen");
    // The sites table is still there, one line lower.
    assert!(s.contains("blog"), "{s}");
    status.operations[0].state = "done".into();
    app.update(Event::Loaded(Loaded::Status(status)));
    let s = screen(&app);
    assert!(!s.contains("op 3"), "{s}");
    assert_eq!(s, screen(&on_tab('1')), "done: the overview as without it");
}

#[test]
fn tui_snapshot_overview() {
    let s = screen(&on_tab('1'));
    assert!(!s.contains('\x1b'), "control characters reached the screen");
    insta::assert_snapshot!("overview", s);
}

#[test]
fn overview_says_when_an_update_is_available() {
    let mut app = on_tab('1');
    assert!(!screen(&app).contains("update"), "no update, no notice");
    let status = app.status.as_mut().expect("status");
    *status.update = UpdateInfo {
        available: true,
        latest: Some("0.2.0".into()),
        ..UpdateInfo::default()
    };
    assert!(
        screen(&app).contains("update available: 0.2.0"),
        "{}",
        screen(&app)
    );
    app.status.as_mut().expect("status").update.staged = Some("0.2.0".into());
    assert!(screen(&app).contains("update 0.2.0 being installed"));
}

#[test]
fn tui_snapshot_runs() {
    let mut app = on_tab('2');
    app.update(ch('j'));
    insta::assert_snapshot!("runs", screen(&app));
}

#[test]
fn tui_snapshot_review() {
    insta::assert_snapshot!("review", screen(&on_tab('3')));
}

#[test]
fn tui_snapshot_article_preview() {
    let mut app = on_tab('3');
    assert_eq!(
        app.update(key(KeyCode::Enter)),
        vec![Command::FetchArticle(7)]
    );
    app.update(Event::Loaded(Loaded::Article(Article {
        id: 7,
        site: "blog".into(),
        status: "review".into(),
        title: "Rust SQLite in WAL mode".into(),
        meta_description: t("How WAL lets readers and one writer work at once."),
        focus_keyword: t("rust sqlite"),
        body_markdown: "## Why\n\nReaders never wait.\x1b]0;pwned\x07\n\n- one\n- two\n".into(),
        check_score: Some(64),
        review_reason: None,
    })));
    let s = screen(&app);
    assert!(!s.contains("\x1b"), "{s}");
    insta::assert_snapshot!("article_preview", s);
}

#[test]
fn tui_snapshot_costs() {
    insta::assert_snapshot!("costs", screen(&on_tab('4')));
}

#[test]
fn tui_snapshot_sources() {
    let mut app = on_tab('5');
    // The healthy source whose last read skipped entries says so.
    let first = screen(&app);
    assert!(
        first.contains("no error; 2 unreadable entries skipped on the last read"),
        "{first}"
    );
    app.update(ch('j'));
    insta::assert_snapshot!("sources", screen(&app));
}

#[test]
fn tui_snapshot_events() {
    insta::assert_snapshot!("events", screen(&on_tab('6')));
}

#[test]
fn tui_snapshot_help() {
    let mut app = fixture();
    app.update(ch('?'));
    insta::assert_snapshot!("help", screen(&app));
}

#[test]
fn tui_snapshot_daemon_not_running() {
    let mut app = App::new("http://127.0.0.1:8080");
    app.update(Event::Unreachable(
        "blog-poster serve is not running on 127.0.0.1:8080 (start it: systemctl start blog-poster)".into(),
    ));
    let s = screen(&app);
    assert!(
        s.contains("blog-poster serve is not running on 127.0.0.1:8080"),
        "{s}"
    );
    insta::assert_snapshot!("daemon_not_running", s);
}

#[test]
fn tui_snapshot_cap_change_confirmation() {
    let mut app = on_tab('4');
    app.update(ch('j'));
    app.update(ch('j')); // site_daily of blog
    app.update(ch('e'));
    for c in "3.50".chars() {
        app.update(ch(c));
    }
    insta::assert_snapshot!("cap_input", screen(&app));
    assert!(app.update(key(KeyCode::Enter)).is_empty(), "asks first");
    insta::assert_snapshot!("cap_confirm", screen(&app));
    let cmds = app.update(ch('y'));
    assert_eq!(
        cmds,
        vec![Command::Write {
            method: "PUT",
            path: "/api/v1/caps".into(),
            body: serde_json::json!({"scope": "site_daily", "site": "blog", "cap": "3.50"}),
            done: "site_daily of blog cap set to $3.50".into(),
        }]
    );
}

/// What "fits 80×24" means, checked on the drawn cells: the tab bar shows
/// all six tabs whole, the footer its whole key hint, every box is closed
/// inside the screen, the selected row (reversed) is on screen and is the
/// selected item, and an open help lists every key.
fn assert_fits(app: &App, what: &str) {
    assert_fits_in(app, 80, 24, what);
}

fn assert_fits_in(app: &App, w: u16, h: u16, what: &str) {
    let mut terminal = Terminal::new(TestBackend::new(w, h)).expect("terminal");
    terminal.draw(|f| ui::draw(f, app)).expect("draw");
    let buf = terminal.backend().buffer().clone();
    let cell = |x: u16, y: u16| buf[(x, y)].symbol().to_string();
    let rows: Vec<String> = (0..h)
        .map(|y| (0..w).map(|x| cell(x, y)).collect())
        .collect();
    let shown = rows.join("\n");
    let ctx = |why: &str| format!("{what}: {why}\n{shown}");
    match &app.modal {
        None => {
            for (i, tab) in Tab::ALL.iter().enumerate() {
                let label = format!("{} {}", i + 1, tab.title());
                assert!(
                    rows[0].contains(&label),
                    "{}",
                    ctx(&format!("tab {label:?} cut"))
                );
            }
            if app.message.is_none() {
                assert!(
                    rows[usize::from(h - 1)].contains("? keys  q quit"),
                    "{}",
                    ctx("footer cut")
                );
            }
            // Every box is whole: each top-left corner has its top-right
            // corner on its row, its bottom-left below it, and they meet.
            for y in 0..h {
                for x in 0..w {
                    if cell(x, y) != "┌" {
                        continue;
                    }
                    let right = (x + 1..w).find(|&x2| cell(x2, y) == "┐");
                    let below = (y + 1..h).find(|&y2| cell(x, y2) == "└");
                    let (Some(x2), Some(y2)) = (right, below) else {
                        panic!("{}", ctx(&format!("box at {x},{y} runs off the screen")));
                    };
                    assert_eq!(
                        cell(x2, y2),
                        "┘",
                        "{}",
                        ctx(&format!("box at {x},{y} is not closed"))
                    );
                }
            }
            // The selection is visible, on the selected item.
            if app.rows() > 0 {
                let reversed: Vec<u16> = (1..h - 1)
                    .filter(|&y| {
                        (0..w).any(|x| {
                            buf[(x, y)]
                                .modifier
                                .contains(ratatui::style::Modifier::REVERSED)
                        })
                    })
                    .collect();
                assert_eq!(reversed.len(), 1, "{}", ctx("one selected row on screen"));
                if app.tab() == Tab::Events {
                    let want = &app.events[app.selected()].message;
                    assert!(
                        rows[reversed[0] as usize].contains(want.as_str()),
                        "{}",
                        ctx(&format!("selected row is not {want:?}"))
                    );
                }
            }
        }
        Some(Modal::Help) => {
            assert!(shown.contains(" Keys "), "{}", ctx("help title"));
            for (keys, does) in ui::KEYS {
                assert!(
                    shown.contains(does),
                    "{}",
                    ctx(&format!("help line {keys} cut"))
                );
            }
            assert!(
                shown.contains("Every change asks first."),
                "{}",
                ctx("help cut")
            );
        }
        Some(_) => {}
    }
}

#[test]
fn tui_every_tab_fits_80x24_at_every_selection() {
    // Long lists, so the selection has to scroll the tables.
    let mut app = fixture();
    let base = app.events[0].clone();
    app.events = (0..40)
        .map(|i| AuditEvent {
            id: 100 - i,
            message: format!("event number {i}"),
            ..base.clone()
        })
        .collect();
    let job = app.jobs[0].clone();
    app.jobs = (0..40)
        .map(|i| Job {
            id: 200 + i,
            ..job.clone()
        })
        .collect();
    let source = app.sources[0].clone();
    app.sources = (0..40)
        .map(|i| Source {
            id: i,
            url: format!("https://competitor.example/feed-{i}.xml"),
            ..source.clone()
        })
        .collect();
    for n in '1'..='6' {
        app.update(ch(n));
        let rows = app.rows();
        assert!(rows > 0, "tab {n} has rows to select");
        for i in 0..rows {
            assert_eq!(app.selected(), i, "tab {n}: j moves one row");
            assert_fits(&app, &format!("tab {n}, row {i}"));
            app.update(ch('j'));
        }
        assert_eq!(
            app.selected(),
            rows - 1,
            "tab {n}: the selection stops at the end"
        );
        assert_fits(&app, &format!("tab {n}, past the end"));
        app.update(ch('?'));
        assert_eq!(app.modal, Some(Modal::Help));
        assert_fits(&app, &format!("tab {n}, help"));
        app.update(ch('x'));
        assert_eq!(app.modal, None, "any key closes the help");
        app.update(ch('g'));
    }
}

/// The fit check fails on what it is meant to catch: the same screens on
/// a terminal too narrow for the tab bar, or too short for any table (at
/// 80×6 the overview still fits: it drops the spend lines and Failures).
#[test]
fn tui_fit_check_fails_on_a_screen_that_is_too_small() {
    for n in '1'..='6' {
        let app = on_tab(n);
        assert_fits(&app, "80x24");
        for (w, h) in [(40, 24), (80, 3)] {
            let caught = std::panic::catch_unwind(|| assert_fits_in(&app, w, h, "small"));
            assert!(caught.is_err(), "tab {n} at {w}x{h} passed the fit check");
        }
    }
}

#[test]
fn tui_tab_keys_switch_and_fetch() {
    let mut app = fixture();
    assert_eq!(app.update(ch('3')), vec![Command::Fetch(Tab::Review)]);
    assert_eq!(
        app.update(key(KeyCode::Tab)),
        vec![Command::Fetch(Tab::Costs)]
    );
    assert_eq!(
        app.update(key(KeyCode::BackTab)),
        vec![Command::Fetch(Tab::Review)]
    );
    assert_eq!(
        app.update(key(KeyCode::Left)),
        vec![Command::Fetch(Tab::Runs)]
    );
    assert_eq!(app.update(Event::Tick), vec![Command::Fetch(Tab::Runs)]);
    assert_eq!(app.update(ch('q')), vec![Command::Quit]);
    assert!(app.quit);
}

#[test]
fn tui_writes_ask_first_and_no_cancels() {
    let mut app = on_tab('2');
    app.update(ch('j')); // the dead publish job 40
    assert!(app.update(ch('R')).is_empty());
    assert!(matches!(app.modal, Some(Modal::Confirm(_))));
    assert!(app.update(ch('n')).is_empty(), "n is no");
    assert!(app.modal.is_none());
    app.update(ch('R'));
    let cmds = app.update(ch('y'));
    assert!(
        matches!(&cmds[..], [Command::Write { method: "POST", path, .. }] if path == "/api/v1/jobs/40/retry"),
        "{cmds:?}"
    );
    // Approve from the review list acts on the selected article.
    let mut app = on_tab('3');
    app.update(ch('j'));
    app.update(ch('a'));
    let cmds = app.update(ch('y'));
    assert!(
        matches!(&cmds[..], [Command::Write { path, .. }] if path == "/api/v1/articles/6/approve"),
        "{cmds:?}"
    );
    // Pausing a paused site resumes it.
    let mut app = on_tab('1');
    app.update(ch('j'));
    app.update(ch('p'));
    let cmds = app.update(ch('y'));
    assert!(
        matches!(&cmds[..], [Command::Write { path, .. }] if path == "/api/v1/sites/docs/resume"),
        "{cmds:?}"
    );
}

#[test]
fn tui_bad_cap_amount_is_refused_with_a_message() {
    let mut app = on_tab('4');
    app.update(ch('e'));
    app.update(ch('.'));
    assert!(app.update(key(KeyCode::Enter)).is_empty());
    assert!(matches!(&app.message, Some((true, m)) if m.contains("not an amount")));
    assert!(app.modal.is_none());
}

#[test]
fn tui_dollars_parse_and_print() {
    assert_eq!(parse_dollars("3.50"), Some(3_500_000));
    assert_eq!(parse_dollars("$3"), Some(3_000_000));
    assert_eq!(parse_dollars(".05"), Some(50_000));
    assert_eq!(parse_dollars("."), None);
    assert_eq!(parse_dollars("1.0000001"), None);
    assert_eq!(dollars(1_250_000), "$1.25");
    assert_eq!(dollars(0), "$0.00");
    assert_eq!(ui::clean("a\x1b[2Jb\nc"), "a [2Jb c");
}
