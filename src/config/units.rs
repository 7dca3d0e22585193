//! Value types the config parses once: durations ("90s", "1h30m"), byte
//! sizes ("10MiB"); money is `domain::money`; secrets
//! live in `config::secret` (re-exported here for old paths).
//! Nothing downstream sees the raw strings.

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
}
