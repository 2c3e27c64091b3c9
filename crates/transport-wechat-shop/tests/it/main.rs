//! `transport-wechat-shop`'s integration tests, built as one test binary (one link instead of one per
//! file).

mod http;
mod prop_emulator;
mod read;
