//! Scenarios: cluster files (interface.md §2), flow files with expectations (§3), and the check
//! of an engine answer against them. Parsing reports file:line:column for every problem.

pub mod check;
pub mod cluster;
pub mod diff;
pub mod files;
pub mod generate;
pub mod junit;
pub mod runner;
pub mod world;

pub use check::{check_flow, Failure};
pub use files::*;
