//! Prices per model and what a call costs. Prices are US dollars per million
//! tokens held as integer micro-dollars; a cost is rounded up to the next
//! micro-dollar, so the sum of recorded costs never undercounts.
//!
//! The defaults are the published list prices of current Anthropic and
//! OpenAI models (November 2026). Prices change: `[prices."MODEL"]` in the
//! config overrides any of them, prices a model that is not listed, or
//! marks a local model free. A model without a price is refused at config
//! time — spending money at an unknown rate would make the caps meaningless.

use serde::Serialize;

use crate::domain::money::Money;

/// One model's price.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Price {
    /// Per million input tokens.
    pub input_per_mtok: Money,
    /// Per million output tokens (thinking tokens are billed as output).
    pub output_per_mtok: Money,
    /// Some models cost more when the prompt is long.
    pub long_context: Option<LongContextPrice>,
}

/// Rates that apply to the whole call when the prompt has more than
/// `above_input_tokens` tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct LongContextPrice {
    pub above_input_tokens: u64,
    pub input_per_mtok: Money,
    pub output_per_mtok: Money,
}

impl Price {
    pub const FREE: Price = Price {
        input_per_mtok: Money::ZERO,
        output_per_mtok: Money::ZERO,
        long_context: None,
    };

    pub fn flat(input_per_mtok: Money, output_per_mtok: Money) -> Price {
        Price {
            input_per_mtok,
            output_per_mtok,
            long_context: None,
        }
    }

    pub fn is_free(&self) -> bool {
        self.input_per_mtok == Money::ZERO
            && self.output_per_mtok == Money::ZERO
            && self.long_context.is_none()
    }

    /// The cost of a call that used these tokens, rounded up.
    pub fn cost(&self, input_tokens: u64, output_tokens: u64) -> Money {
        let (inp, out) = match self.long_context {
            Some(l) if input_tokens > l.above_input_tokens => (l.input_per_mtok, l.output_per_mtok),
            _ => (self.input_per_mtok, self.output_per_mtok),
        };
        let micro_units = i128::from(input_tokens) * i128::from(inp.micros())
            + i128::from(output_tokens) * i128::from(out.micros());
        let micros = (micro_units + 999_999) / 1_000_000;
        Money(i64::try_from(micros).unwrap_or(i64::MAX))
    }
}

/// Dollars and cents per million tokens.
const fn usd(dollars: i64, cents: i64) -> Money {
    Money(dollars * 1_000_000 + cents * 10_000)
}

const fn flat(input: Money, output: Money) -> Price {
    Price {
        input_per_mtok: input,
        output_per_mtok: output,
        long_context: None,
    }
}

/// The built-in list prices, by model id.
pub const DEFAULT_PRICES: &[(&str, Price)] = &[
    // Anthropic
    ("claude-fable-5-1", flat(usd(10, 0), usd(50, 0))),
    ("claude-opus-5-5", flat(usd(4, 0), usd(20, 0))),
    ("claude-opus-5", flat(usd(5, 0), usd(25, 0))),
    ("claude-sonnet-5-5", flat(usd(2, 0), usd(10, 0))),
    ("claude-sonnet-5", flat(usd(2, 0), usd(10, 0))),
    (
        "claude-haiku-5-5",
        Price {
            input_per_mtok: usd(0, 10),
            output_per_mtok: usd(0, 50),
            long_context: Some(LongContextPrice {
                above_input_tokens: 100_000,
                input_per_mtok: usd(0, 50),
                output_per_mtok: usd(2, 50),
            }),
        },
    ),
    ("claude-opus-4-8", flat(usd(5, 0), usd(25, 0))),
    ("claude-opus-4-7", flat(usd(5, 0), usd(25, 0))),
    ("claude-opus-4-6", flat(usd(5, 0), usd(25, 0))),
    ("claude-opus-4-5", flat(usd(5, 0), usd(25, 0))),
    ("claude-opus-4-1", flat(usd(15, 0), usd(75, 0))),
    ("claude-opus-4-0", flat(usd(15, 0), usd(75, 0))),
    ("claude-opus-4", flat(usd(15, 0), usd(75, 0))),
    ("claude-sonnet-4-6", flat(usd(3, 0), usd(15, 0))),
    ("claude-sonnet-4-5", flat(usd(3, 0), usd(15, 0))),
    ("claude-sonnet-4-0", flat(usd(3, 0), usd(15, 0))),
    ("claude-sonnet-4", flat(usd(3, 0), usd(15, 0))),
    ("claude-haiku-4-5", flat(usd(1, 0), usd(5, 0))),
    ("claude-3-5-haiku", flat(usd(0, 80), usd(4, 0))),
    // OpenAI
    ("gpt-5.5-pro", flat(usd(30, 0), usd(180, 0))),
    ("gpt-5.5", flat(usd(5, 0), usd(30, 0))),
    ("gpt-5.4", flat(usd(2, 50), usd(15, 0))),
    ("gpt-5.4-mini", flat(usd(0, 75), usd(4, 50))),
    ("gpt-5.4-nano", flat(usd(0, 20), usd(1, 25))),
    ("gpt-5", flat(usd(1, 25), usd(10, 0))),
    ("gpt-5-mini", flat(usd(0, 25), usd(2, 0))),
    ("gpt-5-nano", flat(Money(50_000), Money(400_000))),
    ("gpt-4.1", flat(usd(2, 0), usd(8, 0))),
    ("gpt-4.1-mini", flat(usd(0, 40), usd(1, 60))),
    ("gpt-4.1-nano", flat(usd(0, 10), usd(0, 40))),
    ("gpt-4o", flat(usd(2, 50), usd(10, 0))),
    ("gpt-4o-mini", flat(Money(150_000), Money(600_000))),
];

/// The built-in price of `model`: an exact id, or a dated snapshot of one
/// ("claude-sonnet-4-5-20250929", "gpt-4o-2024-08-06") or its "-latest"
/// alias. "gpt-4o-mini" never matches "gpt-4o": only a date may follow.
pub fn default_price(model: &str) -> Option<Price> {
    let model = model.trim();
    if let Some((_, p)) = DEFAULT_PRICES.iter().find(|(m, _)| *m == model) {
        return Some(*p);
    }
    DEFAULT_PRICES
        .iter()
        .filter(|(m, _)| {
            model
                .strip_prefix(m)
                .and_then(|rest| rest.strip_prefix('-'))
                .is_some_and(is_snapshot_suffix)
        })
        .max_by_key(|(m, _)| m.len())
        .map(|(_, p)| *p)
}

/// "20250929", "2024-08-06" or "latest".
fn is_snapshot_suffix(s: &str) -> bool {
    let compact = s.len() == 8 && s.chars().all(|c| c.is_ascii_digit());
    let dashed = s.len() == 10
        && s.char_indices().all(|(i, c)| {
            if i == 4 || i == 7 {
                c == '-'
            } else {
                c.is_ascii_digit()
            }
        });
    compact || dashed || s == "latest"
}

/// An upper bound on the tokens a prompt of these texts can take: a token
/// is at least one byte in every tokenizer these providers use, plus a
/// little per message for the chat framing.
pub fn input_token_bound<'a>(texts: impl IntoIterator<Item = &'a str>) -> u64 {
    let mut total: u64 = 16;
    for t in texts {
        total = total.saturating_add(t.len() as u64).saturating_add(8);
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cost_is_tokens_times_price_rounded_up() {
        let p = Price::flat(usd(3, 0), usd(15, 0));
        assert_eq!(p.cost(1_000_000, 0), usd(3, 0));
        assert_eq!(p.cost(1234, 567), Money(1234 * 3 + 567 * 15));
        let cheap = Price::flat(usd(0, 10), usd(0, 50));
        // 1 token at $0.10/M is 0.1 micro-dollars: rounded up to 1.
        assert_eq!(cheap.cost(1, 0), Money(1));
        assert_eq!(cheap.cost(10, 0), Money(1));
        assert_eq!(cheap.cost(11, 0), Money(2));
        assert_eq!(Price::FREE.cost(5_000_000, 5_000_000), Money::ZERO);
    }

    #[test]
    fn long_prompts_use_the_long_context_rate() {
        let haiku = default_price("claude-haiku-5-5").expect("priced");
        assert_eq!(haiku.cost(100_000, 1_000_000), Money(10_000 + 500_000));
        assert_eq!(
            haiku.cost(100_001, 0),
            Money((100_001 * 500_000 + 999_999) / 1_000_000)
        );
    }

    #[test]
    fn snapshots_match_their_model_and_nothing_else() {
        let sonnet = default_price("claude-sonnet-4-5").expect("priced");
        assert_eq!(default_price("claude-sonnet-4-5-20250929"), Some(sonnet));
        assert_eq!(default_price("gpt-4o-2024-08-06"), default_price("gpt-4o"));
        assert_ne!(default_price("gpt-4o-mini"), default_price("gpt-4o"));
        assert_eq!(
            default_price("claude-opus-4-20250514"),
            default_price("claude-opus-4")
        );
        // "claude-opus-4-1" is its own model, not a snapshot of claude-opus-4.
        assert_eq!(
            default_price("claude-opus-4-1").map(|p| p.input_per_mtok),
            Some(usd(15, 0))
        );
        assert_eq!(default_price("llama3.1:8b"), None);
        assert_eq!(default_price("gpt-4o-nonsense"), None);
    }

    #[test]
    fn the_token_bound_is_at_least_the_byte_count() {
        let text = "héllo wörld";
        assert!(input_token_bound([text]) >= text.len() as u64);
    }
}
