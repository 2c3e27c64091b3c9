//! Many workers on one PostgreSQL journal: `cargo xtask bench --only scale` and
//! `cargo xtask chaos --workers N`.
//!
//! Both drive the release `ordermod` binary as processes against the standalone sandbox
//! (`ordermod sandbox --orders BATCH`, the harness of `chaos.rs`), with the journal on a
//! throwaway PostgreSQL cluster started here (`pg-throwaway`, durable: `fsync` and
//! `synchronous_commit` on, as a production server runs; stopped when xtask exits):
//!
//! 1. a fresh database; `ordermod apply BATCH --journal postgres://… --enqueue -c CONFIG`
//!    records the batch as queued (it must print `enqueued: N` for every line);
//! 2. N `ordermod worker --journal postgres://… -c CONFIG --until-empty` processes drain the
//!    queue; each exits 0 once nothing is left;
//! 3. the emulators' counters (`/__admin/stats`) and the line status each worker recorded on
//!    the queue (read with `psql`: `ordermod journal` reads SQLite only) are checked with the
//!    exactly-once check of `chaos.rs` ([`crate::chaos::Tally`]).
//!
//! **scale**: for 1, 2 and 4 workers, each on a fresh database and a fresh sandbox, a batch
//! of ≥ 20,000 plannable amendments over 40 shops (WeChat Shop, EM, ICBU, WeChat Channels and
//! the 1688 open platform, eight shops each, each its own credential and quota), timed from the
//! first worker's start to the last one's exit: `scale_per_s/N` (amendments per second),
//! `scale_rate_use/N` (the least time the batch can take at full quota use, as the `rate` part
//! computes it, over the measured time), `scale_rate_rejections/N` (the emulators'
//! `rate_limited`), `scale_lost/N` and `scale_doubled/N`.
//!
//! **chaos --workers N**: the batch of the default chaos run (the platforms with an order
//! read, two shops each, refused lines kept), N workers draining it; 20 times (`--kills`) a
//! seeded worker is SIGKILLed once the emulators have counted a seeded number of further
//! requests (plus a seeded 0–30 ms), and started again at once. When every worker has
//! exited: `workers_killed`, `lost`, `doubled` and the rest of the chaos check.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::bench::{BATCH_PLATFORMS, Figure, least_seconds};
use crate::chaos::{
    BatchShape, CHAOS_SHAPE, Options, READ_PREFIXES, Rng, Sandbox, Tally, scratch, wait_deadline,
    write_batch_of,
};

// ---------------------------------------------------------------------------------- pieces

/// A durable throwaway PostgreSQL cluster, stopped when this process ends.
pub struct Postgres(pg_throwaway::Cluster);

impl Postgres {
    /// Starts a cluster with [`pg_throwaway::Options::DURABLE`].
    pub fn start() -> Result<Postgres, String> {
        caught("cannot start PostgreSQL", || {
            pg_throwaway::Cluster::start(pg_throwaway::Options::DURABLE)
        })
        .map(Postgres)
    }

    /// The URL of a new, empty database.
    pub fn fresh_database(&self) -> Result<String, String> {
        caught("cannot create a database", || self.0.fresh_database())
    }
}

/// `f()`, with a panic (how `pg-throwaway` reports a failure) turned into an error, so one
/// bench part failing leaves the others running.
fn caught<T>(what: &str, f: impl FnOnce() -> T) -> Result<T, String> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).map_err(|p| {
        let why = p
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| p.downcast_ref::<&str>().copied())
            .unwrap_or("(no message)");
        format!("{what}: {why}")
    })
}

/// `ordermod SUB -c CONFIG --journal URL` with the sandbox's secrets in the environment.
fn ordermod_on(ordermod: &Path, sb: &Sandbox, sub: &str, journal: &str) -> Command {
    let mut cmd = Command::new(ordermod);
    cmd.arg(sub)
        .arg("-c")
        .arg(&sb.config)
        .arg("--journal")
        .arg(journal)
        .envs(sb.env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null());
    cmd
}

/// `ordermod apply BATCH --enqueue`: records every line as queued; fails unless it says it
/// queued `lines` of them.
fn enqueue(
    ordermod: &Path,
    sb: &Sandbox,
    journal: &str,
    batch: &Path,
    lines: usize,
) -> Result<(), String> {
    let out = ordermod_on(ordermod, sb, "apply", journal)
        .arg(batch)
        .arg("--enqueue")
        .output()
        .map_err(|e| format!("cannot run ordermod apply --enqueue: {e}"))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        return Err(format!(
            "ordermod apply --enqueue failed ({}): {}{}",
            out.status,
            stdout.trim(),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    match enqueued(&stdout) {
        Some(n) if n == lines => Ok(()),
        Some(n) => Err(format!(
            "ordermod apply --enqueue queued {n} of {lines} lines"
        )),
        None => Err(format!(
            "ordermod apply --enqueue printed no `enqueued: N`: {}",
            stdout.trim()
        )),
    }
}

/// The `N` of an `enqueued: N` line.
fn enqueued(stdout: &str) -> Option<usize> {
    stdout
        .lines()
        .find_map(|l| l.trim().strip_prefix("enqueued:"))
        .and_then(|n| n.trim().parse().ok())
}

/// The number of lines of a file.
fn count_lines(path: &Path) -> Result<usize, String> {
    Ok(std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?
        .lines()
        .count())
}

/// `ordermod worker -c CONFIG --journal URL --until-empty`, with the sandbox's secrets.
fn worker_command(ordermod: &Path, sb: &Sandbox, journal: &str) -> Box<dyn Fn() -> Command> {
    let ordermod = ordermod.to_owned();
    let config = sb.config.clone();
    let env = sb.env.clone();
    let journal = journal.to_owned();
    Box::new(move || {
        let mut cmd = Command::new(&ordermod);
        cmd.arg("worker")
            .arg("-c")
            .arg(&config)
            .arg("--journal")
            .arg(&journal)
            .arg("--until-empty")
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null());
        cmd
    })
}

/// N `ordermod worker --until-empty` processes, each in a slot that can be killed and
/// started again; every one still running is killed when this is dropped.
struct Fleet {
    command: Box<dyn Fn() -> Command>,
    logs: PathBuf,
    slots: Vec<Option<Child>>,
    /// Processes started so far (names the log files).
    started: usize,
}

impl Fleet {
    /// Starts `n` processes of `command()`; their standard output and error go to
    /// `logs/worker-<slot>-<start>.log`.
    fn start(command: Box<dyn Fn() -> Command>, n: usize, logs: &Path) -> Result<Fleet, String> {
        let mut fleet = Fleet {
            command,
            logs: logs.to_owned(),
            slots: (0..n).map(|_| None).collect(),
            started: 0,
        };
        for slot in 0..n {
            fleet.spawn(slot)?;
        }
        Ok(fleet)
    }

    fn spawn(&mut self, slot: usize) -> Result<(), String> {
        let log = self
            .logs
            .join(format!("worker-{slot}-{}.log", self.started));
        let out =
            File::create(&log).map_err(|e| format!("cannot create {}: {e}", log.display()))?;
        let err = out.try_clone().map_err(|e| e.to_string())?;
        let child = (self.command)()
            .stdout(out)
            .stderr(err)
            .spawn()
            .map_err(|e| format!("cannot start ordermod worker: {e}"))?;
        self.started += 1;
        self.slots[slot] = Some(child);
        Ok(())
    }

    /// Whether the worker in `slot` is still running.
    fn running(&mut self, slot: usize) -> bool {
        self.slots[slot]
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// Whether every worker has exited.
    fn all_exited(&mut self) -> bool {
        (0..self.slots.len()).all(|s| !self.running(s))
    }

    /// SIGKILLs the worker in `slot`, waits for it, and starts a new one in its place.
    fn kill_and_restart(&mut self, slot: usize) -> Result<(), String> {
        if let Some(mut child) = self.slots[slot].take() {
            child
                .kill()
                .map_err(|e| format!("cannot kill ordermod worker: {e}"))?; // SIGKILL
            let _ = child.wait();
        }
        self.spawn(slot)
    }

    /// Waits for every worker to exit (killing them all past `limit`); fails when one exited
    /// other than with 0.
    fn wait_all(&mut self, limit: Duration) -> Result<(), String> {
        let end = Instant::now() + limit;
        let mut failed: Vec<(usize, ExitStatus)> = Vec::new();
        for (slot, child) in self.slots.iter_mut().enumerate() {
            let Some(child) = child.as_mut() else {
                continue;
            };
            let left = end.saturating_duration_since(Instant::now());
            let status = wait_deadline(child, left).map_err(|e| {
                format!(
                    "ordermod worker {slot} did not finish: {e} (logs in {})",
                    self.logs.display()
                )
            })?;
            if !status.success() {
                failed.push((slot, status));
            }
        }
        if failed.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "ordermod worker exited with failure: {failed:?} (logs in {})",
                self.logs.display()
            ))
        }
    }
}

impl Drop for Fleet {
    fn drop(&mut self) {
        for child in self.slots.iter_mut().flatten() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Each queued amendment's order and status, in queue order, read from the queue table with
/// `psql`: the line status a worker recorded when it finished the row (`applied`,
/// `already_done`, `confirmed_by_read`, `rejected`, `failed`, `in_doubt`, …: the words of an
/// `apply` report, which [`Tally`] reads), else the row's state (`queued`, `claimed`).
fn queue_statuses(journal: &str) -> Result<Vec<(String, String)>, String> {
    let out = Command::new(psql())
        .arg(journal)
        .args([
            "-X",
            "-q",
            "-t",
            "-A",
            "-F",
            "\t",
            "-v",
            "ON_ERROR_STOP=1",
            "-c",
            "SELECT order_id, coalesce(outcome, state) FROM queue ORDER BY id",
        ])
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run psql: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "psql could not read the queue ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(parse_rows(&String::from_utf8_lossy(&out.stdout)))
}

/// `psql`: on the `PATH`, else beside the newest server binaries Debian installs.
fn psql() -> PathBuf {
    let on_path = std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join("psql").is_file()));
    if on_path {
        return PathBuf::from("psql");
    }
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let v = e.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = e.path().join("bin").join("psql");
            bin.is_file().then_some((v, bin))
        })
        .collect();
    found.sort();
    found
        .pop()
        .map_or_else(|| PathBuf::from("psql"), |(_, p)| p)
}

/// `psql -tA -F '\t'` rows of two columns.
fn parse_rows(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|l| l.split_once('\t'))
        .map(|(a, b)| (a.to_owned(), b.to_owned()))
        .collect()
}

/// The order ids of a batch's lines, in order (lines naming no order id are skipped).
fn batch_orders(batch: &Path) -> Result<Vec<String>, String> {
    let text = std::fs::read_to_string(batch).map_err(|e| format!("cannot read batch: {e}"))?;
    Ok(text
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter_map(|v| {
            let o = v.get("order")?;
            o.get("id")
                .and_then(Value::as_str)
                .or_else(|| o.as_str())
                .map(str::to_owned)
        })
        .collect())
}

// ----------------------------------------------------------------------------------- scale

/// Shops a platform gets in the scale batch: 5 platforms × 8 = 40 shops.
const SCALE_SHOPS_PER_PLATFORM: usize = 8;
/// Example lines generated a platform; about three in four are plannable, which leaves over
/// 4,000 a platform and over 20,000 in all.
const SCALE_PER_PLATFORM: usize = 5_600;
/// Worker counts measured.
const SCALE_WORKERS: [usize; 3] = [1, 2, 4];
/// At least this many amendments, as the issue asks.
const SCALE_MIN_LINES: usize = 20_000;

/// `cargo xtask bench --only scale`.
pub fn bench(root: &Path) -> Result<Vec<Figure>, String> {
    let ordermod = crate::chaos::build_ordermod(root)?;
    let dir = scratch(root, "bench-scale")?;
    let batch = write_batch_of(
        &ordermod,
        &dir,
        BatchShape {
            per_platform: SCALE_PER_PLATFORM,
            shops_per_platform: SCALE_SHOPS_PER_PLATFORM,
            with_vvtool: false,
            only_plannable: true,
        },
        &BATCH_PLATFORMS,
    )?;
    let lines = count_lines(&batch)?;
    if lines < SCALE_MIN_LINES {
        return Err(format!(
            "the scale batch has {lines} plannable lines, fewer than {SCALE_MIN_LINES}"
        ));
    }
    let orders = batch_orders(&batch)?;
    let pg = Postgres::start()?;
    let mut figures = Vec::new();
    for n in SCALE_WORKERS {
        let run_dir = dir.join(format!("workers-{n}"));
        std::fs::create_dir_all(&run_dir).map_err(|e| e.to_string())?;
        let fs = scale_run(&ordermod, &pg, &batch, &orders, n, &run_dir)?;
        for f in &fs {
            eprintln!("scale: {}: {}  ({})", f.name, f.value, f.note);
        }
        figures.extend(fs);
    }
    Ok(figures)
}

/// One run of the scale bench with `n` workers on a fresh database and a fresh sandbox.
fn scale_run(
    ordermod: &Path,
    pg: &Postgres,
    batch: &Path,
    orders: &[String],
    n: usize,
    dir: &Path,
) -> Result<Vec<Figure>, String> {
    let lines = orders.len();
    let url = pg.fresh_database()?;
    let sb = Sandbox::start(ordermod, batch, 1, dir)?;
    let queued_at = Instant::now();
    enqueue(ordermod, &sb, &url, batch, lines)?;
    let enqueue_secs = queued_at.elapsed().as_secs_f64();
    let started = Instant::now();
    let mut fleet = Fleet::start(worker_command(ordermod, &sb, &url), n, dir)?;
    fleet.wait_all(Duration::from_secs(240))?;
    let secs = started.elapsed().as_secs_f64();

    let total = sb.stat_sum("total_requests")?;
    let limited = sb.stat_sum("rate_limited")?;
    let accepted = total - limited;
    let config = std::fs::read_to_string(&sb.config).map_err(|e| e.to_string())?;
    let text = std::fs::read_to_string(batch).map_err(|e| e.to_string())?;
    let least = least_seconds(&config, &text);
    let statuses = queue_statuses(&url)?;
    let t = Tally::of(&statuses, &sb.changes_per_order()?, &sb.moves_per_order()?);
    // Every line of this batch is plannable, so each of its orders must have changed once;
    // an order the queue does not name at all is lost too.
    let named: std::collections::BTreeSet<&str> =
        statuses.iter().map(|(o, _)| o.as_str()).collect();
    let missing = orders
        .iter()
        .filter(|o| !named.contains(o.as_str()))
        .count() as u64;
    let not_applied = lines.saturating_sub(t.applied);
    Ok(vec![
        Figure::new(
            format!("scale_per_s/{n}"),
            format!("{:.0}", lines as f64 / secs),
        )
        .note(format!(
            "{lines} amendments over {} shops in {secs:.1} s (enqueued in {enqueue_secs:.1} s)",
            sb.shops
        )),
        Figure::new(
            format!("scale_rate_use/{n}"),
            format!("{:.3}", least / secs),
        )
        .target(if n == 4 { ">= 0.97" } else { "" })
        .note(format!(
            "{accepted} requests in {secs:.1} s = {:.1}/s vs quotas {}/s; {least:.1} s at \
                 full quota for the slowest credential",
            accepted as f64 / secs,
            sb.quota_sum
        )),
        Figure::new(format!("scale_rate_rejections/{n}"), limited.to_string())
            .target("0")
            .note("emulators' rate_limited replies"),
        Figure::new(format!("scale_lost/{n}"), (t.lost + missing).to_string())
            .target("0")
            .note(format!(
                "{} applied of {lines}; {not_applied} not applied ({} failed, {} in doubt); \
                 {missing} not in the queue",
                t.applied, t.failed, t.in_doubt
            )),
        Figure::new(format!("scale_doubled/{n}"), t.doubled.len().to_string())
            .target("0")
            .note(format!(
                "orders changed more than once; {} changed but not reported applied",
                t.unexpected.len()
            )),
    ])
}

// ----------------------------------------------------------------------------------- chaos

/// How long the workers of `chaos --workers` may take to drain the queue, kills included (a
/// run takes ~100 s: each kill leaves the killed worker's rows to their 30 s lease).
const CHAOS_LIMIT: Duration = Duration::from_secs(300);

/// `cargo xtask chaos --workers N`.
pub fn chaos_workers(
    root: &Path,
    ordermod: &Path,
    opts: &Options,
    workers: u32,
    say: &dyn Fn(String),
) -> Result<String, String> {
    let n = workers as usize;
    let dir = scratch(root, "chaos-workers")?;
    let batch = write_batch_of(ordermod, &dir, CHAOS_SHAPE, &READ_PREFIXES)?;
    let lines = count_lines(&batch)?;
    let pg = Postgres::start()?;
    let url = pg.fresh_database()?;
    let sb = Sandbox::start(ordermod, &batch, opts.seed, &dir)?;
    enqueue(ordermod, &sb, &url, &batch, lines)?;
    let mut rng = Rng::seeded(opts.seed);
    let gap = kill_gap(lines, opts.kills);
    let started = Instant::now();
    let mut fleet = Fleet::start(worker_command(ordermod, &sb, &url), n, &dir)?;
    let mut kills = 0u32;
    let mut drained_early = false;
    'kills: while kills < opts.kills {
        let target = sb.stat_sum("total_requests")? + rng.range(1, 2 * gap - 1);
        while sb.stat_sum("total_requests")? < target {
            if fleet.all_exited() {
                drained_early = true;
                break 'kills;
            }
            if started.elapsed() > CHAOS_LIMIT {
                return Err(format!(
                    "chaos --workers: still draining after {} s, {kills} kills made (logs in {})",
                    CHAOS_LIMIT.as_secs(),
                    dir.display()
                ));
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        std::thread::sleep(Duration::from_millis(rng.range(0, 30)));
        // A seeded draw among the workers still running (one that found nothing left to
        // claim may have exited already).
        let live: Vec<usize> = (0..n).filter(|&s| fleet.running(s)).collect();
        let Some(last) = live.len().checked_sub(1) else {
            drained_early = true;
            break;
        };
        let pick = usize::try_from(rng.range(0, last as u64)).unwrap_or(0);
        fleet.kill_and_restart(live[pick])?;
        kills += 1;
    }
    let left = CHAOS_LIMIT.saturating_sub(started.elapsed());
    fleet.wait_all(left)?;
    let secs = started.elapsed().as_secs_f64();
    let statuses = queue_statuses(&url)?;
    let t = Tally::of(&statuses, &sb.changes_per_order()?, &sb.moves_per_order()?);
    let unfinished = statuses
        .iter()
        .filter(|(_, s)| matches!(s.as_str(), "queued" | "claimed"))
        .count();
    say(format!("chaos_workers: {workers}"));
    say(format!("workers_killed: {kills}"));
    t.say("", say);
    say(format!("confirmed_by_read: {}", t.confirmed_by_read));
    say(format!("in_doubt: {}", t.in_doubt));
    say(format!("in_doubt_landed: {}", t.in_doubt_landed));
    say(format!("unfinished: {unfinished}"));
    say(format!("chaos_workers_secs: {secs:.1}"));
    if drained_early {
        say(format!(
            "note: the queue drained after {kills} kills, before {} were made",
            opts.kills
        ));
    }
    eprintln!(
        "chaos --workers {workers}: details in {} (worker logs, config; the database is gone \
         with the cluster)",
        dir.display()
    );
    Ok(String::new())
}

/// The mean number of emulator requests between two kills: the kills spread over the first
/// ~80% of the sends expected (about three lines in four of the chaos batch are sent).
fn kill_gap(lines: usize, kills: u32) -> u64 {
    (lines as u64 * 3 / 4 * 8 / 10 / u64::from(kills.max(1))).max(2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_enqueued_count() {
        assert_eq!(enqueued("enqueued: 20160\n"), Some(20_160));
        assert_eq!(enqueued("note: x\n  enqueued: 3  \n"), Some(3));
        assert_eq!(enqueued("queued 3\n"), None);
    }

    #[test]
    fn reads_psql_rows() {
        assert_eq!(
            parse_rows("371\tapplied\nICBU-9\tconfirmed_by_read\n\n72\tqueued\n"),
            [
                ("371".to_owned(), "applied".to_owned()),
                ("ICBU-9".to_owned(), "confirmed_by_read".to_owned()),
                ("72".to_owned(), "queued".to_owned()),
            ]
        );
    }

    #[test]
    fn the_tally_counts_lost_doubled_and_unexpected_changes() {
        let statuses: Vec<(String, String)> = [
            ("a", "applied"),
            ("b", "applied"),
            ("c", "confirmed_by_read"),
            ("d", "refused"),
            ("e", "in_doubt"),
        ]
        .iter()
        .map(|(o, s)| ((*o).to_owned(), (*s).to_owned()))
        .collect();
        let map = |kv: &[(&str, u64)]| -> std::collections::BTreeMap<String, u64> {
            kv.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect()
        };
        // b never changed (lost), c changed twice (doubled), d changed though refused, e
        // landed while in doubt.
        let changes = map(&[("a", 1), ("c", 2), ("d", 1), ("e", 1)]);
        let moves = map(&[("a", 1), ("c", 1), ("d", 1), ("e", 1)]);
        let t = Tally::of(&statuses, &changes, &moves);
        assert_eq!(t.lost, 1);
        assert_eq!(t.doubled, vec!["c".to_owned()]);
        assert_eq!(t.moved_twice, 0);
        assert_eq!(t.unexpected, vec!["d".to_owned()]);
        assert_eq!((t.applied, t.confirmed_by_read), (3, 1));
        assert_eq!((t.in_doubt, t.in_doubt_landed), (1, 1));
    }

    #[test]
    fn batch_orders_reads_snapshots_and_ids() {
        let dir = std::env::temp_dir().join(format!("xtask-scale-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("b.jsonl");
        std::fs::write(
            &path,
            "{\"order\":{\"currency\":\"CNY\",\"id\":\"371\",\"lines\":[{\"id\":\"371-0\"}]},\"shop\":\"w\"}\n\
             {\"order\":\"ICBU-9\",\"shop\":\"icbu-s0\"}\n\
             not json\n",
        )
        .unwrap();
        assert_eq!(batch_orders(&path).unwrap(), vec!["371", "ICBU-9"]);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn kills_spread_over_most_of_the_sends() {
        // 800 lines, ~600 sent, 20 kills: one every 24 requests on average.
        assert_eq!(kill_gap(800, 20), 24);
        assert_eq!(kill_gap(3, 20), 2);
        assert_eq!(kill_gap(800, 0), 480);
    }

    fn scratch_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("xtask-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn sh(script: &'static str) -> Box<dyn Fn() -> Command> {
        Box::new(move || {
            let mut c = Command::new("/bin/sh");
            c.args(["-c", script]);
            c
        })
    }

    #[test]
    fn a_killed_worker_is_replaced_and_every_start_keeps_its_log() {
        let dir = scratch_dir("fleet-kill");
        // Workers that run until killed.
        let mut fleet = Fleet::start(sh("echo up; exec sleep 600"), 2, &dir).unwrap();
        assert!(fleet.running(0) && fleet.running(1));
        let first = fleet.slots[1].as_ref().unwrap().id();
        fleet.kill_and_restart(1).unwrap();
        assert!(fleet.running(1));
        assert_ne!(fleet.slots[1].as_ref().unwrap().id(), first);
        assert_eq!(fleet.started, 3);
        assert!(!fleet.all_exited());
        drop(fleet);
        let mut logs: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        logs.sort();
        assert_eq!(logs, ["worker-0-0.log", "worker-1-1.log", "worker-1-2.log"]);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn waiting_for_the_fleet_fails_when_a_worker_fails() {
        let dir = scratch_dir("fleet-exit");
        let mut ok = Fleet::start(sh("exit 0"), 3, &dir).unwrap();
        assert_eq!(ok.wait_all(Duration::from_secs(60)), Ok(()));
        assert!(ok.all_exited());
        let mut bad = Fleet::start(sh("exit 3"), 1, &dir).unwrap();
        let e = bad.wait_all(Duration::from_secs(60)).unwrap_err();
        assert!(e.contains("exited with failure"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_panic_becomes_an_error() {
        let e = caught("cannot start", || -> u32 { panic!("no initdb") }).unwrap_err();
        assert_eq!(e, "cannot start: no initdb");
        assert_eq!(caught("x", || 3), Ok(3));
    }
}
