//! `cargo xtask bench`: build in release mode, run each measurement, print one `name: value`
//! line per figure as it is measured, then a short table. No figure is a pass/fail assertion:
//! the command fails only when a measurement could not run at all.
//!
//! Parts (all by default; `--only a,b` picks some):
//! - `amend`: `cargo bench -p order-bench` (criterion) and the medians it writes to
//!   `target/criterion/amend_<platform>/{full,floor}/new/estimates.json`, giving
//!   `amend_cpu_ratio/<platform>` = full path ÷ floor (see `crates/order-bench`).
//!
//! See `docs/performance.md` for what bounds each figure.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

/// One measured figure.
#[derive(Debug, Clone)]
pub struct Figure {
    /// `snake_case`, optionally `/qualifier`.
    pub name: String,
    /// The value as printed.
    pub value: String,
    /// The issue's target, when it has one.
    pub target: &'static str,
    /// What bounds it / how it was measured, one short phrase.
    pub note: String,
}

impl Figure {
    fn new(name: impl Into<String>, value: impl Into<String>) -> Figure {
        Figure {
            name: name.into(),
            value: value.into(),
            target: "",
            note: String::new(),
        }
    }

    fn target(mut self, t: &'static str) -> Figure {
        self.target = t;
        self
    }

    fn note(mut self, n: impl Into<String>) -> Figure {
        self.note = n.into();
        self
    }
}

/// Which parts to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    Amend,
}

impl Part {
    const ALL: [Part; 1] = [Part::Amend];

    fn name(self) -> &'static str {
        match self {
            Part::Amend => "amend",
        }
    }

    fn parse(s: &str) -> Option<Part> {
        Part::ALL.into_iter().find(|p| p.name() == s)
    }
}

/// Options of `cargo xtask bench`.
#[derive(Debug, Clone)]
pub struct Options {
    pub parts: Vec<Part>,
    /// Criterion's measurement time per benchmark.
    pub measurement: Duration,
}

impl Options {
    /// Parses the arguments after `bench`.
    pub fn parse(args: &[&str]) -> Result<Options, String> {
        let mut parts = Part::ALL.to_vec();
        let mut measurement = Duration::from_secs(3);
        let mut it = args.iter();
        while let Some(a) = it.next() {
            match *a {
                "--only" => {
                    let list = it.next().ok_or("--only needs a list, e.g. --only amend")?;
                    parts = list
                        .split(',')
                        .map(|s| Part::parse(s.trim()).ok_or(format!("unknown part `{s}`")))
                        .collect::<Result<_, _>>()?;
                }
                "--quick" => measurement = Duration::from_secs(1),
                other => return Err(format!("unknown bench option `{other}`")),
            }
        }
        Ok(Options { parts, measurement })
    }
}

/// Runs the selected parts; prints each figure as it comes, then the table.
pub fn run(root: &Path, opts: &Options) -> Result<String, String> {
    let mut figures = Vec::new();
    let mut failures = Vec::new();
    for part in &opts.parts {
        let result = match part {
            Part::Amend => amend(root, opts),
        };
        match result {
            Ok(fs) => {
                for f in &fs {
                    println!("{}: {}", f.name, f.value);
                }
                figures.extend(fs);
            }
            Err(e) => {
                eprintln!("bench part `{}` could not run: {e}", part.name());
                failures.push(part.name());
            }
        }
    }
    let mut out = String::new();
    out.push('\n');
    out.push_str(&table(&figures));
    if failures.is_empty() {
        Ok(out)
    } else {
        print!("{out}");
        Err(format!("parts that could not run: {}", failures.join(", ")))
    }
}

/// The figures as an aligned text table.
pub fn table(figures: &[Figure]) -> String {
    let head = ["figure", "value", "target", "bound / note"];
    let rows: Vec<[&str; 4]> = figures
        .iter()
        .map(|f| [f.name.as_str(), f.value.as_str(), f.target, f.note.as_str()])
        .collect();
    let mut w = [0usize; 4];
    for r in std::iter::once(&head).chain(rows.iter()) {
        for (i, c) in r.iter().enumerate() {
            w[i] = w[i].max(c.chars().count());
        }
    }
    let mut out = String::new();
    let line = |out: &mut String, r: &[&str; 4]| {
        let _ = writeln!(
            out,
            "{:<w0$}  {:>w1$}  {:<w2$}  {}",
            r[0],
            r[1],
            r[2],
            r[3],
            w0 = w[0],
            w1 = w[1],
            w2 = w[2]
        );
    };
    line(&mut out, &head);
    let _ = writeln!(out, "{}", "-".repeat(w[0] + w[1] + w[2] + w[3] + 6));
    for r in &rows {
        line(&mut out, r);
    }
    out
}

/// The cargo that runs us (or `cargo`).
pub fn cargo() -> Command {
    Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
}

/// The target directory: `CARGO_TARGET_DIR` or `<root>/target`.
pub fn target_dir(root: &Path) -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(d) => root.join(d),
        None => root.join("target"),
    }
}

/// Runs `cmd` with its standard output sent to our standard error (progress stays visible;
/// our standard output keeps only figures), failing on a non-zero exit.
pub fn run_quietly(cmd: &mut Command, what: &str) -> Result<(), String> {
    let status = cmd
        .stdout(Stdio::from(std::io::stderr()))
        .status()
        .map_err(|e| format!("cannot start {what}: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{what} failed: {status}"))
    }
}

// ------------------------------------------------------------------------------------- amend

/// Platforms of `crates/order-bench` (its `PLATFORMS`).
const AMEND_PLATFORMS: [&str; 3] = ["wechat_shop", "em_franchiser", "alibaba_icbu"];

fn amend(root: &Path, opts: &Options) -> Result<Vec<Figure>, String> {
    let secs = opts.measurement.as_secs().max(1).to_string();
    run_quietly(
        cargo().current_dir(root).args([
            "bench",
            "-p",
            "order-bench",
            "--bench",
            "amend",
            "--",
            "--warm-up-time",
            "1",
            "--measurement-time",
            &secs,
            "--noplot",
        ]),
        "cargo bench -p order-bench",
    )?;
    let dir = target_dir(root).join("criterion");
    let mut figures = Vec::new();
    let mut worst: Option<(f64, &str)> = None;
    for p in AMEND_PLATFORMS {
        let full = median_ns(&dir.join(format!("amend_{p}/full/new/estimates.json")))?;
        let floor = median_ns(&dir.join(format!("amend_{p}/floor/new/estimates.json")))?;
        let ratio = full / floor;
        if worst.is_none_or(|(r, _)| ratio > r) {
            worst = Some((ratio, p));
        }
        figures.push(
            Figure::new(format!("amend_cpu_ratio/{p}"), format!("{ratio:.2}"))
                .target("<= 2")
                .note(format!("full {full:.0} ns / floor {floor:.0} ns (medians)")),
        );
    }
    if let Some((r, p)) = worst {
        figures.push(
            Figure::new("amend_cpu_ratio", format!("{r:.2}"))
                .target("<= 2")
                .note(format!("worst platform: {p}")),
        );
    }
    Ok(figures)
}

/// The median point estimate (ns) of a criterion `estimates.json`.
pub fn median_ns(path: &Path) -> Result<f64, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    json_number_after(&text, &["\"median\"", "\"point_estimate\""])
        .ok_or_else(|| format!("{} has no median point_estimate", path.display()))
}

/// The number following the last of `keys`, each searched after the previous one. Enough for
/// criterion's fixed `estimates.json` shape without a JSON dependency.
fn json_number_after(text: &str, keys: &[&str]) -> Option<f64> {
    let mut at = 0;
    for k in keys {
        at += text[at..].find(k)? + k.len();
    }
    let rest = text[at..].trim_start().strip_prefix(':')?.trim_start();
    let end = rest
        .find(|c: char| !(c.is_ascii_digit() || matches!(c, '.' | '-' | '+' | 'e' | 'E')))
        .unwrap_or(rest.len());
    rest[..end].parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_criterion_median() {
        let text = r#"{"mean":{"confidence_interval":{"confidence_level":0.95,"lower_bound":1.0,"upper_bound":2.0},"point_estimate":4846.3,"standard_error":3.7},"median":{"confidence_interval":{"confidence_level":0.95,"lower_bound":3821.9,"upper_bound":4333.1},"point_estimate":4184.72,"standard_error":145.5}}"#;
        assert_eq!(
            json_number_after(text, &["\"median\"", "\"point_estimate\""]),
            Some(4184.72)
        );
        assert_eq!(json_number_after(text, &["\"nope\""]), None);
    }

    #[test]
    fn options() {
        let o = Options::parse(&["--only", "amend", "--quick"]).unwrap();
        assert_eq!(o.parts, vec![Part::Amend]);
        assert_eq!(o.measurement, Duration::from_secs(1));
        assert!(Options::parse(&["--only", "nope"]).is_err());
        assert!(Options::parse(&["--bogus"]).is_err());
    }

    #[test]
    fn table_aligns() {
        let t = table(&[Figure::new("a", "1.00").target("<= 2").note("n")]);
        assert!(t.lines().next().unwrap().starts_with("figure"));
        let row = t.lines().nth(2).unwrap();
        assert!(row.starts_with("a ") && row.contains(" 1.00  <= 2") && row.ends_with(" n"));
    }
}
