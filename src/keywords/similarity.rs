//! Lexical similarity between a candidate topic and a title, on stemmed
//! content words: the larger of the overlap coefficient |A∩B| / √(|A|·|B|)
//! and — for candidates of two words or more — the share of the
//! candidate's words the title contains (so "backup strategies" is covered
//! by "Ten backup strategies for small business websites"). 0 to 1. Pure.

use std::collections::BTreeSet;

pub fn similarity(candidate: &BTreeSet<String>, title: &BTreeSet<String>) -> f64 {
    if candidate.is_empty() || title.is_empty() {
        return 0.0;
    }
    let common = candidate.intersection(title).count() as f64;
    let overlap = common / ((candidate.len() * title.len()) as f64).sqrt();
    let contained = if candidate.len() >= 2 {
        common / candidate.len() as f64
    } else {
        0.0
    };
    overlap.max(contained).min(1.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keywords::text::stems;

    fn sim(a: &str, b: &str) -> f64 {
        similarity(&stems(a), &stems(b))
    }

    #[test]
    fn same_words_are_identical_and_disjoint_words_unrelated() {
        assert!((sim("rust sqlite", "Rust and SQLite") - 1.0).abs() < 1e-9);
        assert_eq!(sim("kubernetes", "WordPress caching"), 0.0);
        assert_eq!(sim("", "anything"), 0.0);
    }

    #[test]
    fn a_long_title_covers_a_short_phrase_it_contains() {
        assert!(
            (sim(
                "backup strategies",
                "Ten backup strategies for small business websites"
            ) - 1.0)
                .abs()
                < 1e-9
        );
        let partial = sim("wordpress backup plugins", "WordPress backup strategies");
        assert!((partial - 2.0 / 3.0).abs() < 1e-9, "{partial}");
    }

    #[test]
    fn one_word_needs_a_short_title_to_be_close() {
        let broad = sim("wordpress", "WordPress caching");
        assert!((broad - 1.0 / 2f64.sqrt()).abs() < 1e-9, "{broad}");
        assert!(sim("wordpress", "Self-hosting WordPress on a droplet") <= 0.5);
    }

    #[test]
    fn similarity_is_bounded() {
        for (a, b) in [("a b c", "c"), ("x y", "x y z w"), ("one", "one")] {
            let s = sim(a, b);
            assert!((0.0..=1.0).contains(&s), "{a} / {b}: {s}");
        }
    }
}
