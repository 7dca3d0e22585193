//! Cost caps, decided without IO: which windows a reservation falls in, how
//! much each applicable cap has left, which cap a call would cross and when
//! that cap's window resets. The store runs [`check_caps`] inside the
//! transaction that inserts the reservation, so every backend refuses the
//! same calls.
//!
//! Spend in a window is what was settled plus what is still reserved: a
//! reservation whose call never reported back (a crash, a timeout) keeps
//! counting at its worst case, so a cap is never overshot by unknowns.

use std::fmt;

use chrono::{Datelike, NaiveDate, TimeZone, Utc};
use serde::Serialize;

use crate::domain::lifecycle::Timestamp;
use crate::domain::money::Money;

/// The caps that apply to one call. `None` means no cap at that scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct BudgetCaps {
    pub global_daily: Option<Money>,
    pub global_monthly: Option<Money>,
    pub site_daily: Option<Money>,
    pub site_monthly: Option<Money>,
    pub per_article: Option<Money>,
}

/// One cap's scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CapScope {
    GlobalDaily,
    GlobalMonthly,
    SiteDaily,
    SiteMonthly,
    Article,
}

impl CapScope {
    pub const ALL: [CapScope; 5] = [
        CapScope::Article,
        CapScope::SiteDaily,
        CapScope::SiteMonthly,
        CapScope::GlobalDaily,
        CapScope::GlobalMonthly,
    ];

    /// The name in the API and the cap_overrides table.
    pub fn as_str(self) -> &'static str {
        match self {
            CapScope::GlobalDaily => "global_daily",
            CapScope::GlobalMonthly => "global_monthly",
            CapScope::SiteDaily => "site_daily",
            CapScope::SiteMonthly => "site_monthly",
            CapScope::Article => "article",
        }
    }

    pub fn parse(s: &str) -> Option<CapScope> {
        CapScope::ALL.into_iter().find(|c| c.as_str() == s)
    }

    /// Whether a cap of this scope belongs to one site.
    pub fn per_site(self) -> bool {
        !matches!(self, CapScope::GlobalDaily | CapScope::GlobalMonthly)
    }

    /// The config key that sets this cap.
    pub fn config_key(self) -> &'static str {
        match self {
            CapScope::GlobalDaily => "budget.global_daily",
            CapScope::GlobalMonthly => "budget.global_monthly",
            CapScope::SiteDaily => "budget.site_daily (or sites.NAME.budget.daily)",
            CapScope::SiteMonthly => "budget.site_monthly (or sites.NAME.budget.monthly)",
            CapScope::Article => "budget.per_article (or sites.NAME.budget.per_article)",
        }
    }

    fn describe(self, site: &str) -> String {
        match self {
            CapScope::GlobalDaily => "the global daily cap".into(),
            CapScope::GlobalMonthly => "the global monthly cap".into(),
            CapScope::SiteDaily => format!("the daily cap of site \"{site}\""),
            CapScope::SiteMonthly => format!("the monthly cap of site \"{site}\""),
            CapScope::Article => "the per-article cap".into(),
        }
    }

    fn spent_label(self) -> &'static str {
        match self {
            CapScope::GlobalDaily | CapScope::SiteDaily => "today",
            CapScope::GlobalMonthly | CapScope::SiteMonthly => "this month",
            CapScope::Article => "on this article",
        }
    }
}

impl BudgetCaps {
    pub fn set(&mut self, scope: CapScope, cap: Option<Money>) {
        match scope {
            CapScope::GlobalDaily => self.global_daily = cap,
            CapScope::GlobalMonthly => self.global_monthly = cap,
            CapScope::SiteDaily => self.site_daily = cap,
            CapScope::SiteMonthly => self.site_monthly = cap,
            CapScope::Article => self.per_article = cap,
        }
    }

    pub fn get(&self, scope: CapScope) -> Option<Money> {
        match scope {
            CapScope::GlobalDaily => self.global_daily,
            CapScope::GlobalMonthly => self.global_monthly,
            CapScope::SiteDaily => self.site_daily,
            CapScope::SiteMonthly => self.site_monthly,
            CapScope::Article => self.per_article,
        }
    }
}

/// What is already spent or reserved in each scope a call falls in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ScopeSpend {
    pub global_daily: Money,
    pub global_monthly: Money,
    pub site_daily: Money,
    pub site_monthly: Money,
    pub article: Money,
}

impl ScopeSpend {
    pub fn get(&self, scope: CapScope) -> Money {
        match scope {
            CapScope::GlobalDaily => self.global_daily,
            CapScope::GlobalMonthly => self.global_monthly,
            CapScope::SiteDaily => self.site_daily,
            CapScope::SiteMonthly => self.site_monthly,
            CapScope::Article => self.article,
        }
    }
}

/// A call refused because it could cross a cap. Not an error: the job waits
/// until `resets_at` (or until the cap is raised).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CapRefusal {
    pub scope: CapScope,
    pub site: String,
    pub cap: Money,
    /// Settled plus still-reserved spend in the cap's window.
    pub spent: Money,
    /// The worst case of the refused call.
    pub requested: Money,
    /// When the cap's window starts over; `None` for the per-article cap.
    pub resets_at: Option<Timestamp>,
}

impl fmt::Display for CapRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} ({}) would be crossed: {} spent or reserved {}, the next LLM call needs up to {}",
            self.scope.describe(&self.site),
            self.cap,
            self.spent,
            self.scope.spent_label(),
            self.requested
        )?;
        match self.resets_at {
            Some(at) => write!(
                f,
                "; waiting for the reset at {} (raise {} and restart to go on sooner)",
                at.format("%Y-%m-%d %H:%M UTC"),
                self.scope.config_key()
            ),
            None => write!(
                f,
                "; raise {} and restart, or cancel the run",
                self.scope.config_key()
            ),
        }
    }
}

/// The UTC day ("2026-11-05") and month ("2026-11") a moment falls in: the
/// window keys stored with each reservation.
pub fn window_keys(now: Timestamp) -> (String, String) {
    (
        now.format("%Y-%m-%d").to_string(),
        now.format("%Y-%m").to_string(),
    )
}

/// The next UTC midnight after `now`.
pub fn next_day_start(now: Timestamp) -> Timestamp {
    let next = now.date_naive().succ_opt().unwrap_or(NaiveDate::MAX);
    at_midnight(next)
}

/// 00:00 UTC on the first of the month after `now`.
pub fn next_month_start(now: Timestamp) -> Timestamp {
    let (y, m) = if now.month() == 12 {
        (now.year() + 1, 1)
    } else {
        (now.year(), now.month() + 1)
    };
    at_midnight(NaiveDate::from_ymd_opt(y, m, 1).unwrap_or(NaiveDate::MAX))
}

fn at_midnight(day: NaiveDate) -> Timestamp {
    Utc.from_utc_datetime(&day.and_hms_opt(0, 0, 0).unwrap_or_default())
}

/// When the window of `scope` that contains `now` ends.
pub fn resets_at(scope: CapScope, now: Timestamp) -> Option<Timestamp> {
    match scope {
        CapScope::GlobalDaily | CapScope::SiteDaily => Some(next_day_start(now)),
        CapScope::GlobalMonthly | CapScope::SiteMonthly => Some(next_month_start(now)),
        CapScope::Article => None,
    }
}

/// Whether reserving `amount` more keeps every cap. When several caps would
/// be crossed, the one that blocks longest is reported (the per-article cap
/// never resets; a monthly cap outlasts a daily one), so the job's wait is
/// the real one.
pub fn check_caps(
    caps: &BudgetCaps,
    spent: &ScopeSpend,
    amount: Money,
    site: &str,
    now: Timestamp,
) -> Result<(), CapRefusal> {
    let mut worst: Option<CapRefusal> = None;
    for scope in CapScope::ALL {
        let Some(cap) = caps.get(scope) else { continue };
        let used = spent.get(scope);
        let after = used.micros().saturating_add(amount.micros());
        if after <= cap.micros() {
            continue;
        }
        let refusal = CapRefusal {
            scope,
            site: site.to_string(),
            cap,
            spent: used,
            requested: amount,
            resets_at: resets_at(scope, now),
        };
        let longer = match (&worst, refusal.resets_at) {
            (None, _) => true,
            (Some(w), None) => w.resets_at.is_some(),
            (Some(w), Some(at)) => w.resets_at.is_some_and(|prev| at > prev),
        };
        if longer {
            worst = Some(refusal);
        }
    }
    match worst {
        Some(r) => Err(r),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(y: i32, m: u32, d: u32, h: u32) -> Timestamp {
        Utc.with_ymd_and_hms(y, m, d, h, 30, 0)
            .single()
            .expect("valid")
    }

    fn usd(cents: i64) -> Money {
        Money(cents * 10_000)
    }

    #[test]
    fn windows_are_utc_day_and_month() {
        assert_eq!(
            window_keys(at(2026, 12, 31, 23)),
            ("2026-12-31".to_string(), "2026-12".to_string())
        );
        assert_eq!(
            next_day_start(at(2026, 12, 31, 23)),
            at(2027, 1, 1, 0) - chrono::Duration::minutes(30)
        );
        assert_eq!(
            next_month_start(at(2026, 12, 5, 1)),
            Utc.with_ymd_and_hms(2027, 1, 1, 0, 0, 0)
                .single()
                .expect("valid")
        );
        assert_eq!(
            next_month_start(at(2026, 2, 28, 1)),
            Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0)
                .single()
                .expect("valid")
        );
    }

    #[test]
    fn a_call_that_fits_every_cap_passes_and_exact_fill_is_allowed() {
        let caps = BudgetCaps {
            site_daily: Some(usd(100)),
            ..Default::default()
        };
        let spent = ScopeSpend {
            site_daily: usd(60),
            ..Default::default()
        };
        assert!(check_caps(&caps, &spent, usd(40), "a", at(2026, 1, 1, 1)).is_ok());
        let refused = check_caps(&caps, &spent, usd(41), "a", at(2026, 1, 1, 1)).expect_err("over");
        assert_eq!(refused.scope, CapScope::SiteDaily);
        assert_eq!(refused.spent, usd(60));
        let text = refused.to_string();
        assert!(text.contains("daily cap of site \"a\" ($1.00)"), "{text}");
        assert!(text.contains("2026-01-02 00:00 UTC"), "{text}");
    }

    #[test]
    fn the_cap_that_blocks_longest_is_reported() {
        let caps = BudgetCaps {
            global_daily: Some(usd(10)),
            global_monthly: Some(usd(10)),
            per_article: None,
            ..Default::default()
        };
        let spent = ScopeSpend {
            global_daily: usd(10),
            global_monthly: usd(10),
            ..Default::default()
        };
        let r = check_caps(&caps, &spent, usd(1), "a", at(2026, 5, 3, 1)).expect_err("over");
        assert_eq!(r.scope, CapScope::GlobalMonthly);
        let caps = BudgetCaps {
            per_article: Some(usd(5)),
            ..caps
        };
        let spent = ScopeSpend {
            article: usd(5),
            ..spent
        };
        let r = check_caps(&caps, &spent, usd(1), "a", at(2026, 5, 3, 1)).expect_err("over");
        assert_eq!((r.scope, r.resets_at), (CapScope::Article, None));
        assert!(r.to_string().contains("cancel the run"), "{r}");
    }

    #[test]
    fn no_caps_means_no_refusal() {
        let spent = ScopeSpend {
            global_daily: Money(i64::MAX),
            ..Default::default()
        };
        assert!(
            check_caps(
                &BudgetCaps::default(),
                &spent,
                Money(i64::MAX),
                "a",
                at(2026, 1, 1, 1)
            )
            .is_ok()
        );
    }
}
