//! Project automation for ordermod, run as `cargo xtask <command>`.
//!
//! Commands:
//! - `codegen`: regenerate `crates/transport-*/src/generated/` from the tables in
//!   `docs/platforms/*.md`;
//! - `codegen --check`: regenerate in memory and fail when a file on disk is stale or missing;
//! - `bench`: release-mode measurements, one `name: value` line per figure and a table
//!   (`docs/performance.md`);
//! - `chaos`: SIGKILL-and-resume and transient-fault runs with an exactly-once check;
//!   `chaos --workers N`: the same check over N queue workers on PostgreSQL, killed and
//!   restarted (`scale.rs`, which also holds `bench --only scale`);
//! - `tidy`: the architecture invariants that `cargo metadata` can show (also a `#[test]`).
// The benchmark runner computes ratios and rates of timings (never money) in `f64`.
#![allow(clippy::float_arithmetic, clippy::cast_precision_loss)]

mod bench;
mod chaos;
mod codegen;
mod render;
mod scale;
mod table;
mod tidy;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

const USAGE: &str = "\
usage: cargo xtask <command>

commands:
  codegen            regenerate crates/transport-*/src/generated/ from docs/platforms/*.md
  codegen --check    fail if any generated file is stale or missing (writes nothing)
  bench [--only PARTS] [--quick]
                     release-mode benchmarks; prints `name: value` per figure and a table
                     (parts: amend, rate, intake, batch, scale)
  chaos [--seed N] [--kills N] [--workers N]
                     SIGKILL `ordermod apply` at seeded moments and resume, check exactly-once
                     on the emulators; then a run with 10% transient faults. With --workers N:
                     N `ordermod worker` processes drain a PostgreSQL queue while a seeded one
                     of them is SIGKILLed and restarted --kills times
  tidy               check the architecture invariants 1, 4 and 6 on `cargo metadata`
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    match args.as_slice() {
        ["codegen"] => finish(codegen::run(&workspace_root(), codegen::Mode::Write)),
        ["codegen", "--check"] => finish(codegen::run(&workspace_root(), codegen::Mode::Check)),
        ["bench", rest @ ..] => match bench::Options::parse(rest) {
            Ok(opts) => finish(bench::run(&workspace_root(), &opts)),
            Err(e) => {
                eprint!("error: {e}\n\n{USAGE}");
                ExitCode::from(2)
            }
        },
        ["tidy"] => finish(tidy::run(&workspace_root())),
        ["chaos", rest @ ..] => match chaos::Options::parse(rest) {
            Ok(opts) => finish(chaos::run(&workspace_root(), &opts)),
            Err(e) => {
                eprint!("error: {e}\n\n{USAGE}");
                ExitCode::from(2)
            }
        },
        [] | ["help" | "--help" | "-h"] => {
            print!("{USAGE}");
            ExitCode::SUCCESS
        }
        _ => {
            eprint!(
                "error: unrecognised arguments: {}\n\n{USAGE}",
                args.join(" ")
            );
            ExitCode::from(2)
        }
    }
}

fn finish(result: Result<String, String>) -> ExitCode {
    match result {
        Ok(summary) => {
            print!("{summary}");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("{error}");
            ExitCode::FAILURE
        }
    }
}

/// The workspace root: the parent of this crate's manifest directory.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives one level below the workspace root")
        .to_path_buf()
}
