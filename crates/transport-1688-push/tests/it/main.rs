//! `transport-1688-push`'s integration tests, built as one test binary (one link instead of one per
//! file).

mod decode;
mod prop_decode;
