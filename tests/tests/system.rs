//! System tests across crates, one binary.

mod all_platforms;
mod app_sandbox;
mod domain_examples;
mod prop_plan;
mod restated_lines;
mod seed_examples;
