//! The writing and checking logic of the content stages, without IO:
//! prompts, the parser for the model's article and metadata, link audits,
//! the deterministic checks, the fact-check answer and the score and gate.
//! The stages in `pipeline::generate` / `pipeline::check` wire these to the
//! store and the LLM service.

pub mod checks;
pub mod delimiters;
pub mod draft;
pub mod gate;
pub mod links;
pub mod markdown;
pub mod prompts;
