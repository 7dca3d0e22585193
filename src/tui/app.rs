//! The TUI's state and its pure update: `(App, Event) -> Vec<Command>`.
//! Keys, API answers and ticks come in as [`Event`]s; what to fetch or
//! change goes out as [`Command`]s for the IO thread. No IO and no drawing
//! here, so every screen's behaviour is testable without a terminal.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::data::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tab {
    Overview,
    Runs,
    Review,
    Costs,
    Sources,
    Events,
}

impl Tab {
    pub const ALL: [Tab; 6] = [
        Tab::Overview,
        Tab::Runs,
        Tab::Review,
        Tab::Costs,
        Tab::Sources,
        Tab::Events,
    ];

    pub fn title(self) -> &'static str {
        match self {
            Tab::Overview => "Overview",
            Tab::Runs => "Runs & jobs",
            Tab::Review => "Review",
            Tab::Costs => "Costs",
            Tab::Sources => "Sources",
            Tab::Events => "Events",
        }
    }

    fn index(self) -> usize {
        Tab::ALL.iter().position(|t| *t == self).unwrap_or(0)
    }
}

/// What the API thread is asked to do.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    Fetch(Tab),
    FetchArticle(i64),
    /// A write: method, path and JSON body (admin token needed).
    Write {
        method: &'static str,
        path: String,
        body: serde_json::Value,
        done: String,
    },
    Quit,
}

/// What the API thread reports back.
#[derive(Debug, Clone, PartialEq)]
pub enum Loaded {
    Status(Status),
    Runs(Vec<Run>, Vec<Job>),
    Review(Vec<ArticleSummary>),
    Article(Article),
    Costs(Costs, Caps),
    Sources(Vec<Source>),
    Events(Vec<AuditEvent>),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    Key(KeyEvent),
    Loaded(Loaded),
    /// A write went through; the message says what happened.
    Done(String),
    /// A request failed; the message is for the operator.
    Failed(String),
    /// The daemon could not be reached at all.
    Unreachable(String),
    /// Time to refresh the visible tab.
    Tick,
}

/// A question before a write.
#[derive(Debug, Clone, PartialEq)]
pub struct Confirm {
    pub question: String,
    pub command: Command,
}

/// A line being typed (the new value of a cap).
#[derive(Debug, Clone, PartialEq)]
pub struct Input {
    pub prompt: String,
    pub value: String,
    pub scope: String,
    pub site: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Modal {
    Help,
    Confirm(Confirm),
    Input(Input),
    Article,
}

#[derive(Debug, Default, Clone, PartialEq)]
pub struct App {
    pub tab_index: usize,
    pub endpoint: String,
    pub status: Option<Status>,
    pub runs: Vec<Run>,
    pub jobs: Vec<Job>,
    pub review: Vec<ArticleSummary>,
    pub article: Option<Article>,
    pub costs: Option<Costs>,
    pub caps: Option<Caps>,
    pub sources: Vec<Source>,
    pub events: Vec<AuditEvent>,
    /// Selected row per tab.
    pub selected: [usize; 6],
    pub modal: Option<Modal>,
    /// The last outcome or error, shown at the bottom.
    pub message: Option<(bool, String)>,
    /// Set when the daemon cannot be reached; the screen says so.
    pub unreachable: Option<String>,
    pub article_scroll: u16,
    pub quit: bool,
}

impl App {
    pub fn new(endpoint: &str) -> Self {
        App {
            endpoint: endpoint.to_string(),
            ..App::default()
        }
    }

    pub fn tab(&self) -> Tab {
        Tab::ALL[self.tab_index.min(Tab::ALL.len() - 1)]
    }

    pub fn selected(&self) -> usize {
        self.selected[self.tab_index]
    }

    /// Rows in the current tab's selectable list.
    pub(super) fn rows(&self) -> usize {
        match self.tab() {
            Tab::Overview => self.status.as_ref().map_or(0, |s| s.sites.len()),
            Tab::Runs => self.jobs.len(),
            Tab::Review => self.review.len(),
            Tab::Costs => self.caps.as_ref().map_or(0, |c| c.rows().len()),
            Tab::Sources => self.sources.len(),
            Tab::Events => self.events.len(),
        }
    }

    fn clamp(&mut self) {
        let n = self.rows();
        let i = self.tab_index;
        self.selected[i] = if n == 0 {
            0
        } else {
            self.selected[i].min(n - 1)
        };
    }

    fn switch(&mut self, index: usize) -> Vec<Command> {
        self.tab_index = index % Tab::ALL.len();
        self.clamp();
        vec![Command::Fetch(self.tab())]
    }

    /// The one place state changes.
    pub fn update(&mut self, event: Event) -> Vec<Command> {
        match event {
            Event::Tick => vec![Command::Fetch(self.tab())],
            Event::Loaded(l) => {
                self.unreachable = None;
                self.load(l);
                self.clamp();
                vec![]
            }
            Event::Done(msg) => {
                self.message = Some((false, msg));
                vec![Command::Fetch(self.tab())]
            }
            Event::Failed(msg) => {
                self.unreachable = None;
                self.message = Some((true, msg));
                vec![]
            }
            Event::Unreachable(msg) => {
                self.unreachable = Some(msg);
                vec![]
            }
            Event::Key(key) => self.key(key),
        }
    }

    fn load(&mut self, l: Loaded) {
        match l {
            Loaded::Status(s) => self.status = Some(s),
            Loaded::Runs(runs, jobs) => {
                self.runs = runs;
                self.jobs = jobs;
            }
            Loaded::Review(a) => self.review = a,
            Loaded::Article(a) => {
                self.article = Some(a);
                self.article_scroll = 0;
                self.modal = Some(Modal::Article);
            }
            Loaded::Costs(c, caps) => {
                self.costs = Some(c);
                self.caps = Some(caps);
            }
            Loaded::Sources(s) => self.sources = s,
            Loaded::Events(e) => self.events = e,
        }
    }

    fn key(&mut self, key: KeyEvent) -> Vec<Command> {
        if key.modifiers.contains(KeyModifiers::CONTROL) && key.code == KeyCode::Char('c') {
            self.quit = true;
            return vec![Command::Quit];
        }
        match self.modal.take() {
            Some(m) => self.modal_key(m, key),
            None => self.main_key(key),
        }
    }

    fn modal_key(&mut self, modal: Modal, key: KeyEvent) -> Vec<Command> {
        match modal {
            Modal::Help => vec![],
            Modal::Confirm(c) => match key.code {
                KeyCode::Char('y') | KeyCode::Char('Y') => vec![c.command],
                _ => {
                    self.message = Some((false, "cancelled".into()));
                    vec![]
                }
            },
            Modal::Input(mut input) => match key.code {
                KeyCode::Esc => vec![],
                KeyCode::Enter => {
                    let value = input.value.trim().to_string();
                    let (cap, shown) = match value.to_ascii_lowercase().as_str() {
                        "" | "config" | "default" => {
                            (serde_json::Value::Null, "the config's value".to_string())
                        }
                        _ => match parse_dollars(&value) {
                            Some(m) => (
                                serde_json::Value::String(value.trim_start_matches('$').into()),
                                dollars(m),
                            ),
                            None => {
                                self.message = Some((
                                    true,
                                    format!(
                                        "\"{value}\" is not an amount: type dollars like 3.50, or empty for the config's cap"
                                    ),
                                ));
                                return vec![];
                            }
                        },
                    };
                    let target = match &input.site {
                        Some(site) => format!("{} of {site}", input.scope),
                        None => input.scope.clone(),
                    };
                    let mut body = serde_json::json!({"scope": input.scope, "cap": cap});
                    if let Some(site) = &input.site {
                        body["site"] = serde_json::Value::String(site.clone());
                    }
                    self.modal = Some(Modal::Confirm(Confirm {
                        question: format!("Set the {target} cap to {shown}?"),
                        command: Command::Write {
                            method: "PUT",
                            path: "/api/v1/caps".into(),
                            body,
                            done: format!("{target} cap set to {shown}"),
                        },
                    }));
                    vec![]
                }
                KeyCode::Backspace => {
                    input.value.pop();
                    self.modal = Some(Modal::Input(input));
                    vec![]
                }
                KeyCode::Char(c)
                    if (c.is_ascii_digit() || c == '.' || c == '$') && input.value.len() < 12 =>
                {
                    input.value.push(c);
                    self.modal = Some(Modal::Input(input));
                    vec![]
                }
                _ => {
                    self.modal = Some(Modal::Input(input));
                    vec![]
                }
            },
            Modal::Article => match key.code {
                KeyCode::Down | KeyCode::Char('j') => {
                    self.article_scroll = self.article_scroll.saturating_add(1);
                    self.modal = Some(Modal::Article);
                    vec![]
                }
                KeyCode::Up | KeyCode::Char('k') => {
                    self.article_scroll = self.article_scroll.saturating_sub(1);
                    self.modal = Some(Modal::Article);
                    vec![]
                }
                KeyCode::PageDown | KeyCode::Char(' ') => {
                    self.article_scroll = self.article_scroll.saturating_add(10);
                    self.modal = Some(Modal::Article);
                    vec![]
                }
                KeyCode::PageUp => {
                    self.article_scroll = self.article_scroll.saturating_sub(10);
                    self.modal = Some(Modal::Article);
                    vec![]
                }
                KeyCode::Char('a') | KeyCode::Char('x') | KeyCode::Char('P') => {
                    self.review_action(key.code, true)
                }
                _ => vec![],
            },
        }
    }

    fn main_key(&mut self, key: KeyEvent) -> Vec<Command> {
        let i = self.tab_index;
        match key.code {
            KeyCode::Char('q') | KeyCode::Esc => {
                self.quit = true;
                vec![Command::Quit]
            }
            KeyCode::Char('?') | KeyCode::F(1) => {
                self.modal = Some(Modal::Help);
                vec![]
            }
            KeyCode::Tab | KeyCode::Right => self.switch(i + 1),
            KeyCode::BackTab | KeyCode::Left => self.switch(i + Tab::ALL.len() - 1),
            KeyCode::Char(c @ '1'..='6') => self.switch(c as usize - '1' as usize),
            KeyCode::Down | KeyCode::Char('j') => {
                self.selected[i] = self.selected[i].saturating_add(1);
                self.clamp();
                vec![]
            }
            KeyCode::Up | KeyCode::Char('k') => {
                self.selected[i] = self.selected[i].saturating_sub(1);
                vec![]
            }
            KeyCode::Home | KeyCode::Char('g') => {
                self.selected[i] = 0;
                vec![]
            }
            KeyCode::End | KeyCode::Char('G') => {
                self.selected[i] = self.rows().saturating_sub(1);
                vec![]
            }
            KeyCode::Char('r') => {
                self.message = Some((false, "refreshing…".into()));
                vec![Command::Fetch(self.tab())]
            }
            code => self.tab_key(code),
        }
    }

    fn ask(
        &mut self,
        question: String,
        method: &'static str,
        path: String,
        body: serde_json::Value,
        done: String,
    ) {
        self.modal = Some(Modal::Confirm(Confirm {
            question,
            command: Command::Write {
                method,
                path,
                body,
                done,
            },
        }));
    }

    fn tab_key(&mut self, code: KeyCode) -> Vec<Command> {
        let sel = self.selected();
        match (self.tab(), code) {
            (Tab::Overview, KeyCode::Char('n')) => {
                if let Some(site) = self.site_at(sel) {
                    self.ask(
                        format!("Run site {site} now (all stages)?"),
                        "POST",
                        format!("/api/v1/sites/{site}/run"),
                        serde_json::json!({}),
                        format!("run of {site} started"),
                    );
                }
                vec![]
            }
            (Tab::Overview, KeyCode::Char('p')) => {
                if let Some(s) = self.status.as_ref().and_then(|s| s.sites.get(sel)) {
                    let (verb, action) = if s.paused {
                        ("Resume", "resume")
                    } else {
                        ("Pause", "pause")
                    };
                    let site = s.name.clone();
                    self.ask(
                        format!("{verb} site {site}?"),
                        "POST",
                        format!("/api/v1/sites/{site}/{action}"),
                        serde_json::json!({}),
                        format!("site {site}: {action}d"),
                    );
                }
                vec![]
            }
            (Tab::Runs, KeyCode::Char('R')) | (Tab::Runs, KeyCode::Char('t')) => {
                if let Some(j) = self.jobs.get(sel) {
                    let id = j.id;
                    self.ask(
                        format!(
                            "Retry job {id} ({} of {}, now {})?",
                            j.stage, j.site, j.status
                        ),
                        "POST",
                        format!("/api/v1/jobs/{id}/retry"),
                        serde_json::json!({}),
                        format!("job {id} queued again"),
                    );
                }
                vec![]
            }
            (Tab::Runs, KeyCode::Char('c')) => {
                if let Some(j) = self.jobs.get(sel) {
                    let id = j.id;
                    self.ask(
                        format!("Cancel job {id} ({} of {}) and its run?", j.stage, j.site),
                        "POST",
                        format!("/api/v1/jobs/{id}/cancel"),
                        serde_json::json!({}),
                        format!("job {id} cancelled"),
                    );
                }
                vec![]
            }
            (Tab::Runs, KeyCode::Char('n')) => {
                if let Some(site) = self.jobs.get(sel).map(|j| j.site.clone()) {
                    self.ask(
                        format!("Run site {site} now (all stages)?"),
                        "POST",
                        format!("/api/v1/sites/{site}/run"),
                        serde_json::json!({}),
                        format!("run of {site} started"),
                    );
                }
                vec![]
            }
            (Tab::Review, KeyCode::Enter) | (Tab::Review, KeyCode::Char('v')) => self
                .review
                .get(sel)
                .map(|a| vec![Command::FetchArticle(a.id)])
                .unwrap_or_default(),
            (Tab::Review, c @ (KeyCode::Char('a') | KeyCode::Char('x') | KeyCode::Char('P'))) => {
                self.review_action(c, false)
            }
            (Tab::Costs, KeyCode::Char('e')) | (Tab::Costs, KeyCode::Enter) => {
                if let Some((scope, site, value)) =
                    self.caps.as_ref().and_then(|c| c.rows().get(sel).cloned())
                {
                    let target = match &site {
                        Some(s) => format!("{scope} of {s}"),
                        None => scope.clone(),
                    };
                    self.modal = Some(Modal::Input(Input {
                        prompt: format!(
                            "New {target} cap in dollars (now {}; empty = the config's):",
                            value.map_or("unlimited".to_string(), dollars)
                        ),
                        value: String::new(),
                        scope,
                        site,
                    }));
                }
                vec![]
            }
            _ => vec![],
        }
    }

    fn site_at(&self, i: usize) -> Option<String> {
        self.status
            .as_ref()
            .and_then(|s| s.sites.get(i))
            .map(|s| s.name.clone())
    }

    /// Approve, reject or publish the selected (or previewed) article.
    fn review_action(&mut self, code: KeyCode, from_preview: bool) -> Vec<Command> {
        let target = match (
            &self.article,
            self.review.get(self.selected[Tab::Review.index()]),
        ) {
            (Some(a), _) if from_preview => Some((a.id, a.title.clone())),
            (_, Some(a)) if !from_preview => Some((a.id, a.title.clone())),
            _ => None,
        };
        let Some((id, title)) = target else {
            return vec![];
        };
        let title: String = title.chars().take(40).collect();
        let (verb, action, body) = match code {
            KeyCode::Char('a') => ("Approve", "approve", serde_json::json!({})),
            KeyCode::Char('x') => (
                "Reject",
                "reject",
                serde_json::json!({"reason": "rejected in the TUI"}),
            ),
            _ => ("Publish", "publish", serde_json::json!({})),
        };
        self.ask(
            format!("{verb} article {id} \"{title}\"?"),
            "POST",
            format!("/api/v1/articles/{id}/{action}"),
            body,
            format!("article {id}: {action} done"),
        );
        vec![]
    }
}

/// "3.50", "$3.50", "3" as micro-dollars.
pub fn parse_dollars(s: &str) -> Option<i64> {
    let s = s.trim().trim_start_matches('$');
    let (whole, frac) = s.split_once('.').unwrap_or((s, ""));
    if whole.is_empty() && frac.is_empty() || frac.len() > 6 {
        return None;
    }
    let whole: i64 = if whole.is_empty() {
        0
    } else {
        whole.parse().ok()?
    };
    let frac_micros: i64 = if frac.is_empty() {
        0
    } else {
        format!("{frac:0<6}").parse().ok()?
    };
    whole.checked_mul(1_000_000)?.checked_add(frac_micros)
}
