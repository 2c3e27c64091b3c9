//! Cross-crate system tests for ordermod live in `tests/system.rs` (one binary, many modules).
