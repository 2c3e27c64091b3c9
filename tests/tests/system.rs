//! System tests across crates, one binary.

mod app_sandbox;
mod domain_examples;
