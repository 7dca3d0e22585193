//! Config errors a person can act on: file, line, key, table, cause and fix,
//! in the form `config.toml:12: unknown key "shedule" in [sites.blog] (did you
//! mean "schedule"?)`. Owns locating spans in the source text; not parsing.

use std::fmt;
use std::ops::Range;

/// One problem in one config file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigIssue {
    /// The file as the operator named it, or "<embedded defaults>".
    pub file: String,
    pub line: Option<usize>,
    /// The key the problem is about, if there is one.
    pub key: Option<String>,
    /// The table holding the key, like `sites.blog`.
    pub table: Option<String>,
    pub message: String,
    /// What to do about it.
    pub fix: Option<String>,
}

impl fmt::Display for ConfigIssue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{line}: {}", self.file, self.message)?,
            None => write!(f, "{}: {}", self.file, self.message)?,
        }
        if let Some(fix) = &self.fix {
            write!(f, " ({fix})")?;
        }
        Ok(())
    }
}

/// Every problem found in a config; validation reports them all at once so
/// the operator fixes the file in one pass.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigError {
    pub issues: Vec<ConfigIssue>,
}

impl ConfigError {
    pub fn single(issue: ConfigIssue) -> Self {
        ConfigError {
            issues: vec![issue],
        }
    }

    /// An error about the file as a whole (not found, unreadable).
    pub fn file(file: &str, message: impl Into<String>, fix: Option<String>) -> Self {
        Self::single(ConfigIssue {
            file: file.to_string(),
            line: None,
            key: None,
            table: None,
            message: message.into(),
            fix,
        })
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, issue) in self.issues.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{issue}")?;
        }
        Ok(())
    }
}

/// Finds line numbers and enclosing tables for byte spans of one source text.
pub struct SourceMap<'a> {
    pub file: &'a str,
    pub text: &'a str,
}

impl SourceMap<'_> {
    /// 1-based line of a byte offset.
    pub fn line_of(&self, offset: usize) -> usize {
        let end = offset.min(self.text.len());
        self.text.as_bytes()[..end]
            .iter()
            .filter(|b| **b == b'\n')
            .count()
            + 1
    }

    /// The `[table]` or `[[array]]` header in force at a byte offset, found by
    /// scanning back for the last header line. Good for the usual layout of a
    /// config file; dotted keys inside a table are reported at that table.
    pub fn table_at(&self, offset: usize) -> Option<String> {
        let end = offset.min(self.text.len());
        let before = &self.text[..floor_char_boundary(self.text, end)];
        before.lines().rev().find_map(|line| {
            let t = line.trim();
            if !t.starts_with('[') {
                return None;
            }
            let inner = t.trim_start_matches('[');
            let close = inner.find(']')?;
            Some(inner[..close].trim().to_string())
        })
    }

    /// An issue located at a span, with key and table filled in.
    pub fn issue(
        &self,
        span: Range<usize>,
        key: &str,
        message: String,
        fix: Option<String>,
    ) -> ConfigIssue {
        ConfigIssue {
            file: self.file.to_string(),
            line: Some(self.line_of(span.start)),
            key: Some(key.to_string()),
            table: self.table_at(span.start),
            message,
            fix,
        }
    }

    /// " in [table]" or "" when at the top level.
    pub fn in_table(&self, offset: usize) -> String {
        match self.table_at(offset) {
            Some(t) => format!(" in [{t}]"),
            None => String::new(),
        }
    }
}

fn floor_char_boundary(s: &str, mut i: usize) -> usize {
    while i > 0 && !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// Turns a toml/serde error into an issue: the line, and for unknown keys a
/// "did you mean" from the keys serde said it expected.
pub fn from_toml_error(map: &SourceMap<'_>, err: &toml::de::Error) -> ConfigIssue {
    let message = err.message().trim().to_string();
    let span = err.span();
    let line = span.as_ref().map(|s| map.line_of(s.start));
    let table = span.as_ref().and_then(|s| map.table_at(s.start));
    let in_table = table
        .as_ref()
        .map(|t| format!(" in [{t}]"))
        .unwrap_or_default();

    if let Some(rest) = message.strip_prefix("unknown field `") {
        let (key, expected_part) = rest.split_once('`').unwrap_or((rest, ""));
        let expected = backticked(expected_part);
        let fix = unknown_key_fix(key, &expected);
        return ConfigIssue {
            file: map.file.to_string(),
            line,
            key: Some(key.to_string()),
            table,
            message: format!("unknown key \"{key}\"{in_table}"),
            fix: Some(fix),
        };
    }
    if let Some(rest) = message.strip_prefix("missing field `") {
        let key = rest.split('`').next().unwrap_or(rest);
        return ConfigIssue {
            file: map.file.to_string(),
            line,
            key: Some(key.to_string()),
            table: table.clone(),
            message: format!("missing required key \"{key}\"{in_table}"),
            fix: Some(format!(
                "add {key} = … to this table; see docs/configuration.md"
            )),
        };
    }
    let key = span.as_ref().and_then(|s| key_on_line(map.text, s.start));
    let fix = if message.starts_with("invalid type") {
        Some("check the value's type against docs/configuration.md (strings need quotes)".into())
    } else {
        Some(
            "see docs/configuration.md; `blog-poster config print-default` shows a valid file"
                .into(),
        )
    };
    ConfigIssue {
        file: map.file.to_string(),
        line,
        key: key.clone(),
        table,
        message: match key {
            Some(k) => format!("key \"{k}\"{in_table}: {message}"),
            None => message,
        },
        fix,
    }
}

/// The key assigned on the line holding `offset`, if that line is `key = …`.
fn key_on_line(text: &str, offset: usize) -> Option<String> {
    let start = text[..floor_char_boundary(text, offset.min(text.len()))]
        .rfind('\n')
        .map_or(0, |i| i + 1);
    let line = text[start..].lines().next()?;
    let (key, _) = line.split_once('=')?;
    let key = key.trim().trim_matches('"');
    (!key.is_empty() && !key.starts_with('[')).then(|| key.to_string())
}

fn backticked(s: &str) -> Vec<String> {
    s.split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_string)
        .collect()
}

/// Secret-looking keys get a pointer to the *_env / *_file form; anything else
/// gets the nearest known key.
fn unknown_key_fix(key: &str, expected: &[String]) -> String {
    let secretish = ["password", "app_password", "api_key", "token", "secret"];
    if secretish.contains(&key) {
        return format!(
            "secrets are never read from the config file: use {key}_env = \"VAR\" or {key}_file = \"/path\""
        );
    }
    match did_you_mean(key, expected) {
        Some(best) => format!("did you mean \"{best}\"?"),
        None if expected.is_empty() => "remove it; see docs/configuration.md".into(),
        None => format!("remove it; known keys here: {}", expected.join(", ")),
    }
}

/// The closest candidate within an edit distance that still looks like a typo.
pub fn did_you_mean<'a>(word: &str, candidates: &'a [String]) -> Option<&'a str> {
    candidates
        .iter()
        .map(|c| (levenshtein(word, c), c))
        .filter(|(d, c)| *d <= (c.len().max(word.len()) / 3).max(1))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c.as_str())
}

fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_and_tables_are_found() {
        let text = "a = 1\n[sites.blog]\nschedule = \"x\"\n\n[[sites.blog.sources]]\nurl = \"u\"\n";
        let map = SourceMap {
            file: "c.toml",
            text,
        };
        let off = text.find("schedule").expect("present");
        assert_eq!(map.line_of(off), 3);
        assert_eq!(map.table_at(off).as_deref(), Some("sites.blog"));
        assert_eq!(
            map.table_at(text.find("url").expect("present")).as_deref(),
            Some("sites.blog.sources")
        );
        assert_eq!(map.table_at(0), None);
    }

    #[test]
    fn did_you_mean_finds_typos_only() {
        let keys: Vec<String> = ["schedule", "timezone", "sources"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(did_you_mean("shedule", &keys), Some("schedule"));
        assert_eq!(did_you_mean("timezon", &keys), Some("timezone"));
        assert_eq!(did_you_mean("banana", &keys), None);
    }

    #[test]
    fn secret_keys_point_to_env_or_file() {
        let fix = unknown_key_fix("app_password", &[]);
        assert!(fix.contains("app_password_env"), "{fix}");
    }
}
