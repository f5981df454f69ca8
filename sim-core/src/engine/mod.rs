//! (being written)

pub mod routing;
