//! `order-journal`'s integration tests, built as one test binary (one link instead of one per
//! file).

mod contract;
mod group_commit;
mod journal;
mod messages_blob;
mod postgres;
mod prop_journal;
mod queue;
