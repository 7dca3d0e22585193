//! Dates as feeds write them: RFC 3339 / ISO 8601 (Atom, JSON Feed, Dublin
//! Core, and many RSS `pubDate`s) and RFC 822 with the usual liberties —
//! no or a wrong or long weekday, long month names, one-digit hours,
//! two-digit years, `UTC`/`Z`/`-0000` and North American zone names. What
//! does not parse is no date, never an error. Pure.

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};

use crate::domain::lifecycle::Timestamp;

/// Parses a feed date leniently; `None` when nothing sensible is there.
pub fn parse_feed_date(raw: &str) -> Option<Timestamp> {
    let s = raw.trim();
    if s.is_empty() || s.len() > 100 {
        return None;
    }
    iso8601(s).or_else(|| rfc822(s))
}

fn iso8601(s: &str) -> Option<Timestamp> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    // A space instead of the T, a lower-case t or z, a zone without a colon.
    let fixed = s.replacen(' ', "T", 1).replace('t', "T").replace('z', "Z");
    if let Ok(t) = DateTime::parse_from_rfc3339(&fixed) {
        return Some(t.with_timezone(&Utc));
    }
    for fmt in [
        "%Y-%m-%dT%H:%M:%S%.f%z",
        "%Y-%m-%dT%H:%M%:z",
        "%Y-%m-%dT%H:%M%z",
    ] {
        if let Ok(t) = DateTime::parse_from_str(&fixed, fmt) {
            return Some(t.with_timezone(&Utc));
        }
    }
    // No zone: UTC.
    let bare = fixed.trim_end_matches('Z');
    for fmt in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%dT%H:%M"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(bare, fmt) {
            return Some(t.and_utc());
        }
    }
    if s.len() == 10 {
        return NaiveDate::parse_from_str(s, "%Y-%m-%d")
            .ok()
            .and_then(|d| d.and_hms_opt(0, 0, 0))
            .map(|t| t.and_utc());
    }
    None
}

const MONTHS: [&str; 12] = [
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];

/// RFC 822 / 2822 by hand: `[weekday,] day month year hh:mm[:ss] [zone]`,
/// tolerating the variants real feeds use.
fn rfc822(s: &str) -> Option<Timestamp> {
    let cleaned = s.replace(',', " ");
    let mut words: Vec<&str> = cleaned.split_whitespace().collect();
    // Drop a weekday (any language or length), which is redundant anyway.
    if words
        .first()
        .is_some_and(|w| w.chars().all(char::is_alphabetic) && month(w).is_none())
    {
        words.remove(0);
    }
    if words.len() < 3 {
        return None;
    }
    // "Mar 4 2025" (month first) as well as "4 Mar 2025".
    let (day, mon) = match (words[0].parse::<u32>(), month(words[0])) {
        (Ok(d), _) => (d, month(words[1])?),
        (Err(_), Some(m)) => (words[1].parse::<u32>().ok()?, m),
        _ => return None,
    };
    let mut year: i32 = words[2].parse().ok()?;
    if words[2].len() <= 2 {
        year += if year < 50 { 2000 } else { 1900 };
    }
    let (mut h, mut m, mut sec) = (0, 0, 0);
    let mut zone_word = None;
    if let Some(time) = words.get(3) {
        let parts: Vec<&str> = time.split(':').collect();
        if parts.len() < 2 || parts.len() > 3 {
            return None;
        }
        h = parts[0].parse().ok()?;
        m = parts[1].parse().ok()?;
        sec = parts.get(2).map_or(Some(0), |p| p.parse().ok())?;
        zone_word = words.get(4).copied();
        // "02:02:33 PM": a 12-hour clock, the zone after it.
        if let Some(half) =
            zone_word.filter(|w| w.eq_ignore_ascii_case("am") || w.eq_ignore_ascii_case("pm"))
        {
            if h == 0 || h > 12 {
                return None;
            }
            h = h % 12
                + if half.eq_ignore_ascii_case("pm") {
                    12
                } else {
                    0
                };
            zone_word = words.get(5).copied();
        }
    }
    if h == 24 && m == 0 && sec == 0 {
        h = 0;
    }
    let offset_minutes = match zone_word {
        None => 0,
        Some(z) => zone_offset(z)?,
    };
    let date = NaiveDate::from_ymd_opt(year, mon, day)?;
    let local = date.and_hms_opt(h, m, sec.min(59))?;
    local
        .and_utc()
        .checked_sub_signed(chrono::Duration::minutes(i64::from(offset_minutes)))
}

fn month(word: &str) -> Option<u32> {
    let w = word.to_ascii_lowercase();
    let prefix = w.get(..3)?;
    MONTHS
        .iter()
        .position(|m| *m == prefix)
        .map(|i| i as u32 + 1)
}

/// Minutes east of UTC.
fn zone_offset(zone: &str) -> Option<i32> {
    let z = zone.trim_matches(|c| c == '(' || c == ')');
    if let Some(sign) = z.chars().next().filter(|c| *c == '+' || *c == '-') {
        let digits: String = z[1..].chars().filter(|c| *c != ':').collect();
        if digits.len() != 4 || !digits.chars().all(|c| c.is_ascii_digit()) {
            return None;
        }
        let hours: i32 = digits[..2].parse().ok()?;
        let minutes: i32 = digits[2..].parse().ok()?;
        let total = hours * 60 + minutes;
        return Some(if sign == '-' { -total } else { total });
    }
    Some(match z.to_ascii_uppercase().as_str() {
        "GMT" | "UT" | "UTC" | "Z" => 0,
        "EST" => -5 * 60,
        "EDT" => -4 * 60,
        "CST" => -6 * 60,
        "CDT" => -5 * 60,
        "MST" => -7 * 60,
        "MDT" => -6 * 60,
        "PST" => -8 * 60,
        "PDT" => -7 * 60,
        "AKST" => -9 * 60,
        "AKDT" => -8 * 60,
        "HST" => -10 * 60,
        "WET" => 0,
        "WEST" | "BST" | "CET" | "MET" => 60,
        "CEST" | "MEST" | "EET" => 2 * 60,
        "EEST" | "MSK" => 3 * 60,
        "IST" => 5 * 60 + 30,
        "SGT" | "HKT" | "AWST" => 8 * 60,
        "JST" | "KST" => 9 * 60,
        "AEST" => 10 * 60,
        "AEDT" => 11 * 60,
        "NZST" => 12 * 60,
        "NZDT" => 13 * 60,
        // An unknown zone name: the time is kept, read as UTC.
        _ => 0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Option<String> {
        parse_feed_date(s).map(|t| t.to_rfc3339())
    }

    #[test]
    fn rfc822_variants_from_real_feeds() {
        let utc = |s: &str| Some(s.to_string());
        assert_eq!(
            p("Tue, 10 Jun 2025 04:00:00 GMT"),
            utc("2025-06-10T04:00:00+00:00")
        );
        assert_eq!(
            p("10 Jun 2025 06:00:00 +0200"),
            utc("2025-06-10T04:00:00+00:00")
        );
        assert_eq!(
            p("Wed, 02 Oct 2024 08:00:00 EST"),
            utc("2024-10-02T13:00:00+00:00")
        );
        assert_eq!(
            p("Sunday, 02 March 2025 10:00:00 GMT"),
            utc("2025-03-02T10:00:00+00:00")
        );
        assert_eq!(
            p("Mon, 3 Mar 2025 9:05:00 UTC"),
            utc("2025-03-03T09:05:00+00:00")
        );
        assert_eq!(
            p("Fri, 04 Mar 2025 12:00:00 +0000"),
            utc("2025-03-04T12:00:00+00:00")
        );
        assert_eq!(
            p("Wed, 05 Mar 25 12:00:00 +0000"),
            utc("2025-03-05T12:00:00+00:00")
        );
        assert_eq!(
            p("Mar 5 2025 12:00 -0000"),
            utc("2025-03-05T12:00:00+00:00")
        );
        assert_eq!(p("Thu, 05 Mar 2025"), utc("2025-03-05T00:00:00+00:00"));
        assert_eq!(
            p("Sat, Dec 16 2023 02:02:33 PM"),
            utc("2023-12-16T14:02:33+00:00")
        );
        assert_eq!(
            p("Sat, 16 Dec 2023 12:30 AM CET"),
            utc("2023-12-15T23:30:00+00:00")
        );
    }

    #[test]
    fn iso8601_variants() {
        let utc = |s: &str| Some(s.to_string());
        assert_eq!(p("2026-03-01T10:00:00Z"), utc("2026-03-01T10:00:00+00:00"));
        assert_eq!(
            p("2026-03-01T19:20:00.000-08:00"),
            utc("2026-03-02T03:20:00+00:00")
        );
        assert_eq!(p("2026-03-01 10:00:00"), utc("2026-03-01T10:00:00+00:00"));
        assert_eq!(
            p("2026-03-01T10:00:00+0100"),
            utc("2026-03-01T09:00:00+00:00")
        );
        assert_eq!(p("2026-02-27"), utc("2026-02-27T00:00:00+00:00"));
    }

    #[test]
    fn nonsense_is_no_date() {
        for s in [
            "",
            "yesterday",
            "32 Jan 2025 10:00:00 GMT",
            "Mon, 3 Foo 2025",
            "1 Jan 2025 99:00:00 GMT",
            "1 Jan 99999999999 10:00 GMT",
            "Tue, 10 Jun 2025 04:00:00 +99999",
            "31 Dec 262143 23:59:59 -2359",
        ] {
            assert_eq!(p(s), None, "{s}");
        }
    }
}
