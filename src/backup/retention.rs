//! What pruning keeps: the newest `keep_last`, plus the newest backup of
//! each of the last `keep_daily` days and `keep_weekly` ISO weeks that have
//! one (UTC) — and never the last verified backup: if nothing kept has
//! passed verification, the newest backup that has is kept too. Pure.

use std::collections::BTreeSet;

use chrono::Datelike;

use super::{BackupId, BackupRecord};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    pub keep_last: u32,
    pub keep_daily: u32,
    pub keep_weekly: u32,
}

/// The ids retention does not keep, in no particular order.
pub fn to_delete(backups: &[BackupRecord], policy: &Policy) -> BTreeSet<BackupId> {
    let mut newest_first: Vec<&BackupRecord> = backups.iter().collect();
    newest_first.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(b.id.cmp(&a.id)));
    let mut keep = BTreeSet::new();
    for b in newest_first.iter().take(policy.keep_last.max(1) as usize) {
        keep.insert(b.id);
    }
    let mut days = BTreeSet::new();
    let mut weeks = BTreeSet::new();
    for b in &newest_first {
        let day = b.created_at.date_naive();
        if days.len() < policy.keep_daily as usize && days.insert(day) {
            keep.insert(b.id);
        }
        let week = day.iso_week();
        if weeks.len() < policy.keep_weekly as usize && weeks.insert((week.year(), week.week())) {
            keep.insert(b.id);
        }
    }
    let verified = |b: &&&BackupRecord| b.verify_ok == Some(true);
    if !newest_first
        .iter()
        .filter(|b| keep.contains(&b.id))
        .any(|b| verified(&b))
        && let Some(b) = newest_first.iter().find(|b| verified(b))
    {
        keep.insert(b.id);
    }
    newest_first
        .iter()
        .map(|b| b.id)
        .filter(|id| !keep.contains(id))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backup::BackupKind;
    use chrono::{Duration, TimeZone, Utc};

    fn b(id: i64, hours_ago: i64, verified: Option<bool>) -> BackupRecord {
        let now = Utc
            .with_ymd_and_hms(2026, 11, 5, 12, 0, 0)
            .single()
            .expect("time");
        BackupRecord {
            id,
            kind: BackupKind::Scheduled,
            file_name: format!("b{id}"),
            size_bytes: 1,
            db_size_bytes: None,
            sha256: String::new(),
            schema_version: 5,
            row_counts: Default::default(),
            created_at: now - Duration::hours(hours_ago),
            verified_at: None,
            verify_ok: verified,
            verify_message: None,
            remote_key: None,
            remote_uploaded_at: None,
        }
    }

    const LAST_TWO: Policy = Policy {
        keep_last: 2,
        keep_daily: 0,
        keep_weekly: 0,
    };

    #[test]
    fn keeps_the_newest_n() {
        let all: Vec<_> = (1..=5).map(|i| b(i, 10 - i, None)).collect();
        assert_eq!(to_delete(&all, &LAST_TWO), BTreeSet::from([1, 2, 3]));
    }

    #[test]
    fn keeps_the_newest_of_each_day_and_week() {
        // Two a day for 20 days: ids 2k (morning) and 2k+1 (evening) of day k ago.
        let mut all = Vec::new();
        for day in 0..20 {
            all.push(b(day * 2, day * 24 + 10, None));
            all.push(b(day * 2 + 1, day * 24 + 1, None));
        }
        let p = Policy {
            keep_last: 1,
            keep_daily: 3,
            keep_weekly: 2,
        };
        let deleted = to_delete(&all, &p);
        let kept: BTreeSet<i64> = all
            .iter()
            .map(|r| r.id)
            .filter(|id| !deleted.contains(id))
            .collect();
        // Newest of today, yesterday, the day before (evening ones), and the
        // newest of last ISO week (2026-11-05 is a Thursday: this week's
        // newest is today's; last week's newest is Sunday 2026-11-01, 4 days ago).
        assert_eq!(kept, BTreeSet::from([1, 3, 5, 9]));
    }

    #[test]
    fn never_deletes_the_only_verified_backup() {
        let mut all: Vec<_> = (1..=5).map(|i| b(i, 10 - i, Some(false))).collect();
        all[0].verify_ok = Some(true); // the oldest is the only good one
        let deleted = to_delete(&all, &LAST_TWO);
        assert!(!deleted.contains(&1), "{deleted:?}");
        assert_eq!(deleted, BTreeSet::from([2, 3]));
    }

    #[test]
    fn an_older_verified_backup_goes_once_a_newer_one_is_verified() {
        let mut all: Vec<_> = (1..=5).map(|i| b(i, 10 - i, None)).collect();
        all[0].verify_ok = Some(true);
        all[4].verify_ok = Some(true);
        assert_eq!(to_delete(&all, &LAST_TWO), BTreeSet::from([1, 2, 3]));
    }

    #[test]
    fn keep_last_zero_still_keeps_the_newest() {
        let all: Vec<_> = (1..=3).map(|i| b(i, 10 - i, None)).collect();
        let p = Policy {
            keep_last: 0,
            keep_daily: 0,
            keep_weekly: 0,
        };
        assert_eq!(to_delete(&all, &p), BTreeSet::from([1, 2]));
    }
}
