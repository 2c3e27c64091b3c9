//! `transport-wechat-channels`'s integration tests, built as one test binary (one link instead of one per
//! file).

mod http;
