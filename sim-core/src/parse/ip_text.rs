//! (being written)
pub(crate) mod lex;
