//! Money: integer micro-dollars, parsed from "$12.50" once (by the config)
//! and shown as dollars. Costs, caps and reservations add up exactly.

use std::fmt;

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
