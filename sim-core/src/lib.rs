//! sim-core: nfpath's library.
//!
//! The pipeline is `text -> parse -> model -> engine -> trace -> render / check`, one module per
//! arrow. This crate reads no files, no argv, no clock and no environment: callers hand it text
//! and get back values plus diagnostics.

pub mod change;
pub mod diag;
pub mod engine;
pub mod gen;
pub mod lint;
pub mod lint_devices;
pub mod model;
pub mod parse;
pub mod scenario;
pub mod trace;
