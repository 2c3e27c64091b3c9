//! `cargo xtask bench`: build in release mode, run each measurement, print one `name: value`
//! line per figure as it is measured, then a short table. No figure is a pass/fail assertion:
//! the command fails only when a measurement could not run at all.
//!
//! Parts (all by default; `--only a,b` picks some):
//! - `amend`: `cargo bench -p order-bench` (criterion, the `full` benchmarks only) and the
//!   medians it writes to `target/criterion/amend_<platform>/full/new/estimates.json`, giving
//!   `client_us/<platform>`, the client's CPU per amendment in microseconds (informational;
//!   `amend_cpu_ratio` is retired, see `docs/performance.md`).
//! - `rate`: `ordermod apply` (release) on a batch for ten shops (WeChat Shop, WeChat
//!   Channels, EM, ICBU and the 1688 open platform, two shops each, each its own credential)
//!   against `ordermod sandbox`, whose emulators enforce
//!   per-credential quotas equal to the config's `rate_limit_per_second`: `rate_use` = accepted
//!   requests per second ÷ the sum of the quotas, `rate_rejections` = the emulators'
//!   `rate_limited` count.
//! - `intake`: `intake-load` (a loopback load generator in `crates/order-bench`) posts
//!   signed 1688 price-modified messages for 5 s at 16 connections to `ordermod serve
//!   --sandbox` with its journal in a fresh SQLite file, then on a fresh database of a durable
//!   throwaway PostgreSQL cluster (`pg-throwaway`), then to a bare axum handler in a process of
//!   its own that reads the whole body (`intake-load --serve-bare`); three repetitions, the
//!   sides taking turns in each. `intake_per_s` and p50/p99 (median run), `intake_vs_bare` (the
//!   median of the repetitions' serve ÷ bare throughput), CPU per message of the server and of
//!   the generator, and the same with `/postgres`; each repetition is printed.
//! - `batch`: deterministic batches of 10k and 100k amendments (all six platforms, 200 shops
//!   each, so the per-credential quotas of 10–20/s never bind) through
//!   `ordermod apply` against `ordermod sandbox`: `batch_100k_rss_mib` (peak RSS of the apply
//!   process, `/usr/bin/time -v` or `/proc/<pid>/status` VmHWM) and `batch_scaling` = wall time
//!   per amendment at 100k ÷ at 10k. Then `batch_vs_bare`: the requests of the 100k batch,
//!   recorded in one more (unmeasured) apply run by `bare-send record`, are sent again by
//!   `bare-send replay` to a fresh sandbox, 64 in flight; the figure is apply's requests per
//!   second ÷ the bare client's. `--quick` uses 2k and 10k amendments.
//! - `scale`: 1, 2 and 4 `ordermod worker` processes draining a PostgreSQL queue of over
//!   20,000 amendments for 40 shops (`crate::scale`): `scale_per_s/N`, `scale_rate_use/N`,
//!   `scale_rate_rejections/N`, `scale_lost/N`, `scale_doubled/N`.
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
    pub fn new(name: impl Into<String>, value: impl Into<String>) -> Figure {
        Figure {
            name: name.into(),
            value: value.into(),
            target: "",
            note: String::new(),
        }
    }

    pub fn target(mut self, t: &'static str) -> Figure {
        self.target = t;
        self
    }

    pub fn note(mut self, n: impl Into<String>) -> Figure {
        self.note = n.into();
        self
    }
}

/// Which parts to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    Amend,
    Rate,
    Intake,
    Batch,
    Scale,
}

impl Part {
    const ALL: [Part; 5] = [
        Part::Amend,
        Part::Rate,
        Part::Intake,
        Part::Batch,
        Part::Scale,
    ];

    fn name(self) -> &'static str {
        match self {
            Part::Amend => "amend",
            Part::Rate => "rate",
            Part::Intake => "intake",
            Part::Batch => "batch",
            Part::Scale => "scale",
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
    /// `--quick`: 1 s per criterion benchmark and batches of 2k and 10k amendments instead
    /// of 10k and 100k, so a run stays short on a shared machine.
    pub quick: bool,
}

impl Options {
    /// Parses the arguments after `bench`.
    pub fn parse(args: &[&str]) -> Result<Options, String> {
        let mut parts = Part::ALL.to_vec();
        let mut measurement = Duration::from_secs(3);
        let mut quick = false;
        let mut it = args.iter();
        while let Some(a) = it.next() {
            match *a {
                "--only" => {
                    let list = it
                        .next()
                        .ok_or("--only needs a list, e.g. --only amend,rate")?;
                    parts = list
                        .split(',')
                        .map(|s| Part::parse(s.trim()).ok_or(format!("unknown part `{s}`")))
                        .collect::<Result<_, _>>()?;
                }
                "--quick" => {
                    measurement = Duration::from_secs(1);
                    quick = true;
                }
                other => return Err(format!("unknown bench option `{other}`")),
            }
        }
        Ok(Options {
            parts,
            measurement,
            quick,
        })
    }
}

/// Runs the selected parts; prints each figure as it comes, then the table.
pub fn run(root: &Path, opts: &Options) -> Result<String, String> {
    let mut figures = Vec::new();
    let mut failures = Vec::new();
    for part in &opts.parts {
        let result = match part {
            Part::Amend => amend(root, opts),
            Part::Rate => rate(root),
            Part::Intake => intake(root),
            Part::Batch => batch(root, opts),
            Part::Scale => crate::scale::bench(root),
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

// -------------------------------------------------------------------------------------- rate

/// The example shops' prefixes (`<prefix>-main` in `ordermod gen-examples`) of every platform:
/// WeChat Shop, vv-tool, EM, ICBU, WeChat Channels (`channels-`), 1688 open platform (`1688-`).
pub const BATCH_PLATFORMS: [&str; 6] = ["wechat", "vvtool", "em", "icbu", "channels", "1688"];

fn rate(root: &Path) -> Result<Vec<Figure>, String> {
    use crate::chaos::{
        BatchShape, Sandbox, build_ordermod, scratch, wait_deadline, write_batch_of,
    };
    let ordermod = build_ordermod(root)?;
    let dir = scratch(root, "bench-rate")?;
    let batch = write_batch_of(
        &ordermod,
        &dir,
        BatchShape {
            per_platform: 1250,
            shops_per_platform: 2,
            with_vvtool: false,
            only_plannable: true,
        },
        &BATCH_PLATFORMS,
    )?;
    let sb = Sandbox::start(&ordermod, &batch, 1, &dir)?;
    let report = dir.join("report.json");
    let started = std::time::Instant::now();
    let mut child = sb
        .apply(&ordermod, &batch, &dir.join("journal.db"))
        .arg("--report")
        .arg(&report)
        .stdout(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start ordermod apply: {e}"))?;
    let status = wait_deadline(&mut child, Duration::from_secs(240))?;
    let secs = started.elapsed().as_secs_f64();
    if status.code() == Some(2) {
        return Err(format!("ordermod apply failed: {status}"));
    }
    let total = sb.stat_sum("total_requests")?;
    let limited = sb.stat_sum("rate_limited")?;
    let accepted = total - limited;
    let per_s = accepted as f64 / secs;
    let quota = sb.quota_sum.max(1);
    // The credentials' quotas differ (10 to 20/s) while every shop gets the same number of
    // lines, so the run lasts as long as the slowest credential needs: the least time at
    // full quota use is the largest lines ÷ quota over the shops.
    let config = std::fs::read_to_string(&sb.config).map_err(|e| e.to_string())?;
    let lines = std::fs::read_to_string(&batch).map_err(|e| e.to_string())?;
    let least = least_seconds(&config, &lines);
    Ok(vec![
        Figure::new("rate_use", format!("{:.3}", least / secs))
            .target(">= 0.97")
            .note(format!(
                "{accepted} requests in {secs:.1} s = {per_s:.1}/s vs quotas {quota}/s over {} \
                 shops; {least:.1} s at full quota for the slowest credential",
                sb.shops
            )),
        Figure::new("rate_rejections", limited.to_string())
            .target("0")
            .note("emulators' rate_limited replies"),
    ])
}

/// The least time (s) a batch can take when each shop of `config` sends its lines of `batch`
/// at its `rate_limit_per_second`: the largest lines ÷ quota over the shops the batch names.
pub fn least_seconds(config: &str, batch: &str) -> f64 {
    let mut quota = std::collections::BTreeMap::new();
    let mut current = "";
    for l in config.lines() {
        if let Some(id) = l.strip_prefix("id = ") {
            current = id.trim_matches('"');
        } else if let Some(r) = l.strip_prefix("rate_limit_per_second = ")
            && let Ok(r) = r.trim().parse::<f64>()
        {
            quota.insert(current, r);
        }
    }
    let mut lines = std::collections::BTreeMap::<&str, f64>::new();
    for l in batch.lines() {
        if let Some(shop) = l
            .split("\"shop\":\"")
            .nth(1)
            .and_then(|r| r.split('"').next())
        {
            *lines.entry(shop).or_default() += 1.0;
        }
    }
    lines
        .iter()
        .filter_map(|(shop, n)| Some(n / quota.get(shop).filter(|q| **q > 0.0)?))
        .fold(0.0, f64::max)
}

// ------------------------------------------------------------------------------------ intake

/// How long each intake load run lasts, and the request cap (high enough that the time bound
/// ends every run, so each side is loaded for the same several seconds).
const INTAKE_SECONDS: u64 = 5;
const INTAKE_REQUESTS: u64 = 10_000_000;
const INTAKE_CONCURRENCY: u64 = 16;
/// Repetitions of each side; the figures are medians, the repetitions are printed.
const INTAKE_REPS: usize = 3;

type LoadFigures = std::collections::BTreeMap<String, f64>;

/// `name: value` lines of `intake-load`'s output.
fn load_figures(out: &str) -> LoadFigures {
    out.lines()
        .filter_map(|l| l.split_once(": "))
        .filter_map(|(k, v)| Some((k.to_owned(), v.trim().parse().ok()?)))
        .collect()
}

/// User + system CPU time of process `pid` in microseconds (`/proc/PID/stat`, clock ticks of
/// 1/100 s), or 0 where it cannot be read.
fn process_cpu_us(pid: u32) -> f64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0.0;
    };
    let Some((_, rest)) = stat.rsplit_once(')') else {
        return 0.0;
    };
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) * 10_000.0
}

/// Loads `url` with the common settings; the loader's figures plus `server_cpu_us`, the CPU
/// time the server process `server` spent during the load.
fn run_load(loader: &Path, url: &str, server: u32) -> Result<LoadFigures, String> {
    let cpu_before = process_cpu_us(server);
    let out = Command::new(loader)
        .args([
            "--url",
            url,
            "--requests",
            &INTAKE_REQUESTS.to_string(),
            "--seconds",
            &INTAKE_SECONDS.to_string(),
            "--concurrency",
            &INTAKE_CONCURRENCY.to_string(),
        ])
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run intake-load: {e}"))?;
    let cpu_after = process_cpu_us(server);
    if !out.status.success() {
        return Err(format!(
            "intake-load failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let mut figures = load_figures(&String::from_utf8_lossy(&out.stdout));
    figures.insert("server_cpu_us".to_owned(), cpu_after - cpu_before);
    Ok(figures)
}

/// Starts `command` (a server that prints `receiving on URL`), loads it, and stops it.
fn load_server(mut command: Command, loader: &Path) -> Result<LoadFigures, String> {
    use std::io::BufRead as _;
    let mut server = command
        .stdout(Stdio::piped())
        .stdin(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start {command:?}: {e}"))?;
    let stdout = server.stdout.take().ok_or("no stdout")?;
    let mut lines = std::io::BufReader::new(stdout).lines();
    let url = loop {
        match lines.next() {
            Some(Ok(l)) => {
                if let Some(u) = l.strip_prefix("receiving on ") {
                    break u.trim().to_owned();
                }
            }
            _ => {
                let _ = server.kill();
                let _ = server.wait();
                return Err(format!("{command:?} ended before it listened"));
            }
        }
    };
    std::thread::spawn(move || for _ in lines {});
    let loaded = run_load(loader, &url, server.id());
    let _ = server.kill();
    let _ = server.wait();
    loaded
}

fn serve_command(ordermod: &Path, journal: &str) -> Command {
    let mut c = Command::new(ordermod);
    c.args([
        "serve",
        "--sandbox",
        "--listen",
        "127.0.0.1:0",
        "--journal",
        journal,
    ]);
    c
}

/// A durable throwaway PostgreSQL cluster (`fsync` and `synchronous_commit` on), with a
/// failure to start turned into an error.
fn durable_cluster() -> Result<pg_throwaway::Cluster, String> {
    std::panic::catch_unwind(|| pg_throwaway::Cluster::start(pg_throwaway::Options::DURABLE))
        .map_err(|p| {
            p.downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                .unwrap_or_else(|| "cannot start a PostgreSQL cluster".to_owned())
        })
}

/// Answered messages per second of one run.
fn load_rate(m: &LoadFigures) -> f64 {
    let n = m.get("requests").copied().unwrap_or(0.0) - m.get("errors").copied().unwrap_or(0.0);
    n / (m.get("elapsed_us").copied().unwrap_or(1.0) / 1e6)
}

/// The median of `values` (the middle one; of an even count, the upper middle).
fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}

/// The run of `runs` with the median rate.
fn median_run(runs: &[LoadFigures]) -> &LoadFigures {
    let m = median(&runs.iter().map(load_rate).collect::<Vec<_>>());
    runs.iter()
        .find(|r| load_rate(r).total_cmp(&m).is_eq())
        .or(runs.first())
        .expect("at least one run")
}

/// Figures of one side (`suffix`: `""`, `/postgres` or `_bare`): the median rate with the
/// repetitions in its note, p50/p99 of the median run, and CPU per message of the server and
/// of the generator over all repetitions.
fn side_figures(name: &str, backend: &str, runs: &[LoadFigures]) -> Vec<Figure> {
    let rates: Vec<f64> = runs.iter().map(load_rate).collect();
    let mid = median_run(runs);
    let ms = |k: &str| format!("{:.2}", mid.get(k).copied().unwrap_or(0.0) / 1000.0);
    let total = |k: &str| {
        runs.iter()
            .map(|r| r.get(k).copied().unwrap_or(0.0))
            .sum::<f64>()
    };
    let answered = (total("requests") - total("errors")).max(1.0);
    let reps = rates
        .iter()
        .map(|r| format!("{r:.0}"))
        .collect::<Vec<_>>()
        .join(", ");
    vec![
        Figure::new(
            name.replace("{}", "per_s"),
            format!("{:.0}", median(&rates)),
        )
        .note(format!(
            "median of {} runs of {INTAKE_SECONDS} s at {INTAKE_CONCURRENCY} connections \
             ({reps}/s; {} errors), {backend}",
            runs.len(),
            total("errors")
        )),
        Figure::new(name.replace("{}", "p50_ms"), ms("p50_us")),
        Figure::new(name.replace("{}", "p99_ms"), ms("p99_us")),
        Figure::new(
            name.replace("{}", "server_cpu_us_per_msg"),
            format!("{:.1}", total("server_cpu_us") / answered),
        )
        .note("user + system CPU of the serving process ÷ answered messages"),
        Figure::new(
            name.replace("{}", "loader_cpu_us_per_msg"),
            format!("{:.1}", total("cpu_us") / answered),
        )
        .note("the load generator's own CPU ÷ answered messages"),
    ]
}

fn intake(root: &Path) -> Result<Vec<Figure>, String> {
    let ordermod = crate::chaos::build_ordermod(root)?;
    run_quietly(
        cargo().current_dir(root).args([
            "build",
            "--release",
            "-p",
            "order-bench",
            "--bin",
            "intake-load",
        ]),
        "cargo build --release -p order-bench --bin intake-load",
    )?;
    let loader = target_dir(root).join("release").join("intake-load");
    let dir = crate::chaos::scratch(root, "bench-intake")?;
    let cluster = durable_cluster()?;
    // The sides take turns in each repetition, so a change in the machine's load touches all
    // three alike; each run gets a fresh journal.
    let (mut sqlite, mut postgres, mut bare) = (Vec::new(), Vec::new(), Vec::new());
    for rep in 0..INTAKE_REPS {
        let db = format!("sqlite://{}", dir.join(format!("serve-{rep}.db")).display());
        sqlite.push(load_server(serve_command(&ordermod, &db), &loader)?);
        postgres.push(load_server(
            serve_command(&ordermod, &cluster.fresh_database()),
            &loader,
        )?);
        let mut bare_cmd = Command::new(&loader);
        bare_cmd.arg("--serve-bare");
        bare.push(load_server(bare_cmd, &loader)?);
        eprintln!(
            "intake repetition {}: SQLite {:.0}/s, PostgreSQL {:.0}/s, bare {:.0}/s",
            rep + 1,
            sqlite.last().map_or(0.0, load_rate),
            postgres.last().map_or(0.0, load_rate),
            bare.last().map_or(0.0, load_rate),
        );
    }
    drop(cluster);
    let mut figures = Vec::new();
    for (suffix, served, backend) in [
        ("", &sqlite, "journal on a SQLite file"),
        ("/postgres", &postgres, "journal on durable PostgreSQL"),
    ] {
        let ratios: Vec<f64> = served
            .iter()
            .zip(&bare)
            .map(|(s, b)| load_rate(s) / load_rate(b).max(1.0))
            .collect();
        let shown = ratios
            .iter()
            .map(|r| format!("{r:.3}"))
            .collect::<Vec<_>>()
            .join(", ");
        let mut side = side_figures(&format!("intake_{{}}{suffix}"), backend, served);
        side.insert(
            3,
            Figure::new(
                format!("intake_vs_bare{suffix}"),
                format!("{:.3}", median(&ratios)),
            )
            .target(">= 0.5")
            .note(format!("median of the repetitions' serve ÷ bare ({shown})")),
        );
        figures.extend(side);
    }
    figures.extend(side_figures(
        "intake_bare_{}",
        "bare axum handler that reads the body",
        &bare,
    ));
    Ok(figures)
}

// ------------------------------------------------------------------------------------- batch

/// One measured `ordermod apply` run of `per_platform × 6` lines.
struct BatchRun {
    lines: usize,
    secs: f64,
    rss_kib: u64,
    requests: u64,
    /// The batch file, for the bare client's run of the same requests.
    batch: PathBuf,
}

fn batch_run(ordermod: &Path, root: &Path, per_platform: usize) -> Result<BatchRun, String> {
    use crate::chaos::{BatchShape, Sandbox, scratch, wait_deadline, write_batch_of};
    let dir = scratch(root, &format!("bench-batch-{per_platform}"))?;
    let batch = write_batch_of(
        ordermod,
        &dir,
        BatchShape {
            per_platform,
            shops_per_platform: 200,
            with_vvtool: true,
            only_plannable: false,
        },
        &BATCH_PLATFORMS,
    )?;
    let lines = std::fs::read_to_string(&batch)
        .map_err(|e| e.to_string())?
        .lines()
        .count();
    let sb = Sandbox::start(ordermod, &batch, 1, &dir)?;
    let time = Path::new("/usr/bin/time");
    let time_out = dir.join("time.txt");
    let mut cmd = if time.is_file() {
        let mut c = Command::new(time);
        c.arg("-v").arg("-o").arg(&time_out).arg(ordermod);
        let inner = sb.apply(ordermod, &batch, &dir.join("journal.db"));
        c.args(inner.get_args());
        c.envs(sb.env.iter().map(|(k, v)| (k, v)));
        c
    } else {
        sb.apply(ordermod, &batch, &dir.join("journal.db"))
    };
    let started = std::time::Instant::now();
    let mut child = cmd
        .stdout(Stdio::null())
        .stdin(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start ordermod apply: {e}"))?;
    // VmHWM of the child, polled, for machines without /usr/bin/time.
    let mut hwm = 0u64;
    let status = loop {
        if let Some(st) = child.try_wait().map_err(|e| e.to_string())? {
            break st;
        }
        if let Ok(text) = std::fs::read_to_string(format!("/proc/{}/status", child.id())) {
            hwm = hwm.max(proc_kib(&text, "VmHWM:").unwrap_or(0));
        }
        if started.elapsed() > Duration::from_secs(600) {
            let _ = wait_deadline(&mut child, Duration::ZERO);
            return Err("ordermod apply took over 600 s".into());
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let secs = started.elapsed().as_secs_f64();
    if status.code() == Some(2) {
        return Err(format!("ordermod apply failed: {status}"));
    }
    if let Ok(text) = std::fs::read_to_string(&time_out) {
        hwm = text
            .lines()
            .find_map(|l| l.trim().strip_prefix("Maximum resident set size (kbytes):"))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(hwm);
    }
    Ok(BatchRun {
        lines,
        secs,
        rss_kib: hwm,
        requests: sb.stat_sum("total_requests")?,
        batch,
    })
}

/// `VmHWM:   1234 kB` → 1234.
fn proc_kib(status: &str, key: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|l| l.strip_prefix(key))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// `ordermod apply`'s default `--concurrency`, which the bare client matches.
const APPLY_CONCURRENCY: usize = 64;

/// The bare client's run: requests sent, errors, seconds of sending.
struct BareRun {
    requests: u64,
    errors: u64,
    tokens: u64,
    secs: f64,
    /// Replayed requests the emulators refused for their quota (the bare client has no
    /// limiter; with 200 shops a platform this should be 0).
    rate_limited: u64,
}

/// Records the HTTP requests `ordermod apply` sends for `batch` (an unmeasured run through
/// `bare-send record`, a proxy in front of each emulator), then sends the same requests with
/// `bare-send replay` to a fresh sandbox seeded with the same batch, `APPLY_CONCURRENCY` in
/// flight, and times the sending.
fn bare_run(ordermod: &Path, root: &Path, batch: &Path) -> Result<BareRun, String> {
    use crate::chaos::{Sandbox, scratch, wait_deadline};
    use std::io::{BufRead as _, BufReader};
    run_quietly(
        cargo().current_dir(root).args([
            "build",
            "--release",
            "-p",
            "order-bench",
            "--bin",
            "bare-send",
        ]),
        "cargo build --release -p order-bench --bin bare-send",
    )?;
    let bare_send = target_dir(root).join("release").join("bare-send");
    let dir = scratch(root, "bench-bare")?;
    let log = dir.join("requests.jsonl");

    // 1. Record, through the proxies.
    let record_dir = dir.join("record");
    std::fs::create_dir_all(&record_dir).map_err(|e| e.to_string())?;
    let sb = Sandbox::start(ordermod, batch, 1, &record_dir)?;
    let mut proxy = Command::new(&bare_send);
    proxy.arg("record").arg("--out").arg(&log);
    for (name, url) in &sb.emulators {
        proxy.arg("--upstream").arg(format!("{name}={url}"));
    }
    let mut proxy = proxy
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start bare-send record: {e}"))?;
    let mut lines = BufReader::new(proxy.stdout.take().ok_or("no stdout")?).lines();
    let mut config = std::fs::read_to_string(&sb.config).map_err(|e| e.to_string())?;
    loop {
        let Some(Ok(line)) = lines.next() else {
            let _ = wait_deadline(&mut proxy, Duration::ZERO);
            return Err("bare-send record ended before it was ready".into());
        };
        if line == "ready" {
            break;
        }
        if let [_, _, upstream, via] = line.split_whitespace().collect::<Vec<_>>()[..] {
            config = redirect(&config, upstream, via);
        }
    }
    std::fs::write(&sb.config, &config).map_err(|e| e.to_string())?;
    let mut apply = sb
        .apply(ordermod, batch, &record_dir.join("journal.db"))
        .stdout(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start ordermod apply: {e}"))?;
    let status = wait_deadline(&mut apply, Duration::from_secs(600))?;
    drop(proxy.stdin.take());
    let recorded: u64 = lines
        .map_while(Result::ok)
        .find_map(|l| l.strip_prefix("recorded ").and_then(|n| n.parse().ok()))
        .unwrap_or(0);
    let _ = wait_deadline(&mut proxy, Duration::from_secs(60))?;
    if status.code() == Some(2) {
        return Err(format!("ordermod apply (recording) failed: {status}"));
    }
    if recorded == 0 {
        return Err("nothing recorded: the sandbox config names none of the emulator URLs".into());
    }
    drop(sb);

    // 2. Replay against a fresh sandbox with the same orders.
    let replay_dir = dir.join("replay");
    std::fs::create_dir_all(&replay_dir).map_err(|e| e.to_string())?;
    let sb = Sandbox::start(ordermod, batch, 1, &replay_dir)?;
    let mut replay = Command::new(&bare_send);
    replay.arg("replay").arg("--log").arg(&log);
    for (name, url) in &sb.emulators {
        replay.arg("--upstream").arg(format!("{name}={url}"));
    }
    let out = replay
        .args(["--concurrency", &APPLY_CONCURRENCY.to_string()])
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run bare-send replay: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "bare-send replay failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let m = load_figures(&String::from_utf8_lossy(&out.stdout));
    let get = |k: &str| m.get(k).copied().unwrap_or(0.0);
    Ok(BareRun {
        requests: get("requests") as u64,
        errors: get("errors") as u64,
        tokens: get("tokens") as u64,
        secs: get("elapsed_us") / 1e6,
        rate_limited: sb.stat_sum("rate_limited")?,
    })
}

/// `config` with every quoted base URL `upstream` (or one under it) pointed at `via`. Quoted,
/// so `http://127.0.0.1:4000` never matches inside `http://127.0.0.1:40001`.
fn redirect(config: &str, upstream: &str, via: &str) -> String {
    config
        .replace(&format!("\"{upstream}\""), &format!("\"{via}\""))
        .replace(&format!("\"{upstream}/"), &format!("\"{via}/"))
}

fn batch(root: &Path, opts: &Options) -> Result<Vec<Figure>, String> {
    let ordermod = crate::chaos::build_ordermod(root)?;
    // Amendments per platform (six platforms): 2k and 10k lines, or 10k and 100k.
    let (small_n, large_n) = if opts.quick {
        (334, 1_667)
    } else {
        (1_667, 16_667)
    };
    let platforms = BATCH_PLATFORMS.len();
    let (small_k, large_k) = (small_n * platforms / 1000, large_n * platforms / 1000);
    let small = batch_run(&ordermod, root, small_n)?;
    let large = batch_run(&ordermod, root, large_n)?;
    let bare = bare_run(&ordermod, root, &large.batch)?;
    let per = |r: &BatchRun| r.secs / r.lines as f64;
    let note = |r: &BatchRun| {
        format!(
            "{} lines, {} requests, {:.1} s, {:.0} µs/line, peak RSS {:.1} MiB",
            r.lines,
            r.requests,
            r.secs,
            per(r) * 1e6,
            r.rss_kib as f64 / 1024.0
        )
    };
    let batch_rps = large.requests as f64 / large.secs;
    let bare_rps = bare.requests as f64 / bare.secs.max(1e-6);
    Ok(vec![
        Figure::new(
            format!("batch_{small_k}k_rss_mib"),
            format!("{:.1}", small.rss_kib as f64 / 1024.0),
        )
        .note(note(&small)),
        Figure::new(
            format!("batch_{large_k}k_rss_mib"),
            format!("{:.1}", large.rss_kib as f64 / 1024.0),
        )
        .target("< 150, flat")
        .note(note(&large)),
        Figure::new("batch_scaling", format!("{:.2}", per(&large) / per(&small)))
            .target("<= 1.1")
            .note(format!("wall time per amendment, {large_k}k ÷ {small_k}k")),
        Figure::new(
            format!("batch_{large_k}k_per_s"),
            format!("{:.0}", large.lines as f64 / large.secs),
        )
        .note("amendment lines per second, journal on local disk"),
        Figure::new("bare_per_s", format!("{bare_rps:.0}")).note(format!(
            "the same {} requests (+{} token fetches, untimed) replayed, {APPLY_CONCURRENCY} in \
             flight, {} errors, {} rate-limited, {:.1} s",
            bare.requests, bare.tokens, bare.errors, bare.rate_limited, bare.secs
        )),
        Figure::new(
            "batch_vs_bare",
            format!("{:.3}", batch_rps / bare_rps.max(1e-6)),
        )
        .target("informational")
        .note(format!(
            "ordermod apply {batch_rps:.0} requests/s (whole process) ÷ bare client \
                 {bare_rps:.0}/s, same emulators, same run"
        )),
    ])
}

// ------------------------------------------------------------------------------------- amend

/// Platforms of `crates/order-bench` (its `PLATFORMS`).
const AMEND_PLATFORMS: [&str; 6] = [
    "wechat_shop",
    "vvtool_1688",
    "em_franchiser",
    "alibaba_icbu",
    "wechat_channels",
    "alibaba_1688",
];

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
            // Only the client path: the floor's ratio is no longer a target (performance.md).
            "/full",
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
    for p in AMEND_PLATFORMS {
        let full = median_ns(&dir.join(format!("amend_{p}/full/new/estimates.json")))?;
        figures.push(
            Figure::new(format!("client_us/{p}"), format!("{:.2}", full / 1000.0))
                .note("informational: plan, encode, sign, decode a reply (criterion median)"),
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
    fn least_seconds_is_the_slowest_credentials_lines_over_its_quota() {
        let config = "[[shop]]\nid = \"a\"\nrate_limit_per_second = 20\n[[shop]]\nid = \"b\"\nrate_limit_per_second = 10\n[[shop]]\nid = \"idle\"\nrate_limit_per_second = 1\n";
        let batch = (0..40)
            .map(|i| {
                format!(
                    "{{\"shop\":\"{}\",\"n\":{i}}}",
                    if i % 2 == 0 { "a" } else { "b" }
                )
            })
            .collect::<Vec<_>>()
            .join("\n");
        // 20 lines at 20/s take 1 s, 20 lines at 10/s take 2 s; the idle shop sends nothing.
        assert_eq!(least_seconds(config, &batch), 2.0);
    }

    #[test]
    fn reads_proc_status() {
        let text = "Name:\tordermod\nVmPeak:\t  200 kB\nVmHWM:\t   81234 kB\n";
        assert_eq!(proc_kib(text, "VmHWM:"), Some(81_234));
        assert_eq!(proc_kib(text, "VmRSS:"), None);
    }

    #[test]
    fn options() {
        let o = Options::parse(&["--only", "amend", "--quick"]).unwrap();
        assert_eq!(o.parts, vec![Part::Amend]);
        assert_eq!(o.measurement, Duration::from_secs(1));
        assert!(o.quick);
        assert!(!Options::parse(&[]).unwrap().quick);
        assert!(Options::parse(&["--only", "nope"]).is_err());
        assert!(Options::parse(&["--bogus"]).is_err());
    }

    #[test]
    fn redirect_points_only_the_named_emulator_at_the_proxy() {
        let config = "base_url = \"http://127.0.0.1:4000\"\nbase_url = \"http://127.0.0.1:40001\"\n\
                      base_url = \"http://127.0.0.1:4000/api\"\n";
        assert_eq!(
            redirect(config, "http://127.0.0.1:4000", "http://127.0.0.1:5"),
            "base_url = \"http://127.0.0.1:5\"\nbase_url = \"http://127.0.0.1:40001\"\n\
             base_url = \"http://127.0.0.1:5/api\"\n"
        );
    }

    #[test]
    fn table_aligns() {
        let t = table(&[Figure::new("a", "1.00").target("<= 2").note("n")]);
        assert!(t.lines().next().unwrap().starts_with("figure"));
        let row = t.lines().nth(2).unwrap();
        assert!(row.starts_with("a ") && row.contains(" 1.00  <= 2") && row.ends_with(" n"));
    }
}
