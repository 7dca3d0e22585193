//! Drawing: every screen is rendered from `&App` alone, so the snapshot
//! tests draw exactly what an operator sees. Text from the API — competitor
//! titles, LLM output, error messages — is untrusted: [`clean`] strips
//! control characters so it cannot move the cursor or recolour the terminal.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{
    Block, Cell, Clear, LineGauge, Paragraph, Row, Table, TableState, Tabs, Wrap,
};

use super::app::{App, Modal, Tab};
use super::data::*;

/// Untrusted text as one safe line: control characters (ESC, CR, LF, …)
/// become spaces.
pub fn clean(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// Untrusted multi-line text: line breaks kept, other controls removed.
fn clean_block(s: &str) -> String {
    s.chars()
        .filter_map(|c| match c {
            '\n' => Some('\n'),
            '\t' => Some(' '),
            c if c.is_control() => None,
            c => Some(c),
        })
        .collect()
}

fn opt(s: &Option<String>) -> String {
    s.as_deref().map_or_else(|| "-".to_string(), clean)
}

const SELECTED: Style = Style::new().add_modifier(Modifier::REVERSED);
const HEADER: Style = Style::new().add_modifier(Modifier::BOLD);
const ERROR: Style = Style::new().fg(Color::Red);
const DIM: Style = Style::new().fg(Color::DarkGray);

pub fn draw(frame: &mut Frame, app: &App) {
    let [tabs, body, footer] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(0),
        Constraint::Length(1),
    ])
    .areas(frame.area());
    draw_tabs(frame, app, tabs);
    if let Some(msg) = &app.unreachable {
        draw_unreachable(frame, msg, body);
    } else {
        match app.tab() {
            Tab::Overview => overview(frame, app, body),
            Tab::Runs => runs(frame, app, body),
            Tab::Review => review(frame, app, body),
            Tab::Costs => costs(frame, app, body),
            Tab::Sources => sources(frame, app, body),
            Tab::Events => events(frame, app, body),
        }
    }
    draw_footer(frame, app, footer);
    match &app.modal {
        Some(Modal::Help) => help(frame, app),
        Some(Modal::Confirm(c)) => dialog(
            frame,
            "Confirm",
            vec![
                Line::from(clean(&c.question)),
                Line::from(""),
                Line::from("y = yes, any other key = no"),
            ],
        ),
        Some(Modal::Input(i)) => dialog(
            frame,
            "Change a cap",
            vec![
                Line::from(clean(&i.prompt)),
                Line::from(""),
                Line::from(format!("> {}_", i.value)),
                Line::from(""),
                Line::from("Enter = continue, Esc = cancel"),
            ],
        ),
        Some(Modal::Article) => article(frame, app),
        None => {}
    }
}

fn draw_tabs(frame: &mut Frame, app: &App, area: Rect) {
    let titles = Tab::ALL
        .iter()
        .enumerate()
        .map(|(i, t)| format!("{} {}", i + 1, t.title()));
    let tabs = Tabs::new(titles)
        .select(app.tab_index)
        .highlight_style(SELECTED)
        .padding("", "")
        .divider("│");
    frame.render_widget(tabs, area);
}

fn draw_footer(frame: &mut Frame, app: &App, area: Rect) {
    let hint = match app.tab() {
        Tab::Overview => "n run now  p pause/resume",
        Tab::Runs => "R retry  c cancel  n run site",
        Tab::Review => "Enter preview  a approve  x reject  P publish",
        Tab::Costs => "e change cap",
        Tab::Sources | Tab::Events => "r refresh",
    };
    let line = match &app.message {
        Some((true, m)) => Line::from(Span::styled(clean(m), ERROR)),
        Some((false, m)) => Line::from(clean(m)),
        None => Line::from(vec![
            Span::raw(format!("{hint}  ? keys  q quit")),
            Span::styled(format!("  {}", app.endpoint), DIM),
        ]),
    };
    frame.render_widget(Paragraph::new(line), area);
}

fn draw_unreachable(frame: &mut Frame, msg: &str, area: Rect) {
    let text = vec![
        Line::from(""),
        Line::from(Span::styled(clean(msg), ERROR)),
        Line::from(""),
        Line::from("Retrying every few seconds; q quits."),
    ];
    frame.render_widget(
        Paragraph::new(text)
            .wrap(Wrap { trim: true })
            .block(Block::bordered().title(" daemon not reachable ")),
        area,
    );
}

fn spend_label(s: &Spend) -> String {
    match s.cap {
        Some(cap) => format!("{} / {}", dollars(s.total), dollars(cap)),
        None => format!("{} (no cap)", dollars(s.total)),
    }
}

/// The compact form for table cells: "$0.90/$2.00".
fn spend_cell(s: &Spend) -> String {
    match s.cap {
        Some(cap) => format!("{}/{}", dollars(s.total), dollars(cap)),
        None => format!("{}/no cap", dollars(s.total)),
    }
}

fn ratio(s: &Spend) -> f64 {
    match s.cap {
        Some(cap) if cap > 0 => (s.total as f64 / cap as f64).clamp(0.0, 1.0),
        Some(_) => 1.0,
        None => 0.0,
    }
}

fn gauge<'a>(title: &'a str, s: &Spend) -> LineGauge<'a> {
    let r = ratio(s);
    let color = if r >= 1.0 {
        Color::Red
    } else if r >= 0.8 {
        Color::Yellow
    } else {
        Color::Green
    };
    LineGauge::default()
        .ratio(r)
        .label(format!("{title:<6}{:>22}", spend_label(s)))
        .filled_style(Style::new().fg(color))
        .unfilled_style(DIM)
}

fn overview(frame: &mut Frame, app: &App, area: Rect) {
    let Some(status) = &app.status else {
        frame.render_widget(Paragraph::new("loading…"), area);
        return;
    };
    let running = status.operations.iter().find(|o| o.state == "running");
    let [g1, g2, jobs, operation, table, failures] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(1),
        Constraint::Length(1),
        // Only while a db copy or a restore runs.
        Constraint::Length(u16::from(running.is_some())),
        Constraint::Min(4),
        Constraint::Length(5),
    ])
    .areas(area);
    if let Some(o) = running {
        frame.render_widget(
            // Short, to leave room for the step: "op 3 db_copy since
            // 11-23 09:01: copied jobs 500000 rows in 3.2s (5/16 tables)".
            Paragraph::new(format!(
                "op {} {} since {}: {}",
                o.id,
                clean(&o.kind),
                short_time(&o.started_at),
                clean(&o.step)
                    .split_whitespace()
                    .collect::<Vec<_>>()
                    .join(" ")
            ))
            .style(Style::new().fg(Color::Yellow)),
            operation,
        );
    }
    frame.render_widget(gauge("today", &status.global.today), g1);
    frame.render_widget(gauge("month", &status.global.month), g2);
    let j = &status.jobs;
    let count = |k: &str| j.get(k).copied().unwrap_or(0);
    let u = &status.update;
    let update = match (&u.latest, &u.staged) {
        (Some(v), Some(_)) if u.available => format!(" · update {} being installed", clean(v)),
        (Some(v), None) if u.available => format!(" · update available: {}", clean(v)),
        _ => String::new(),
    };
    frame.render_widget(
        Paragraph::new(format!(
            "jobs: {} queued, {} waiting, {} running, {} dead{update}",
            count("queued"),
            count("waiting"),
            count("running"),
            count("dead")
        )),
        jobs,
    );
    let rows = status.sites.iter().map(|s| {
        let state = if !s.enabled {
            "off"
        } else if s.paused {
            "paused"
        } else {
            "active"
        };
        let q = &s.queue;
        Row::new(vec![
            Cell::from(clean(&s.name)),
            Cell::from(state),
            Cell::from(short_time(&s.next_run_at)),
            Cell::from(short_time(&s.last_run_at)),
            Cell::from(format!(
                "{}/{}/{}/{}",
                q.queued, q.waiting, q.running, q.dead
            )),
            Cell::from(spend_cell(&s.today)),
            Cell::from(spend_cell(&s.month)),
        ])
        .style(if s.last_error.is_some() {
            ERROR
        } else {
            Style::new()
        })
    });
    let t = Table::new(
        rows,
        [
            Constraint::Length(10),
            Constraint::Length(6),
            Constraint::Length(11),
            Constraint::Length(11),
            Constraint::Length(7),
            Constraint::Min(12),
            Constraint::Min(13),
        ],
    )
    .header(
        Row::new([
            "Site", "State", "Next run", "Last run", "q/w/r/d", "Today", "Month",
        ])
        .style(HEADER),
    )
    .row_highlight_style(SELECTED)
    .block(Block::bordered().title(" Sites "));
    let mut st = TableState::default().with_selected(Some(app.selected()));
    frame.render_stateful_widget(t, table, &mut st);
    let failing: Vec<Line> = status
        .sites
        .iter()
        .filter_map(|s| {
            s.last_error.as_ref().map(|e| {
                Line::from(vec![
                    Span::styled(format!("{} ", clean(&s.name)), HEADER),
                    Span::raw(format!("{}: ", short_time(&s.last_error_at))),
                    Span::styled(clean(e), ERROR),
                ])
            })
        })
        .collect();
    let failing = if failing.is_empty() {
        vec![Line::from("no failures")]
    } else {
        failing
    };
    frame.render_widget(
        Paragraph::new(failing)
            .wrap(Wrap { trim: true })
            .block(Block::bordered().title(" Failures ")),
        failures,
    );
}

fn runs(frame: &mut Frame, app: &App, area: Rect) {
    let [top, bottom, detail] = Layout::vertical([
        Constraint::Length(7),
        Constraint::Min(4),
        Constraint::Length(3),
    ])
    .areas(area);
    let rows = app.runs.iter().map(|r| {
        Row::new(vec![
            r.id.to_string(),
            clean(&r.site),
            clean(&r.trigger),
            r.until.clone().unwrap_or_else(|| "publish".into()),
            clean(&r.status),
            short_time(&r.created_at),
            opt(&r.error),
        ])
    });
    let t = Table::new(
        rows,
        [
            Constraint::Length(5),
            Constraint::Length(10),
            Constraint::Length(9),
            Constraint::Length(8),
            Constraint::Length(9),
            Constraint::Length(11),
            Constraint::Min(10),
        ],
    )
    .header(
        Row::new([
            "Run", "Site", "Trigger", "Until", "Status", "Started", "Error",
        ])
        .style(HEADER),
    )
    .block(Block::bordered().title(" Runs "));
    frame.render_widget(t, top);
    let rows = app.jobs.iter().map(|j| {
        let style = match j.status.as_str() {
            "dead" => ERROR,
            "waiting" => Style::new().fg(Color::Yellow),
            _ => Style::new(),
        };
        Row::new(vec![
            j.id.to_string(),
            j.run_id.to_string(),
            clean(&j.site),
            clean(&j.stage),
            clean(&j.status),
            format!("{}/{}", j.attempts, j.max_attempts),
            short_time(&j.created_at),
        ])
        .style(style)
    });
    let t = Table::new(
        rows,
        [
            Constraint::Length(6),
            Constraint::Length(5),
            Constraint::Length(12),
            Constraint::Length(9),
            Constraint::Length(10),
            Constraint::Length(5),
            Constraint::Min(11),
        ],
    )
    .header(Row::new(["Job", "Run", "Site", "Stage", "Status", "Try", "Created"]).style(HEADER))
    .row_highlight_style(SELECTED)
    .block(Block::bordered().title(" Jobs "));
    let mut st = TableState::default().with_selected(Some(app.selected()));
    frame.render_stateful_widget(t, bottom, &mut st);
    let text = app
        .jobs
        .get(app.selected())
        .map(|j| {
            j.last_error
                .as_ref()
                .or(j.wait_reason.as_ref())
                .map_or_else(|| "no error".to_string(), |e| clean(e))
        })
        .unwrap_or_default();
    frame.render_widget(
        Paragraph::new(text)
            .wrap(Wrap { trim: true })
            .block(Block::bordered().title(" Selected job ")),
        detail,
    );
}

fn review(frame: &mut Frame, app: &App, area: Rect) {
    let [list, detail] = Layout::vertical([Constraint::Min(4), Constraint::Length(4)]).areas(area);
    let rows = app.review.iter().map(|a| {
        Row::new(vec![
            a.id.to_string(),
            clean(&a.site),
            clean(&a.status),
            a.check_score.map_or("-".into(), |s| s.to_string()),
            a.words.to_string(),
            clean(&a.title),
        ])
    });
    let t = Table::new(
        rows,
        [
            Constraint::Length(5),
            Constraint::Length(10),
            Constraint::Length(9),
            Constraint::Length(5),
            Constraint::Length(6),
            Constraint::Min(20),
        ],
    )
    .header(Row::new(["Id", "Site", "Status", "Score", "Words", "Title"]).style(HEADER))
    .row_highlight_style(SELECTED)
    .block(Block::bordered().title(" Articles (review first) "));
    let mut st = TableState::default().with_selected(Some(app.selected()));
    frame.render_stateful_widget(t, list, &mut st);
    let text = app
        .review
        .get(app.selected())
        .map(|a| {
            a.review_reason
                .as_ref()
                .map_or_else(|| "no review note".into(), |r| clean(r))
        })
        .unwrap_or_else(|| "no articles".into());
    frame.render_widget(
        Paragraph::new(text)
            .wrap(Wrap { trim: true })
            .block(Block::bordered().title(" Why it waits ")),
        detail,
    );
}

fn costs(frame: &mut Frame, app: &App, area: Rect) {
    let (Some(c), Some(caps)) = (&app.costs, &app.caps) else {
        frame.render_widget(Paragraph::new("loading…"), area);
        return;
    };
    let [top, bottom] = Layout::vertical([Constraint::Min(6), Constraint::Length(9)]).areas(area);
    let [days, right] =
        Layout::horizontal([Constraint::Length(30), Constraint::Min(30)]).areas(top);
    let [sites, models] =
        Layout::vertical([Constraint::Percentage(45), Constraint::Percentage(55)]).areas(right);
    let day_rows = c
        .by_day
        .iter()
        .map(|r| Row::new(vec![opt(&r.day), r.calls.to_string(), dollars(r.cost)]));
    frame.render_widget(
        Table::new(
            day_rows,
            [
                Constraint::Length(10),
                Constraint::Length(6),
                Constraint::Min(8),
            ],
        )
        .header(Row::new(["Day", "Calls", "Cost"]).style(HEADER))
        .block(Block::bordered().title(format!(" By day ({}d) ", c.days))),
        days,
    );
    let site_rows = c
        .by_site
        .iter()
        .map(|r| Row::new(vec![opt(&r.site), r.calls.to_string(), dollars(r.cost)]));
    frame.render_widget(
        Table::new(
            site_rows,
            [
                Constraint::Min(12),
                Constraint::Length(6),
                Constraint::Length(10),
            ],
        )
        .header(Row::new(["Site", "Calls", "Cost"]).style(HEADER))
        .block(Block::bordered().title(" By site ")),
        sites,
    );
    let model_rows = c.by_model.iter().map(|r| {
        Row::new(vec![
            format!("{}/{}", opt(&r.provider), opt(&r.model)),
            format!("{}k", (r.input_tokens + r.output_tokens) / 1000),
            dollars(r.cost),
        ])
    });
    frame.render_widget(
        Table::new(
            model_rows,
            [
                Constraint::Min(12),
                Constraint::Length(7),
                Constraint::Length(10),
            ],
        )
        .header(Row::new(["Model", "Tokens", "Cost"]).style(HEADER))
        .block(Block::bordered().title(" By model ")),
        models,
    );
    let cap_rows = caps.rows().into_iter().map(|(scope, site, v)| {
        Row::new(vec![
            scope,
            site.map_or_else(|| "(all)".to_string(), |s| clean(&s)),
            v.map_or_else(|| "unlimited".to_string(), dollars),
        ])
    });
    let t = Table::new(
        cap_rows,
        [
            Constraint::Length(15),
            Constraint::Min(12),
            Constraint::Length(12),
        ],
    )
    .header(Row::new(["Cap", "Site", "Value"]).style(HEADER))
    .row_highlight_style(SELECTED)
    .block(Block::bordered().title(" Caps (e to change) "));
    let mut st = TableState::default().with_selected(Some(app.selected()));
    frame.render_stateful_widget(t, bottom, &mut st);
}

fn sources(frame: &mut Frame, app: &App, area: Rect) {
    let [list, detail] = Layout::vertical([Constraint::Min(4), Constraint::Length(4)]).areas(area);
    let rows = app.sources.iter().map(|s| {
        let (health, style) = if s.consecutive_failures == 0 {
            ("ok".to_string(), Style::new())
        } else {
            (format!("FAIL {}", s.consecutive_failures), ERROR)
        };
        Row::new(vec![
            clean(&s.site),
            health,
            clean(&s.kind),
            short_time(&s.last_success_at),
            short_time(&s.next_check_at),
            clean(&s.url),
        ])
        .style(style)
    });
    let t = Table::new(
        rows,
        [
            Constraint::Length(10),
            Constraint::Length(7),
            Constraint::Length(7),
            Constraint::Length(11),
            Constraint::Length(11),
            Constraint::Min(20),
        ],
    )
    .header(Row::new(["Site", "Health", "Kind", "Last ok", "Next check", "URL"]).style(HEADER))
    .row_highlight_style(SELECTED)
    .block(Block::bordered().title(" Sources "));
    let mut st = TableState::default().with_selected(Some(app.selected()));
    frame.render_stateful_widget(t, list, &mut st);
    let text = app
        .sources
        .get(app.selected())
        .map(|s| {
            vec![
                Line::from(clean(&s.url)),
                Line::from(s.last_error.as_ref().map_or_else(
                    || match s.skipped_entries {
                        0 => Span::raw("no error"),
                        n => Span::raw(format!(
                            "no error; {n} unreadable entries skipped on the last read"
                        )),
                    },
                    |e| Span::styled(clean(e), ERROR),
                )),
            ]
        })
        .unwrap_or_else(|| vec![Line::from("no sources")]);
    frame.render_widget(
        Paragraph::new(text)
            .wrap(Wrap { trim: true })
            .block(Block::bordered().title(" Selected source ")),
        detail,
    );
}

fn events(frame: &mut Frame, app: &App, area: Rect) {
    let rows = app.events.iter().map(|e| {
        Row::new(vec![
            short_time(&Some(e.at.clone())),
            clean(&e.kind),
            opt(&e.actor),
            opt(&e.site),
            clean(&e.message),
        ])
    });
    let t = Table::new(
        rows,
        [
            Constraint::Length(11),
            Constraint::Length(16),
            Constraint::Length(8),
            Constraint::Length(8),
            Constraint::Min(20),
        ],
    )
    .header(Row::new(["At", "Kind", "Actor", "Site", "Message"]).style(HEADER))
    .row_highlight_style(SELECTED)
    .block(Block::bordered().title(" Events (newest first) "));
    let mut st = TableState::default().with_selected(Some(app.selected()));
    frame.render_stateful_widget(t, area, &mut st);
}

/// A centred box `w`×`h` (clamped to the screen).
fn centered(area: Rect, w: u16, h: u16) -> Rect {
    let w = w.min(area.width);
    let h = h.min(area.height);
    Rect {
        x: area.x + (area.width - w) / 2,
        y: area.y + (area.height - h) / 2,
        width: w,
        height: h,
    }
}

fn dialog(frame: &mut Frame, title: &str, lines: Vec<Line>) {
    let area = centered(frame.area(), 64, lines.len() as u16 + 4);
    frame.render_widget(Clear, area);
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: true })
            .block(Block::bordered().title(format!(" {title} "))),
        area,
    );
}

pub const KEYS: &[(&str, &str)] = &[
    ("1-6, Tab, ←/→", "switch tab"),
    ("↑/↓, j/k, g/G", "move the selection"),
    ("r", "refresh now (also every 5 s)"),
    ("n", "Overview, Runs: run the site now"),
    ("p", "Overview: pause / resume the site"),
    ("R / c", "Runs: retry / cancel the selected job"),
    ("Enter", "Review: preview the article"),
    ("a / x / P", "Review: approve / reject / publish"),
    ("e", "Costs: change the selected cap"),
    ("?", "this help (any key closes it)"),
    ("q, Esc", "quit"),
];

fn help(frame: &mut Frame, app: &App) {
    let mut lines: Vec<Line> = KEYS
        .iter()
        .map(|(k, v)| {
            Line::from(vec![
                Span::styled(format!("{k:<15}"), HEADER),
                Span::raw(*v),
            ])
        })
        .collect();
    lines.push(Line::from(""));
    lines.push(Line::from(Span::styled(
        format!("API: {}. Every change asks first.", app.endpoint),
        DIM,
    )));
    let area = centered(frame.area(), 62, lines.len() as u16 + 2);
    frame.render_widget(Clear, area);
    frame.render_widget(
        Paragraph::new(lines).block(Block::bordered().title(" Keys ")),
        area,
    );
}

fn article(frame: &mut Frame, app: &App) {
    let Some(a) = &app.article else { return };
    let area = centered(
        frame.area(),
        frame.area().width,
        frame.area().height.saturating_sub(1),
    );
    frame.render_widget(Clear, area);
    let mut lines = vec![
        Line::from(Span::styled(clean(&a.title), HEADER)),
        Line::from(format!(
            "{} · {} · score {} · keyword {}",
            clean(&a.site),
            clean(&a.status),
            a.check_score.map_or("-".into(), |s| s.to_string()),
            opt(&a.focus_keyword)
        )),
        Line::from(Span::styled(opt(&a.meta_description), DIM)),
        Line::from(""),
    ];
    lines.extend(
        clean_block(&a.body_markdown)
            .lines()
            .map(|l| Line::from(l.to_string())),
    );
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .scroll((app.article_scroll, 0))
            .block(Block::bordered().title(format!(
                " Article {} — ↑/↓ scroll, a approve, x reject, P publish, other keys close ",
                a.id
            ))),
        area,
    );
}
