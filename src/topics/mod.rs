//! Topic selection (placeholder while building).
