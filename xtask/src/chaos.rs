//! `cargo xtask chaos`: crash-and-resume and fault runs of `ordermod apply` against a
//! standalone sandbox, checked through the emulators' own counters and call logs.
//!
//! 1. **SIGKILL and resume.** `ordermod sandbox --orders BATCH` serves the emulators (seeded
//!    with the batch's orders, each shop with its own credential and quota) in its own
//!    process. `ordermod apply BATCH -c CONFIG --journal sqlite://FILE` is started, killed
//!    with SIGKILL at 20 seeded moments (after a seeded number of further requests reached
//!    the emulators, plus a seeded delay of 0–30 ms, so kills land between a send and its
//!    journal record too) and started again each time; a last run finishes the batch. Then
//!    every line the final report calls applied (now or earlier) must have changed its order
//!    on the emulator exactly once (`lost`: zero changes, `doubled`: more than one), and no
//!    order may have changed more than once. `doubled_state_moved_twice` counts the orders
//!    whose state the emulator saw move more than once: a doubled order whose state moved
//!    once received the same absolute amendment again (decision D8's in-flight resend).
//!    The default run (`--in-doubt verify`) is over the platforms that publish an order read
//!    (`channels-`, `1688-`, and `wechat-`, `icbu-` once their reads are wired): an amendment a
//!    kill left in doubt is read back, recorded `confirmed_by_read` when it landed (nothing
//!    resent) and resent when it did not, so `doubled` must be 0; `doubled_by_platform` names
//!    the platforms of any doubled order (one still resending for want of a read).
//!    The same kills are then made on fresh sandboxes over every platform with every run
//!    passing `--in-doubt resend` (figures prefixed `resend_`: in-doubt amendments sent again,
//!    so `resend_doubled` counts the extra revisions) and `--in-doubt hold` (prefixed `hold_`):
//!    amendments a kill left in doubt are reported `in_doubt` instead of being resent, so
//!    nothing may be doubled; `hold_in_doubt_landed` says how many of them the emulators had
//!    in fact applied.
//! 2. **Transient faults.** A fresh sandbox with 10% random transient faults (5% HTTP 500,
//!    5% platform busy) and one run: the `completed` share of sent amendments, and
//!    `retried_non_retryable`: orders that got another call after a non-retryable reply
//!    (from `GET /__admin/calls`).
//!
//! The harness pieces (`Sandbox`, batch generation, a tiny HTTP client) are shared with
//! `cargo xtask bench`.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::bench::{cargo, run_quietly, target_dir};

// ---------------------------------------------------------------------------------- pieces

/// Builds the release `ordermod` binary and returns its path.
pub fn build_ordermod(root: &Path) -> Result<PathBuf, String> {
    run_quietly(
        cargo().current_dir(root).args([
            "build",
            "--release",
            "-p",
            "order-app",
            "--bin",
            "ordermod",
        ]),
        "cargo build --release -p order-app",
    )?;
    let bin = target_dir(root).join("release").join("ordermod");
    if bin.is_file() {
        Ok(bin)
    } else {
        Err(format!("{} was not built", bin.display()))
    }
}

/// A scratch directory under the target directory, emptied first.
pub fn scratch(root: &Path, name: &str) -> Result<PathBuf, String> {
    let dir = target_dir(root).join("xtask").join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    Ok(dir)
}

/// The harness's seeded generator: `fastrand`, the workspace's one seeded generator.
#[derive(Debug, Clone)]
pub struct Rng(fastrand::Rng);

impl Rng {
    /// The generator for `seed`: the same seed always draws the same numbers.
    pub fn seeded(seed: u64) -> Rng {
        Rng(fastrand::Rng::with_seed(seed))
    }

    /// Uniform in `lo..=hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        self.0.u64(lo..=hi)
    }
}

/// Which platforms a generated batch keeps and how many shops each gets.
#[derive(Debug, Clone, Copy)]
pub struct BatchShape {
    pub per_platform: usize,
    pub shops_per_platform: usize,
    pub with_vvtool: bool,
    /// Keep only the lines `ordermod plan` accepts, so every line is sent and each shop gets
    /// the same number of requests.
    pub only_plannable: bool,
}

/// 1-based numbers of the lines of `batch` that `ordermod plan --sandbox` plans (not refused).
fn plannable_lines(ordermod: &Path, batch: &Path) -> Result<BTreeSet<usize>, String> {
    let out = Command::new(ordermod)
        .args(["plan", "--sandbox"])
        .arg(batch)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run ordermod plan: {e}"))?;
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.starts_with("line ") && l.contains(": plan, key "))
        .filter_map(|l| l.split_whitespace().nth(1)?.parse().ok())
        .collect())
}

/// Every platform's shop prefix.
const ALL_PREFIXES: [&str; 6] = ["wechat", "vvtool", "em", "icbu", "channels", "1688"];

/// The prefixes of the platforms that publish an order read, where `--in-doubt verify` (the
/// default) settles an amendment left in doubt by reading it; vv-tool and EM publish none, so
/// their in-doubt amendments are resent and `doubled_by_platform` shows it.
pub const READ_PREFIXES: [&str; 4] = ["channels", "1688", "wechat", "icbu"];

/// Writes a deterministic batch: `ordermod gen-examples` (the example generator: a quarter
/// of the lines break a rule and are refused before sending), with each platform's lines dealt
/// round-robin to `shops_per_platform` shops (`wechat-s0`, `wechat-s1`, …), each of which the
/// sandbox gives its own credential and quota. Keeps the lines of the
/// platforms whose shop prefix is in `prefixes`; returns the batch file.
pub fn write_batch_of(
    ordermod: &Path,
    dir: &Path,
    shape: BatchShape,
    prefixes: &[&str],
) -> Result<PathBuf, String> {
    let raw = dir.join("generated.jsonl");
    let status = Command::new(ordermod)
        .args([
            "gen-examples",
            "--per-platform",
            &shape.per_platform.to_string(),
            "-o",
        ])
        .arg(&raw)
        .stdout(Stdio::null())
        .status()
        .map_err(|e| format!("cannot run ordermod gen-examples: {e}"))?;
    if !status.success() {
        return Err(format!("ordermod gen-examples failed: {status}"));
    }
    let text = std::fs::read_to_string(&raw).map_err(|e| format!("cannot read batch: {e}"))?;
    let keep = if shape.only_plannable {
        Some(plannable_lines(ordermod, &raw)?)
    } else {
        None
    };
    let mut out = String::with_capacity(text.len());
    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    for (i, line) in text.lines().enumerate() {
        if keep.as_ref().is_some_and(|k| !k.contains(&(i + 1))) {
            continue;
        }
        let Some(prefix) = prefixes
            .iter()
            .copied()
            .find(|p| line.contains(&format!("\"shop\":\"{p}-main\"")))
        else {
            continue;
        };
        if prefix == "vvtool" && !shape.with_vvtool {
            continue;
        }
        let n = seen.entry(prefix).or_default();
        let shop = format!("{prefix}-s{}", *n % shape.shops_per_platform.max(1));
        *n += 1;
        out.push_str(&line.replace(
            &format!("\"shop\":\"{prefix}-main\""),
            &format!("\"shop\":\"{shop}\""),
        ));
        out.push('\n');
    }
    let path = dir.join("batch.jsonl");
    std::fs::write(&path, out).map_err(|e| format!("cannot write batch: {e}"))?;
    Ok(path)
}

/// The shops a batch names.
fn batch_shops(batch: &Path) -> Result<BTreeSet<String>, String> {
    let text = std::fs::read_to_string(batch).map_err(|e| format!("cannot read batch: {e}"))?;
    Ok(text
        .lines()
        .filter_map(|l| l.split("\"shop\":\"").nth(1))
        .filter_map(|rest| rest.split('"').next())
        .map(str::to_owned)
        .collect())
}

/// A running `ordermod sandbox` process: emulators on loopback, seeded with a batch's orders.
pub struct Sandbox {
    child: Child,
    /// `(platform name, base URL)` of each emulator.
    pub emulators: Vec<(String, String)>,
    /// The config it printed, for `ordermod apply -c`.
    pub config: PathBuf,
    /// The environment carrying the sandbox secrets the config names.
    pub env: Vec<(String, String)>,
    /// Sum of the shops' `rate_limit_per_second` (= the emulators' quotas).
    pub quota_sum: u64,
    /// Number of the batch's shops.
    pub shops: usize,
}

impl Sandbox {
    /// Starts `ordermod sandbox --orders batch --seed seed` and reads what it prints.
    pub fn start(ordermod: &Path, batch: &Path, seed: u64, dir: &Path) -> Result<Sandbox, String> {
        let mut child = Command::new(ordermod)
            .args(["sandbox", "--seed", &seed.to_string(), "--orders"])
            .arg(batch)
            .stdout(Stdio::piped())
            .stdin(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start ordermod sandbox: {e}"))?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        let (mut emulators, mut config, mut env) = (Vec::new(), String::new(), Vec::new());
        let mut section = "";
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let Some(Ok(line)) = lines.next() else {
                let _ = child.kill();
                return Err("ordermod sandbox ended before it was ready".into());
            };
            if Instant::now() > deadline {
                let _ = child.kill();
                return Err("ordermod sandbox did not get ready in 120 s".into());
            }
            if line.starts_with("running;") {
                break;
            }
            if line.starts_with("emulators") {
                section = "emulators";
                continue;
            }
            if line.starts_with("credentials") {
                section = "";
                continue;
            }
            if line.starts_with("# ordermod.toml") {
                section = "config";
                continue;
            }
            if line.starts_with("# environment") {
                section = "env";
                continue;
            }
            match section {
                "emulators" => {
                    let mut parts = line.split_whitespace();
                    if let (Some(name), Some(url)) = (parts.next(), parts.next()) {
                        emulators.push((name.to_owned(), url.to_owned()));
                    }
                }
                "config" => {
                    config.push_str(&line);
                    config.push('\n');
                }
                "env" => {
                    if let Some((k, v)) =
                        line.strip_prefix("export ").and_then(|l| l.split_once('='))
                    {
                        env.push((k.to_owned(), v.to_owned()));
                    }
                }
                _ => {}
            }
        }
        // Keep draining its output so it never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        // The sandbox always adds one default shop per platform; count the batch's shops only.
        let used = batch_shops(batch)?;
        let (mut quota_sum, mut shops, mut current) = (0u64, 0usize, String::new());
        for l in config.lines() {
            if let Some(id) = l.strip_prefix("id = ") {
                current = id.trim_matches('"').to_owned();
            } else if let Some(r) = l.strip_prefix("rate_limit_per_second = ")
                && used.contains(&current)
            {
                quota_sum += r.trim().parse::<u64>().unwrap_or(0);
                shops += 1;
            }
        }
        let path = dir.join("ordermod.toml");
        std::fs::write(&path, &config).map_err(|e| format!("cannot write config: {e}"))?;
        Ok(Sandbox {
            child,
            emulators,
            config: path,
            env,
            quota_sum,
            shops,
        })
    }

    /// `ordermod apply batch -c config --journal sqlite://journal --quiet [--report report]`.
    pub fn apply(&self, ordermod: &Path, batch: &Path, journal: &Path) -> Command {
        let mut cmd = Command::new(ordermod);
        cmd.arg("apply")
            .arg(batch)
            .arg("-c")
            .arg(&self.config)
            .arg("--journal")
            .arg(format!("sqlite://{}", journal.display()))
            .arg("--quiet")
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null());
        cmd
    }

    /// `GET path` of every emulator, parsed.
    pub fn get_all(&self, path: &str) -> Result<Vec<(String, Value)>, String> {
        self.emulators
            .iter()
            .map(|(name, url)| {
                let body = http(url, "GET", path, None)?;
                let v = serde_json::from_slice(&body)
                    .map_err(|e| format!("{name} {path}: not JSON: {e}"))?;
                Ok((name.clone(), v))
            })
            .collect()
    }

    /// Sum of a numeric field of every emulator's `/__admin/stats`.
    pub fn stat_sum(&self, field: &str) -> Result<u64, String> {
        Ok(self
            .get_all("/__admin/stats")?
            .iter()
            .filter_map(|(_, v)| v.get(field).and_then(Value::as_u64))
            .sum())
    }

    /// Changes per order over every emulator.
    pub fn changes_per_order(&self) -> Result<BTreeMap<String, u64>, String> {
        self.per_order("changes_per_order")
    }

    /// Successful changes per order that moved its state, over every emulator (a change that
    /// re-stated the state it found is not counted).
    pub fn moves_per_order(&self) -> Result<BTreeMap<String, u64>, String> {
        self.per_order("moves_per_order")
    }

    fn per_order(&self, stat: &str) -> Result<BTreeMap<String, u64>, String> {
        let mut out = BTreeMap::new();
        for (_, v) in self.get_all("/__admin/stats")? {
            if let Some(m) = v.get(stat).and_then(Value::as_object) {
                for (k, n) in m {
                    *out.entry(k.clone()).or_default() += n.as_u64().unwrap_or(0);
                }
            }
        }
        Ok(out)
    }

    /// Sets a random fault profile on every emulator.
    pub fn set_faults(&self, profile: &str) -> Result<(), String> {
        for (_, url) in &self.emulators {
            http(
                url,
                "POST",
                "/__admin/faults",
                Some(&format!(r#"{{"profile":{profile}}}"#)),
            )?;
        }
        Ok(())
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A minimal HTTP/1.1 request over loopback (`Connection: close`); the body of a 2xx reply.
pub fn http(
    base_url: &str,
    method: &str,
    path: &str,
    body: Option<&str>,
) -> Result<Vec<u8>, String> {
    // The host only: an emulator's base URL may carry a path (the 1688 open platform's
    // `/openapi` gateway); its admin endpoints are at the root.
    let rest = base_url
        .strip_prefix("http://")
        .ok_or_else(|| format!("not an http URL: {base_url}"))?;
    let host = rest.split('/').next().unwrap_or(rest);
    let mut s = TcpStream::connect(host).map_err(|e| format!("connect {host}: {e}"))?;
    s.set_read_timeout(Some(Duration::from_secs(30)))
        .map_err(|e| e.to_string())?;
    let body = body.unwrap_or("");
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).map_err(|e| e.to_string())?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).map_err(|e| e.to_string())?;
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| format!("{method} {path}: no HTTP header"))?;
    let head = String::from_utf8_lossy(&raw[..split]).to_string();
    let mut content = raw[split + 4..].to_vec();
    let status = head.split_whitespace().nth(1).unwrap_or("");
    if !status.starts_with('2') {
        return Err(format!("{method} {base_url}{path}: status {status}"));
    }
    if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        content = dechunk(&content);
    }
    Ok(content)
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(eol) = data.windows(2).position(|w| w == b"\r\n") {
        let size = usize::from_str_radix(
            String::from_utf8_lossy(&data[..eol])
                .split(';')
                .next()
                .unwrap_or("")
                .trim(),
            16,
        )
        .unwrap_or(0);
        if size == 0 {
            break;
        }
        let start = eol + 2;
        let end = (start + size).min(data.len());
        out.extend_from_slice(&data[start..end]);
        data = &data[(end + 2).min(data.len())..];
    }
    out
}

/// Statuses of the lines of an `ordermod apply --report` file: order id → status.
pub fn report_statuses(path: &Path) -> Result<Vec<(String, String)>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read report: {e}"))?;
    let v: Value = serde_json::from_str(&text).map_err(|e| format!("report is not JSON: {e}"))?;
    let results = v
        .get("results")
        .and_then(Value::as_array)
        .ok_or("report has no results")?;
    Ok(results
        .iter()
        .map(|r| {
            let s = |k: &str| r.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
            (s("order"), s("status"))
        })
        .collect())
}

/// Waits for `child` with a deadline; kills it when the deadline passes.
pub fn wait_deadline(child: &mut Child, limit: Duration) -> Result<ExitStatus, String> {
    let end = Instant::now() + limit;
    loop {
        if let Some(st) = child.try_wait().map_err(|e| e.to_string())? {
            return Ok(st);
        }
        if Instant::now() > end {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("gave up after {} s", limit.as_secs()));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

// ----------------------------------------------------------------------------------- chaos

/// Options of `cargo xtask chaos`.
#[derive(Debug, Clone)]
pub struct Options {
    pub seed: u64,
    pub kills: u32,
    /// `--workers N`: instead of the `apply` runs, N `ordermod worker` processes drain a
    /// PostgreSQL queue while one of them at a time is killed (`crate::scale`).
    pub workers: Option<u32>,
}

impl Options {
    pub fn parse(args: &[&str]) -> Result<Options, String> {
        let mut o = Options {
            seed: 7,
            kills: 20,
            workers: None,
        };
        let mut it = args.iter();
        while let Some(a) = it.next() {
            let mut val = |name: &str| -> Result<u64, String> {
                it.next()
                    .and_then(|v| v.parse().ok())
                    .ok_or(format!("{name} needs a number"))
            };
            match *a {
                "--seed" => o.seed = val("--seed")?,
                "--kills" => o.kills = u32::try_from(val("--kills")?).map_err(|e| e.to_string())?,
                "--workers" => {
                    let n = u32::try_from(val("--workers")?).map_err(|e| e.to_string())?;
                    if n == 0 {
                        return Err("--workers needs at least 1".into());
                    }
                    o.workers = Some(n);
                }
                other => return Err(format!("unknown chaos option `{other}`")),
            }
        }
        Ok(o)
    }
}

/// The batch of every chaos run: 200 example lines a platform, two shops each, refused lines
/// kept.
pub const CHAOS_SHAPE: BatchShape = BatchShape {
    per_platform: 200,
    shops_per_platform: 2,
    with_vvtool: true,
    only_plannable: false,
};

/// WeChat errcodes the client answers by refreshing its token and sending again.
const RETRIED_REJECTIONS: [&str; 3] = ["rejected:40001", "rejected:42001", "rejected:40014"];

/// What the runs of part 1 do with amendments a kill left in doubt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// The default (`--in-doubt verify`), over the platforms that publish a read.
    Verify,
    /// `--in-doubt resend`, every platform: figures prefixed `resend_`.
    Resend,
    /// `--in-doubt hold`, every platform: figures prefixed `hold_`.
    Hold,
}

/// The exactly-once check over the emulators' counters: each line's final status (order id →
/// `applied`, `already_done`, `confirmed_by_read`, `confirmed`, `failed`, `undelivered`,
/// `in_doubt`, …) against the changes each order saw on its emulator.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Tally {
    /// Lines whose final status says the order changed (applied, confirmed, …).
    pub applied: usize,
    /// Lines refused by the platform or not delivered after retries.
    pub failed: u64,
    /// Applied lines whose order the emulator never saw change.
    pub lost: u64,
    /// Orders the emulator saw change more than once.
    pub doubled: Vec<String>,
    /// Orders whose state the emulator saw move more than once.
    pub moved_twice: usize,
    /// Orders that changed although no line says so (and none is in doubt).
    pub unexpected: Vec<String>,
    /// Lines held in doubt, and how many of them had in fact landed.
    pub in_doubt: u64,
    pub in_doubt_landed: u64,
    /// Lines settled by reading the order back.
    pub confirmed_by_read: u64,
    /// Number of lines.
    pub lines: usize,
}

impl Tally {
    pub fn of(
        statuses: &[(String, String)],
        changes: &BTreeMap<String, u64>,
        moves: &BTreeMap<String, u64>,
    ) -> Tally {
        let mut t = Tally {
            lines: statuses.len(),
            ..Tally::default()
        };
        let mut expected_once = BTreeSet::new();
        for (order, status) in statuses {
            if status == "confirmed_by_read" {
                t.confirmed_by_read += 1;
            }
            match status.as_str() {
                "applied" | "already_done" | "confirmed_by_read" | "confirmed" => {
                    expected_once.insert(order.clone());
                    if changes.get(order).copied().unwrap_or(0) == 0 {
                        t.lost += 1;
                    }
                }
                // Refused, or (since the journal tells them apart) not delivered after retries.
                "failed" | "undelivered" => t.failed += 1,
                "in_doubt" => {
                    t.in_doubt += 1;
                    if changes.get(order).copied().unwrap_or(0) > 0 {
                        t.in_doubt_landed += 1;
                    }
                }
                _ => {}
            }
        }
        t.applied = expected_once.len();
        t.doubled = changes
            .iter()
            .filter(|&(_, &n)| n > 1)
            .map(|(o, _)| o.clone())
            .collect();
        // A doubled order whose state moved only once got the same absolute amendment twice (a
        // resend of an in-flight amendment, decision D8); one that moved twice would be a bug.
        t.moved_twice = moves.values().filter(|&&n| n > 1).count();
        t.unexpected = changes
            .iter()
            .filter(|(o, n)| {
                **n > 0 && !expected_once.contains(*o) && status_of_is(statuses, o) != "in_doubt"
            })
            .map(|(o, _)| o.clone())
            .collect();
        for o in t.doubled.iter().chain(t.unexpected.iter()).take(20) {
            eprintln!(
                "chaos: order {o}: {} changes on the emulator ({} moved its state), final status: {}",
                changes[o],
                moves.get(o).copied().unwrap_or(0),
                status_of_is(statuses, o)
            );
        }
        t
    }

    /// The check's figures, each name prefixed with `p`.
    pub fn say(&self, p: &str, say: &dyn Fn(String)) {
        say(format!("{p}chaos_lines: {}", self.lines));
        say(format!("{p}chaos_applied: {}", self.applied));
        say(format!("{p}chaos_failed: {}", self.failed));
        say(format!("{p}lost: {}", self.lost));
        say(format!("{p}doubled: {}", self.doubled.len()));
        say(format!(
            "{p}doubled_state_moved_twice: {}",
            self.moved_twice
        ));
        say(format!(
            "{p}changed_but_not_reported_applied: {}",
            self.unexpected.len()
        ));
    }
}

/// Part 1: SIGKILL at seeded moments, resume after each, then check the emulators. The
/// default mode reads back what a kill left in doubt (`confirmed_by_read` when it landed, resent
/// when it did not); with `hold`, amendments a kill left in doubt are reported, not resent;
/// with `resend`, they are sent again.
fn kill_and_resume(
    root: &Path,
    ordermod: &Path,
    opts: &Options,
    shape: BatchShape,
    mode: Mode,
    say: &dyn Fn(String),
) -> Result<(), String> {
    let (p, in_doubt, name, prefixes): (&str, &[&str], &str, &[&str]) = match mode {
        Mode::Verify => ("", &[], "chaos", &READ_PREFIXES),
        Mode::Resend => (
            "resend_",
            &["--in-doubt", "resend"],
            "chaos-resend",
            &ALL_PREFIXES,
        ),
        Mode::Hold => (
            "hold_",
            &["--in-doubt", "hold"],
            "chaos-hold",
            &ALL_PREFIXES,
        ),
    };
    let hold = mode == Mode::Hold;
    let dir = scratch(root, name)?;
    let batch = write_batch_of(ordermod, &dir, shape, prefixes)?;
    let sb = Sandbox::start(ordermod, &batch, opts.seed, &dir)?;
    let journal = dir.join("journal.db");
    let mut rng = Rng::seeded(opts.seed);
    // Expected sends ≈ 3/4 of the lines; aim the kills across the first ~80% of them.
    let lines = std::fs::read_to_string(&batch)
        .map_err(|e| e.to_string())?
        .lines()
        .count() as u64;
    let gap = (lines * 3 / 4 * 8 / 10 / u64::from(opts.kills.max(1))).max(2);
    let mut kills = 0u32;
    let mut finished_early = 0u32;
    let started = Instant::now();
    while kills < opts.kills {
        let before = sb.stat_sum("total_requests")?;
        let target = before + rng.range(1, 2 * gap - 1);
        let mut child = sb
            .apply(ordermod, &batch, &journal)
            .args(in_doubt)
            .stdout(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start ordermod apply: {e}"))?;
        let mut exited = None;
        loop {
            if let Some(st) = child.try_wait().map_err(|e| e.to_string())? {
                exited = Some(st);
                break;
            }
            if sb.stat_sum("total_requests")? >= target {
                break;
            }
            if started.elapsed() > Duration::from_secs(300) {
                let _ = child.kill();
                return Err("chaos: apply runs took over 300 s".into());
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        if let Some(st) = exited {
            // The batch finished before this kill's moment: nothing left to interrupt.
            finished_early += 1;
            eprintln!(
                "chaos: run ended by itself ({st}) before kill {}",
                kills + 1
            );
            break;
        }
        std::thread::sleep(Duration::from_millis(rng.range(0, 30)));
        child
            .kill()
            .map_err(|e| format!("cannot kill ordermod: {e}"))?; // SIGKILL
        let _ = child.wait();
        kills += 1;
    }
    let report = dir.join("report.json");
    let mut last = sb
        .apply(ordermod, &batch, &journal)
        .args(in_doubt)
        .arg("--report")
        .arg(&report)
        .stdout(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start ordermod apply: {e}"))?;
    let status = wait_deadline(&mut last, Duration::from_secs(300))?;
    if status.code() == Some(2) {
        return Err(format!("the final resume failed: {status}"));
    }
    let statuses = report_statuses(&report)?;
    let statuses_shops = report_shops(&report)?;
    let changes = sb.changes_per_order()?;
    let moves = sb.moves_per_order()?;
    let t = Tally::of(&statuses, &changes, &moves);
    say(format!("{p}chaos_kills: {kills}"));
    t.say(p, &say);
    let (doubled, in_doubt, in_doubt_landed, confirmed_by_read) = (
        &t.doubled,
        t.in_doubt,
        t.in_doubt_landed,
        t.confirmed_by_read,
    );
    if mode == Mode::Verify {
        let mut by_platform: BTreeMap<String, usize> = BTreeMap::new();
        for o in doubled {
            let shop = shop_of(&statuses_shops, o).unwrap_or("?");
            let prefix = shop.split('-').next().unwrap_or(shop);
            *by_platform.entry(prefix.to_owned()).or_default() += 1;
        }
        // Settled by a read in any run (the final report shows only the last run's view).
        let journal_json = Command::new(ordermod)
            .args(["journal", "--json", "--limit", "0", "--journal"])
            .arg(format!("sqlite://{}", journal.display()))
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("cannot run ordermod journal: {e}"))?;
        let settled = String::from_utf8_lossy(&journal_json.stdout)
            .matches(r#""outcome":"confirmed_by_read""#)
            .count();
        say(format!("{p}confirmed_by_read: {confirmed_by_read}"));
        say(format!("{p}confirmed_by_read_any_run: {settled}"));
        say(format!("{p}doubled_by_platform: {by_platform:?}"));
    }
    if hold || mode == Mode::Verify {
        say(format!("{p}in_doubt: {in_doubt}"));
        say(format!("{p}in_doubt_landed: {in_doubt_landed}"));
    }
    eprintln!(
        "chaos{}: details in {} (report.json, journal.db: `ordermod journal --journal sqlite://...`)",
        match mode {
            Mode::Verify => " (--in-doubt verify)",
            Mode::Resend => " (--in-doubt resend)",
            Mode::Hold => " (--in-doubt hold)",
        },
        dir.display()
    );
    if finished_early > 0 {
        say(format!(
            "note: the batch finished after {kills} kills, before {} were made",
            opts.kills
        ));
    }
    drop(sb);
    Ok(())
}

/// The shop of each order of an `ordermod apply --report` file.
fn report_shops(path: &Path) -> Result<BTreeMap<String, String>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read report: {e}"))?;
    let v: Value = serde_json::from_str(&text).map_err(|e| format!("report is not JSON: {e}"))?;
    Ok(v.get("results")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
        .iter()
        .filter_map(|r| {
            Some((
                r.get("order")?.as_str()?.to_owned(),
                r.get("shop")?.as_str()?.to_owned(),
            ))
        })
        .collect())
}

fn shop_of<'a>(shops: &'a BTreeMap<String, String>, order: &str) -> Option<&'a str> {
    shops.get(order).map(String::as_str)
}

/// The final report's status of `order`, `absent` when no line names it.
fn status_of_is<'a>(statuses: &'a [(String, String)], order: &str) -> &'a str {
    statuses
        .iter()
        .find(|(id, _)| id == order)
        .map_or("absent", |(_, s)| s.as_str())
}

pub fn run(root: &Path, opts: &Options) -> Result<String, String> {
    let ordermod = build_ordermod(root)?;
    let say = |line: String| println!("{line}");
    if let Some(workers) = opts.workers {
        return crate::scale::chaos_workers(root, &ordermod, opts, workers, &say);
    }

    let shape = CHAOS_SHAPE;
    // ---- 1. SIGKILL and resume: in-doubt amendments read back (the default), resent, held
    kill_and_resume(root, &ordermod, opts, shape, Mode::Verify, &say)?;
    kill_and_resume(root, &ordermod, opts, shape, Mode::Resend, &say)?;
    kill_and_resume(root, &ordermod, opts, shape, Mode::Hold, &say)?;

    // ---- 2. 10% transient faults
    let dir = scratch(root, "chaos-faults")?;
    let batch = write_batch_of(&ordermod, &dir, shape, &ALL_PREFIXES)?;
    let sb = Sandbox::start(&ordermod, &batch, opts.seed, &dir)?;
    sb.set_faults(r#"{"http500":50,"busy":50}"#)?;
    let report = dir.join("report.json");
    let mut child = sb
        .apply(&ordermod, &batch, &dir.join("journal.db"))
        .arg("--report")
        .arg(&report)
        .stdout(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start ordermod apply: {e}"))?;
    let status = wait_deadline(&mut child, Duration::from_secs(300))?;
    if status.code() == Some(2) {
        return Err(format!("the fault run failed: {status}"));
    }
    let statuses = report_statuses(&report)?;
    let sent: Vec<&(String, String)> = statuses
        .iter()
        .filter(|(_, s)| {
            matches!(
                s.as_str(),
                "applied" | "already_done" | "failed" | "undelivered"
            )
        })
        .collect();
    let completed = sent
        .iter()
        .filter(|(_, s)| s != "failed" && s != "undelivered")
        .count();
    let faults = sb.stat_sum("faults_injected")?;
    let mut retried_non_retryable = 0u64;
    for (_, calls) in sb.get_all("/__admin/calls")? {
        let mut per_order: BTreeMap<String, Vec<(u64, String)>> = BTreeMap::new();
        for c in calls.as_array().map(Vec::as_slice).unwrap_or(&[]) {
            let (Some(order), Some(seq), Some(outcome)) = (
                c.get("order_id").and_then(Value::as_str),
                c.get("seq").and_then(Value::as_u64),
                c.get("outcome").and_then(Value::as_str),
            ) else {
                continue;
            };
            per_order
                .entry(order.to_owned())
                .or_default()
                .push((seq, outcome.to_owned()));
        }
        for calls in per_order.values_mut() {
            calls.sort();
            let first_final = calls.iter().position(|(_, o)| {
                o.starts_with("rejected:") && !RETRIED_REJECTIONS.contains(&o.as_str())
            });
            if first_final.is_some_and(|i| i + 1 < calls.len()) {
                retried_non_retryable += 1;
            }
        }
    }
    let share = if sent.is_empty() {
        0.0
    } else {
        completed as f64 / sent.len() as f64
    };
    say(format!("faults_injected: {faults}"));
    say(format!(
        "completed: {share:.3} ({completed}/{})",
        sent.len()
    ));
    say(format!("retried_non_retryable: {retried_non_retryable}"));
    Ok(String::new())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dechunks() {
        assert_eq!(dechunk(b"3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"), b"abcde");
    }

    #[test]
    fn seeded_rng_is_deterministic() {
        let (mut a, mut b) = (Rng::seeded(1), Rng::seeded(1));
        for _ in 0..100 {
            let x = a.range(5, 9);
            assert_eq!(x, b.range(5, 9));
            assert!((5..=9).contains(&x));
        }
    }

    #[test]
    fn options() {
        let o = Options::parse(&["--seed", "3", "--kills", "5"]).unwrap();
        assert_eq!((o.seed, o.kills, o.workers), (3, 5, None));
        assert!(Options::parse(&["--kills"]).is_err());
        assert_eq!(
            Options::parse(&["--workers", "4"]).unwrap().workers,
            Some(4)
        );
        assert!(Options::parse(&["--workers", "0"]).is_err());
    }
}
