//! Value types the config parses once: durations ("90s", "1h30m"), byte
//! sizes ("10MiB") and money ("$12.50", integer micro-dollars); secrets
//! live in `config::secret` (re-exported here for old paths).
//! Nothing downstream sees the raw strings.

use std::fmt;
use std::time::Duration;

pub use super::secret::Secret;

/// Parses "500ms", "30s", "5m", "1h30m", "2d". A bare number is refused: the
/// unit is what makes a config readable a year later.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let s = text.trim();
    if s.is_empty() {
        return Err("empty duration".into());
    }
    let mut total_ms: u128 = 0;
    let mut rest = s;
    while !rest.is_empty() {
        let digits = rest.chars().take_while(|c| c.is_ascii_digit()).count();
        if digits == 0 {
            return Err(format!("expected a number at \"{rest}\""));
        }
        let (num, tail) = rest.split_at(digits);
        let value: u128 = num
            .parse()
            .map_err(|_| format!("number too large in \"{s}\""))?;
        let unit_len = tail.chars().take_while(|c| c.is_ascii_alphabetic()).count();
        let (unit, tail) = tail.split_at(unit_len);
        let factor_ms: u128 = match unit {
            "ms" => 1,
            "s" => 1_000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            "" => return Err(format!("missing unit after {num} (use ms, s, m, h or d)")),
            other => return Err(format!("unknown unit \"{other}\" (use ms, s, m, h or d)")),
        };
        total_ms = total_ms
            .checked_add(value.saturating_mul(factor_ms))
            .ok_or_else(|| format!("duration \"{s}\" is too large"))?;
        rest = tail.trim_start();
    }
    let ms = u64::try_from(total_ms).map_err(|_| format!("duration \"{s}\" is too large"))?;
    Ok(Duration::from_millis(ms))
}

/// Formats a duration the way the config writes them ("1h30m", "250ms").
pub fn format_duration(d: Duration) -> String {
    let mut ms = d.as_millis();
    if ms == 0 {
        return "0s".into();
    }
    let mut out = String::new();
    for (unit, size) in [
        ("d", 86_400_000u128),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1_000),
        ("ms", 1),
    ] {
        if ms >= size {
            out.push_str(&format!("{}{unit}", ms / size));
            ms %= size;
        }
    }
    out
}

/// Parses a byte size: "10MiB", "512KiB", "1GiB", "2MB", "1500B". Binary
/// (KiB, MiB, GiB) and decimal (KB, MB, GB) units; a bare number is refused
/// like a bare duration.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let s = text.trim();
    let digits = s.chars().take_while(|c| c.is_ascii_digit()).count();
    if digits == 0 {
        return Err(format!("expected a number at the start of \"{s}\""));
    }
    let (num, unit) = s.split_at(digits);
    let value: u64 = num
        .parse()
        .map_err(|_| format!("number too large in \"{s}\""))?;
    let factor: u64 = match unit.trim() {
        "B" => 1,
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        "KB" | "kB" => 1_000,
        "MB" => 1_000_000,
        "GB" => 1_000_000_000,
        "" => return Err(format!("missing unit after {num} (use B, KiB, MiB or GiB)")),
        other => return Err(format!("unknown unit \"{other}\" (use B, KiB, MiB or GiB)")),
    };
    value
        .checked_mul(factor)
        .ok_or_else(|| format!("size \"{s}\" is too large"))
}

/// Formats a byte size the way the config writes them ("10MiB", "1500B").
pub fn format_size(bytes: u64) -> String {
    for (unit, size) in [("GiB", 1u64 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)] {
        if bytes >= size && bytes.is_multiple_of(size) {
            return format!("{}{unit}", bytes / size);
        }
    }
    format!("{bytes}B")
}

/// An amount of US dollars in integer micro-dollars. Money never touches a
/// float: caps and costs add up exactly.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Money(pub i64);

impl Money {
    pub const ZERO: Money = Money(0);

    pub fn from_micros(micros: i64) -> Self {
        Money(micros)
    }

    pub fn micros(self) -> i64 {
        self.0
    }

    /// Parses "$12.50", "12.5", "0.000001" (at most six decimals).
    pub fn parse(text: &str) -> Result<Money, String> {
        let s = text.trim();
        let s = s.strip_prefix('$').unwrap_or(s).trim();
        if s.is_empty() {
            return Err("empty amount".into());
        }
        let (whole, frac) = match s.split_once('.') {
            Some((w, f)) => (w, f),
            None => (s, ""),
        };
        if whole.is_empty() && frac.is_empty() {
            return Err(format!("\"{text}\" is not an amount"));
        }
        if !whole.chars().all(|c| c.is_ascii_digit()) || !frac.chars().all(|c| c.is_ascii_digit()) {
            return Err(format!(
                "\"{text}\" is not an amount (write it like \"$12.50\")"
            ));
        }
        if frac.len() > 6 {
            return Err(format!(
                "\"{text}\" has more than six decimals (the smallest unit is $0.000001)"
            ));
        }
        let whole: i64 = if whole.is_empty() {
            0
        } else {
            whole
                .parse()
                .map_err(|_| format!("\"{text}\" is too large"))?
        };
        let mut frac_micros: i64 = 0;
        for (i, c) in frac.chars().enumerate() {
            let digit = i64::from(c.to_digit(10).unwrap_or(0));
            frac_micros += digit * 10i64.pow(5 - i as u32);
        }
        whole
            .checked_mul(1_000_000)
            .and_then(|w| w.checked_add(frac_micros))
            .map(Money)
            .ok_or_else(|| format!("\"{text}\" is too large"))
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        let abs = self.0.unsigned_abs();
        let whole = abs / 1_000_000;
        let frac = abs % 1_000_000;
        if frac.is_multiple_of(10_000) {
            write!(f, "{sign}${whole}.{:02}", frac / 10_000)
        } else {
            let digits = format!("{frac:06}");
            write!(f, "{sign}${whole}.{}", digits.trim_end_matches('0'))
        }
    }
}

/// Serialized as integer micro-dollars: exact, and what the database stores.
impl serde::Serialize for Money {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_i64(self.0)
    }
}

impl fmt::Debug for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_with_units_and_combinations() {
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("2d"), Ok(Duration::from_secs(172_800)));
        assert_eq!(parse_duration("1m 5s"), Ok(Duration::from_secs(65)));
    }

    #[test]
    fn durations_without_unit_or_with_unknown_unit_are_refused() {
        assert!(parse_duration("30").unwrap_err().contains("missing unit"));
        assert!(
            parse_duration("3w")
                .unwrap_err()
                .contains("unknown unit \"w\"")
        );
        assert!(parse_duration("").is_err());
        assert!(parse_duration("s").is_err());
    }

    #[test]
    fn duration_formatting_round_trips() {
        for text in ["1h30m", "250ms", "2d", "45s", "1d2h3m4s5ms"] {
            let d = parse_duration(text).expect("valid");
            assert_eq!(format_duration(d), text);
        }
    }

    #[test]
    fn sizes_parse_with_binary_and_decimal_units() {
        assert_eq!(parse_size("10MiB"), Ok(10 * 1024 * 1024));
        assert_eq!(parse_size("512 KiB"), Ok(512 * 1024));
        assert_eq!(parse_size("2MB"), Ok(2_000_000));
        assert_eq!(parse_size("1500B"), Ok(1500));
        assert!(parse_size("10").unwrap_err().contains("missing unit"));
        assert!(parse_size("10mb").unwrap_err().contains("unknown unit"));
        assert!(parse_size("MiB").is_err());
        assert!(
            parse_size("99999999999GiB")
                .unwrap_err()
                .contains("too large")
        );
        for text in ["10MiB", "512KiB", "1GiB", "1500B"] {
            assert_eq!(format_size(parse_size(text).expect("valid")), text);
        }
    }

    #[test]
    fn money_parses_to_exact_micros() {
        assert_eq!(Money::parse("$12.50"), Ok(Money(12_500_000)));
        assert_eq!(Money::parse("0.000001"), Ok(Money(1)));
        assert_eq!(Money::parse("3"), Ok(Money(3_000_000)));
        assert_eq!(Money::parse(".5"), Ok(Money(500_000)));
        assert!(Money::parse("1.0000001").is_err());
        assert!(Money::parse("ten").is_err());
        assert!(Money::parse("-1").is_err());
        assert!(Money::parse("$").is_err());
    }

    #[test]
    fn money_displays_cents_or_more_precision() {
        assert_eq!(Money(12_500_000).to_string(), "$12.50");
        assert_eq!(Money(1).to_string(), "$0.000001");
        assert_eq!(Money(1_234_500).to_string(), "$1.2345");
        assert_eq!(Money(-2_000_000).to_string(), "-$2.00");
    }
}
