//! System tests across crates, one binary.

mod domain_examples;
