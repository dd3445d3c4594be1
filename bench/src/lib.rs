//! Shared helpers for the pmipgw benchmarks (input generators live here as they are added).
