//! Keyword text, pure and shared: tokenizing, stemming and key-phrase
//! extraction ([`text`]) and how close two keywords are ([`similarity`]).
//! Topic selection scores with it and the store's topic reservation
//! compares with it; it imports nothing of the crate.

pub mod similarity;
pub mod text;

#[cfg(test)]
mod proptests {
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn keyword_text_functions_survive_any_text(text in "\\PC{0,200}") {
            let _ = super::text::phrases(&text);
            let s = super::text::stems(&text);
            let sim = super::similarity::similarity(&s, &super::text::stems("backup strategies"));
            prop_assert!((0.0..=1.0).contains(&sim));
        }
    }
}
