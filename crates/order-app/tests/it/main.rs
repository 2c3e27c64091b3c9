//! `order-app`'s integration tests, built as one test binary (one link instead of one per
//! file).

mod channels;
mod cli;
mod journal_view;
mod reads;
mod replicas;
mod serve;
mod support;
mod worker;
