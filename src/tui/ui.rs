//! Drawing: every screen is rendered from `&App` alone, so the snapshot
//! tests draw exactly what an operator sees. Text from the API — competitor
//! titles, LLM output, error messages — is untrusted: [`clean`] strips
//! control characters so it cannot move the cursor or recolour the terminal.
//! This file lays out the frame (tab bar, body, footer) and holds the shared
//! styles; the tabs are drawn in `ui/tabs.rs`, dialogs in `ui/modals.rs`.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{
    Block, Cell, Clear, LineGauge, Paragraph, Row, Table, TableState, Tabs, Wrap,
};

use super::app::{App, Modal, Tab};
use super::data::*;

mod modals;
mod tabs;

use modals::{article, dialog, help};
use tabs::{costs, events, overview, review, runs, sources};

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
