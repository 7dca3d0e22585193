//! Words and key phrases: tokens with their stems (Snowball English),
//! English stop words, and candidate phrases — runs of one to three content
//! words that no stop word or punctuation interrupts (RAKE's idea). Pure.

use std::collections::BTreeSet;
use std::sync::OnceLock;

use rust_stemmers::{Algorithm, Stemmer};

/// Longest phrase, in words.
pub const MAX_PHRASE_WORDS: usize = 3;

/// Function words, and words that make titles but not topics.
const STOP_WORDS: &[&str] = &[
    "a",
    "about",
    "above",
    "after",
    "again",
    "against",
    "all",
    "also",
    "am",
    "an",
    "and",
    "any",
    "are",
    "aren't",
    "as",
    "at",
    "be",
    "because",
    "been",
    "before",
    "being",
    "below",
    "between",
    "both",
    "but",
    "by",
    "can",
    "cannot",
    "could",
    "did",
    "do",
    "does",
    "doing",
    "don't",
    "down",
    "during",
    "each",
    "even",
    "ever",
    "every",
    "few",
    "for",
    "from",
    "further",
    "get",
    "gets",
    "getting",
    "got",
    "had",
    "has",
    "have",
    "having",
    "he",
    "her",
    "here",
    "hers",
    "him",
    "his",
    "how",
    "i",
    "if",
    "in",
    "into",
    "is",
    "isn't",
    "it",
    "it's",
    "its",
    "just",
    "let",
    "let's",
    "like",
    "make",
    "makes",
    "many",
    "may",
    "me",
    "might",
    "more",
    "most",
    "much",
    "must",
    "my",
    "need",
    "needs",
    "new",
    "no",
    "nor",
    "not",
    "now",
    "of",
    "off",
    "on",
    "once",
    "one",
    "only",
    "or",
    "other",
    "our",
    "ours",
    "out",
    "over",
    "own",
    "per",
    "really",
    "same",
    "see",
    "she",
    "should",
    "so",
    "some",
    "still",
    "such",
    "than",
    "that",
    "that's",
    "the",
    "their",
    "them",
    "then",
    "there",
    "these",
    "they",
    "this",
    "those",
    "through",
    "to",
    "too",
    "under",
    "until",
    "up",
    "us",
    "use",
    "used",
    "using",
    "very",
    "via",
    "vs",
    "want",
    "was",
    "we",
    "well",
    "were",
    "what",
    "what's",
    "when",
    "where",
    "which",
    "while",
    "who",
    "why",
    "will",
    "with",
    "without",
    "won't",
    "would",
    "yes",
    "yet",
    "you",
    "you're",
    "your",
    "yours",
    "yourself",
    "yourselves",
    "myself",
    "ourselves",
    "themselves",
    "itself",
    "himself",
    "herself",
    // Title filler.
    "best",
    "better",
    "big",
    "complete",
    "easy",
    "everything",
    "good",
    "great",
    "guide",
    "here's",
    "ideas",
    "introducing",
    "announcing",
    "know",
    "part",
    "quick",
    "simple",
    "step",
    "steps",
    "thing",
    "things",
    "tip",
    "tips",
    "today",
    "top",
    "ultimate",
    "way",
    "ways",
    "why",
    "year",
    "years",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "first",
    "last",
    "next",
];

fn stop_words() -> &'static BTreeSet<&'static str> {
    static SET: OnceLock<BTreeSet<&'static str>> = OnceLock::new();
    SET.get_or_init(|| STOP_WORDS.iter().copied().collect())
}

fn stemmer() -> &'static Stemmer {
    static STEMMER: OnceLock<Stemmer> = OnceLock::new();
    STEMMER.get_or_init(|| Stemmer::create(Algorithm::English))
}

pub fn is_stop_word(word: &str) -> bool {
    stop_words().contains(word)
}

/// A word of a text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    /// Lower case.
    pub word: String,
    pub stem: String,
    /// Byte range in the text, for the phrase's surface form.
    pub start: usize,
    pub end: usize,
    /// Stop words and numbers end a phrase.
    pub breaks: bool,
    /// Punctuation (or a line break) came between this token and the one
    /// before it.
    pub after_punctuation: bool,
}

fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || c == '\''
}

/// Splits into words. Hyphens and slashes separate words without ending a
/// phrase ("self-hosting" is "self" "hosting"); other punctuation ends it.
pub fn tokenize(text: &str) -> Vec<Token> {
    let mut tokens = Vec::new();
    let mut punct = false;
    let mut start: Option<usize> = None;
    let push = |tokens: &mut Vec<Token>, s: usize, e: usize, punct: &mut bool| {
        let raw = text[s..e].trim_matches('\'');
        if raw.is_empty() {
            return;
        }
        let word = raw.to_lowercase().replace('\u{2019}', "'");
        let numeric = word.chars().all(|c| c.is_ascii_digit());
        let breaks = numeric || word.chars().count() < 2 || is_stop_word(&word);
        let stem = stemmer().stem(&word).into_owned();
        tokens.push(Token {
            word,
            stem,
            start: s,
            end: e,
            breaks,
            after_punctuation: *punct,
        });
        *punct = false;
    };
    for (i, c) in text.char_indices() {
        if is_word_char(c) || c == '\u{2019}' {
            if start.is_none() {
                start = Some(i);
            }
            continue;
        }
        if let Some(s) = start.take() {
            push(&mut tokens, s, i, &mut punct);
        }
        if !(c == ' ' || c == '\t' || c == '-' || c == '/' || c == '+') {
            punct = true;
        }
    }
    if let Some(s) = start {
        push(&mut tokens, s, text.len(), &mut punct);
    }
    tokens
}

/// A candidate phrase found in a text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Phrase {
    /// Stems joined by spaces: the identity of a candidate.
    pub key: String,
    /// As written, lower case ("self-hosting wordpress").
    pub surface: String,
    pub words: usize,
}

/// Every run of 1..=MAX_PHRASE_WORDS content words, each once per text.
pub fn phrases(text: &str) -> Vec<Phrase> {
    let tokens = tokenize(text);
    let mut out: Vec<Phrase> = Vec::new();
    let mut seen = BTreeSet::new();
    let mut run: Vec<&Token> = Vec::new();
    let mut flush = |run: &mut Vec<&Token>, out: &mut Vec<Phrase>| {
        for i in 0..run.len() {
            for n in 1..=MAX_PHRASE_WORDS.min(run.len() - i) {
                let part = &run[i..i + n];
                let key = part
                    .iter()
                    .map(|t| t.stem.as_str())
                    .collect::<Vec<_>>()
                    .join(" ");
                if seen.insert(key.clone()) {
                    out.push(Phrase {
                        key,
                        surface: text[part[0].start..part[n - 1].end].to_lowercase(),
                        words: n,
                    });
                }
            }
        }
        run.clear();
    };
    for t in &tokens {
        if t.after_punctuation || t.breaks {
            flush(&mut run, &mut out);
        }
        if !t.breaks {
            run.push(t);
        }
    }
    flush(&mut run, &mut out);
    out
}

/// The stems of a text's content words.
pub fn stems(text: &str) -> BTreeSet<String> {
    tokenize(text)
        .into_iter()
        .filter(|t| !t.breaks)
        .map(|t| t.stem)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(text: &str) -> Vec<String> {
        phrases(text).into_iter().map(|p| p.surface).collect()
    }

    #[test]
    fn phrases_stop_at_stop_words_and_punctuation() {
        assert_eq!(
            keys("Self-hosting WordPress on a $6 droplet"),
            [
                "self",
                "self-hosting",
                "self-hosting wordpress",
                "hosting",
                "hosting wordpress",
                "wordpress",
                "droplet"
            ]
        );
        assert_eq!(keys("Backups: why, and how?"), ["backups"]);
        assert!(keys("The 10 best tips for you").is_empty());
    }

    #[test]
    fn stems_join_inflections() {
        assert_eq!(stems("Backups"), stems("backup"));
        assert_eq!(stems("caching"), stems("cache"));
        assert_eq!(
            phrases("WordPress backups")[2].key,
            phrases("wordpress backup")[2].key
        );
    }

    #[test]
    fn apostrophes_and_unicode_words() {
        let t = tokenize("Don’t panic: café's menu");
        let words: Vec<&str> = t.iter().map(|t| t.word.as_str()).collect();
        assert_eq!(words, ["don't", "panic", "café's", "menu"]);
        assert!(t[0].breaks, "don't is a stop word");
        assert!(t[2].after_punctuation);
    }
}
