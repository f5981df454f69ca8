//! Test support: real network namespaces and fixtures.
