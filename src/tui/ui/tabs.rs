//! The six tabs, each drawn from `&App` alone: overview (sites, spend
//! gauges, queue), runs, the review queue, costs, sources and events.
//! Untrusted text goes through [`clean`](super::clean) on its way in.

use super::*;

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

pub(super) fn overview(frame: &mut Frame, app: &App, area: Rect) {
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

pub(super) fn runs(frame: &mut Frame, app: &App, area: Rect) {
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

pub(super) fn review(frame: &mut Frame, app: &App, area: Rect) {
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

pub(super) fn costs(frame: &mut Frame, app: &App, area: Rect) {
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

pub(super) fn sources(frame: &mut Frame, app: &App, area: Rect) {
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

pub(super) fn events(frame: &mut Frame, app: &App, area: Rect) {
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
