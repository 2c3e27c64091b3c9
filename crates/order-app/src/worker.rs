//! Workers: `ordermod apply --enqueue` queues amendments in the PostgreSQL journal, and any
//! number of `ordermod worker` processes, on any machines, apply them.
//!
//! A worker holds **credential leases** (one worker at a time per credential, the key its rate
//! limiter paces by) and claims queued amendments only of shops whose credential it holds, so
//! the in-process limiter of the one holder keeps the platform's quota exact and no request
//! waits on the database. Credentials are spread evenly over the live workers: every
//! heartbeat a worker holding more than `ceil(credentials with work / live workers)` stops
//! claiming for the surplus and lets each go once its amendments in flight are done; a worker
//! with less takes free or expired ones. A worker that takes a credential waits one quota
//! window ([`QUOTA_WINDOW`]) before its first send with it, so the previous holder's last
//! requests and the new holder's first ones never add up to more than the quota allows.
//!
//! Each claimed amendment is applied exactly as `apply` applies it ([`App::apply_with`]); its
//! line status is recorded on the queue row and its outcome in the journal. A worker that dies
//! loses nothing: its leases expire, another worker takes its rows over, and the journal's
//! in-doubt rule settles an amendment it had left `sent` (`verify` reads the order where the
//! platform has a read). See `docs/architecture.md` (Workers and their leases) and decisions
//! D17 (the queue) and D18 (credential leases).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use order_domain::{JournalError, ShopId};
use order_journal::{Claimed, Enqueued, NewItem, Queue};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::app::{App, ApplyOptions, InDoubt};
use crate::batch::report_of;
use crate::config::Config;
use crate::input::{AmendmentLine, InputItem, LineReader, derive_key};
use crate::report::{LineReport, LineStatus};

/// How long a worker waits after taking a credential before it sends with it: one window of a
/// per-second quota, so that the requests of the previous holder (which stopped before its
/// lease ran out) and of the new one never meet in one window.
pub const QUOTA_WINDOW: Duration = Duration::from_secs(1);

/// The default lease: a worker that stops renewing loses its rows and credentials this long
/// after its last heartbeat.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(30);

/// Amendments of one credential in flight at once in one worker (they queue on its limiter;
/// bounded so that each leaves well within the lease).
pub const PER_CREDENTIAL_IN_FLIGHT: usize = 8;

/// The longest time between two heartbeats (each renews the leases and rebalances the
/// credentials; a credential that changes hands is idle for about one quota window plus this).
const MAX_TICK: Duration = Duration::from_millis(500);

/// How often an idle worker looks at the queue again.
const IDLE_POLL: Duration = Duration::from_millis(100);

/// How a worker runs.
#[derive(Debug, Clone)]
pub struct WorkerOptions {
    /// The worker's id (unique among the workers of a journal).
    pub id: String,
    /// Amendments in flight at once (at least 1).
    pub concurrency: usize,
    /// Exit once nothing is queued or claimed, by this worker or any other.
    pub until_empty: bool,
    /// The lease on claimed rows, held credentials and the worker's heartbeat.
    pub lease: Duration,
    /// What to do with an amendment left `sent` (by a dead worker, or an interrupted `apply`).
    pub in_doubt: InDoubt,
}

impl WorkerOptions {
    /// Options with a fresh id (`HOST-PID-RANDOM`) and the defaults.
    pub fn new() -> Self {
        WorkerOptions {
            id: format!(
                "{}-{}-{:04x}",
                host(),
                std::process::id(),
                fastrand::u16(..)
            ),
            concurrency: crate::DEFAULT_CONCURRENCY,
            until_empty: false,
            lease: DEFAULT_LEASE,
            in_doubt: InDoubt::Verify,
        }
    }
}

impl Default for WorkerOptions {
    fn default() -> Self {
        WorkerOptions::new()
    }
}

/// This machine's host name (`unknown` when it cannot be read).
pub fn host() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.is_empty())
        .or_else(|| {
            std::fs::read_to_string("/proc/sys/kernel/hostname")
                .ok()
                .map(|h| h.trim().to_owned())
        })
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "unknown".to_owned())
}

/// One amendment a worker finished.
#[derive(Debug, Clone)]
pub struct Finished {
    /// The queue row as claimed.
    pub row: Claimed,
    /// Its result, as `apply` reports a line (`line` is the queue row's id).
    pub report: LineReport,
    /// False when the worker had lost the row (its lease expired and another worker took it
    /// over) before it could record the outcome on the queue (the journal has it).
    pub recorded: bool,
}

/// What one worker did, by line status.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WorkerSummary {
    /// The worker's id.
    pub id: String,
    /// Finished amendments by line status (`applied`, `rejected`, ...).
    pub by_status: BTreeMap<&'static str, u64>,
    /// Rows lost to another worker before their outcome was recorded on the queue.
    pub lost: u64,
    /// Rows claimed before by another worker (one that died, stopped or failed with it).
    pub taken_over: u64,
}

impl WorkerSummary {
    fn count(&self, s: LineStatus) -> u64 {
        self.by_status.get(s.as_str()).copied().unwrap_or(0)
    }

    /// The one-line summary printed at exit.
    pub fn line(&self) -> String {
        let applied = self.count(LineStatus::Applied)
            + self.count(LineStatus::Confirmed)
            + self.count(LineStatus::ConfirmedByRead);
        format!(
            "worker {}: applied {applied}, rejected {}, failed {}, undelivered {}, in doubt {}, \
             flagged {}, already done {}, input errors {}, taken over {}, lost {}",
            self.id,
            self.count(LineStatus::Rejected),
            self.count(LineStatus::Failed),
            self.count(LineStatus::Undelivered),
            self.count(LineStatus::InDoubt),
            self.count(LineStatus::Flagged),
            self.count(LineStatus::AlreadyDone),
            self.count(LineStatus::InputError),
            self.taken_over,
            self.lost,
        )
    }
}

/// Why a worker stopped before it was asked to.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WorkerError {
    /// The journal or the queue failed: the worker stops claiming, finishes what is in flight
    /// and gives its rows back (another worker resumes them).
    #[error("the journal failed, the worker stopped: {0}")]
    Journal(#[from] JournalError),
}

/// A credential this worker holds.
#[derive(Debug)]
struct Held {
    /// No send with it before this (one quota window after it was taken).
    ready_at: Instant,
    /// Over the fair share: no more claims; released once nothing of it is in flight.
    draining: bool,
}

/// `ceil(credentials / workers)`: the most credentials one worker should hold.
///
/// Counted over the credentials the configuration names, not over those with work left: the
/// latter shrinks as shops finish, and would make workers hand over credentials that still
/// have work (each handover idles the credential for a quota window) for no gain, since a
/// credential's throughput is its quota whoever holds it. Credentials without work are let go
/// anyway, so a worker never sits on an idle one.
pub fn fair_share(credentials: usize, live_workers: u64) -> usize {
    let workers = usize::try_from(live_workers.max(1)).unwrap_or(usize::MAX);
    credentials.div_ceil(workers)
}

/// A worker: an app (shops, journal), the queue and each shop's credential.
#[derive(Debug)]
pub struct Worker {
    app: App,
    queue: Queue,
    /// Each shop's credential identity (what its rate limiter is keyed on).
    credential_of: BTreeMap<String, String>,
    options: WorkerOptions,
}

/// Each configured shop's credential identity.
pub fn credentials_of(config: &Config) -> BTreeMap<String, String> {
    config
        .shops
        .iter()
        .map(|s| {
            (
                s.id.to_string(),
                s.platform.credential_identity(&s.credentials),
            )
        })
        .collect()
}

impl Worker {
    /// A worker over `app` (whose journal must be the queue's journal), with the credential of
    /// each shop (see [`credentials_of`]).
    pub fn new(
        app: App,
        queue: Queue,
        credential_of: BTreeMap<String, String>,
        options: WorkerOptions,
    ) -> Self {
        Worker {
            app,
            queue,
            credential_of,
            options,
        }
    }

    /// Runs until `stop` turns true (then: no more claims, the amendments in flight finish,
    /// leases are given back) or, with `until_empty`, until nothing is queued or claimed.
    /// `on_done` is called with each finished amendment.
    pub async fn run(
        self,
        mut stop: watch::Receiver<bool>,
        mut on_done: impl FnMut(&Finished),
    ) -> Result<WorkerSummary, WorkerError> {
        let result = self.run_inner(&mut stop, &mut on_done).await;
        // Whatever happened: give back what this worker holds so others take it at once.
        let left = self.queue.leave(&self.options.id).await;
        let summary = result?;
        left?;
        Ok(summary)
    }

    async fn run_inner(
        &self,
        stop: &mut watch::Receiver<bool>,
        on_done: &mut impl FnMut(&Finished),
    ) -> Result<WorkerSummary, WorkerError> {
        let o = &self.options;
        let id = o.id.as_str();
        let lease = o.lease;
        let tick = (lease / 6).clamp(Duration::from_millis(50), MAX_TICK);
        let apply_options = ApplyOptions {
            in_doubt: o.in_doubt,
            refresh: false,
            confirm: false,
        };
        let mut summary = WorkerSummary {
            id: o.id.clone(),
            ..WorkerSummary::default()
        };
        let mut held: BTreeMap<String, Held> = BTreeMap::new();
        let mut per_credential: HashMap<String, usize> = HashMap::new();
        let mut tasks: JoinSet<(Claimed, Result<LineReport, JournalError>)> = JoinSet::new();
        let mut failure: Option<JournalError> = None;
        let mut deadline = Instant::now();
        let mut next_tick = Instant::now();
        let mut stop_open = true;
        let pid = std::process::id();
        let host = host();
        loop {
            let stopping = *stop.borrow() || failure.is_some();
            let now = Instant::now();
            if now >= next_tick && failure.is_none() {
                match self
                    .rebalance(&host, pid, lease, stopping, &mut held, &per_credential)
                    .await
                {
                    Ok(d) => deadline = d,
                    Err(e) => {
                        failure = Some(e);
                        continue;
                    }
                }
                next_tick = Instant::now() + tick;
            }
            if stopping && tasks.is_empty() {
                break;
            }
            // Claim only while the lease leaves the new rows time to leave.
            let mut claimed_any = false;
            let room = o.concurrency.max(1).saturating_sub(tasks.len());
            if !stopping && room > 0 && Instant::now() + lease / 2 < deadline {
                let now = Instant::now();
                let ready: BTreeSet<&str> = held
                    .iter()
                    .filter(|(c, h)| {
                        !h.draining
                            && h.ready_at <= now
                            && per_credential.get(*c).copied().unwrap_or(0)
                                < PER_CREDENTIAL_IN_FLIGHT
                    })
                    .map(|(c, _)| c.as_str())
                    .collect();
                let shops: Vec<String> = self
                    .credential_of
                    .iter()
                    .filter(|(_, c)| ready.contains(c.as_str()))
                    .map(|(s, _)| s.clone())
                    .collect();
                let cap: usize = ready
                    .iter()
                    .map(|c| {
                        PER_CREDENTIAL_IN_FLIGHT
                            .saturating_sub(per_credential.get(*c).copied().unwrap_or(0))
                    })
                    .sum();
                let want = room.min(cap);
                let limit = u32::try_from(want).unwrap_or(u32::MAX);
                // Claims come in batches, not one per finished amendment (each is a query):
                // when half a credential's worth of room is free, or nothing is in flight.
                let worth = want >= (PER_CREDENTIAL_IN_FLIGHT / 2).min(room) || tasks.is_empty();
                if !shops.is_empty() && limit > 0 && worth {
                    match self.queue.claim(id, &shops, limit, lease).await {
                        Ok(rows) => {
                            for row in rows {
                                claimed_any = true;
                                if row.attempts > 1 {
                                    summary.taken_over += 1;
                                }
                                let credential = self.credential_of[&row.shop].clone();
                                *per_credential.entry(credential).or_default() += 1;
                                let app = self.app.clone();
                                tasks.spawn(async move {
                                    let r = apply_row(&app, &row, apply_options).await;
                                    (row, r)
                                });
                            }
                        }
                        Err(e) => {
                            failure = Some(e);
                            continue;
                        }
                    }
                }
            }
            if o.until_empty && !claimed_any && tasks.is_empty() && !stopping {
                match self.queue.unfinished().await {
                    Ok(0) => break,
                    Ok(_) => {}
                    Err(e) => {
                        failure = Some(e);
                        continue;
                    }
                }
            }
            if claimed_any {
                continue;
            }
            // Wait for an amendment to finish, the next heartbeat, a poll or the stop signal.
            let wake = next_tick.min(Instant::now() + IDLE_POLL);
            tokio::select! {
                Some(done) = tasks.join_next(), if !tasks.is_empty() => {
                    self.settle(done, &mut summary, &mut per_credential, &mut failure, on_done)
                        .await;
                }
                _ = tokio::time::sleep_until(wake) => {}
                changed = stop.changed(), if !stopping && stop_open => {
                    // A dropped sender can no longer ask to stop (and would wake this at once).
                    stop_open = changed.is_ok();
                }
            }
            // Settle everything else that is done without waiting.
            while let Some(done) = tasks.try_join_next() {
                self.settle(
                    done,
                    &mut summary,
                    &mut per_credential,
                    &mut failure,
                    on_done,
                )
                .await;
            }
            // A drained credential goes at once: the worker that takes it waits out the rest
            // of a quota window from now, not from the next heartbeat.
            let drained: Vec<String> = held
                .iter()
                .filter(|(c, h)| h.draining && per_credential.get(*c).copied().unwrap_or(0) == 0)
                .map(|(c, _)| c.clone())
                .collect();
            for c in drained {
                if let Err(e) = self.queue.release_credential(id, &c).await {
                    failure.get_or_insert(e);
                    break;
                }
                held.remove(&c);
            }
        }
        match failure {
            Some(e) => Err(WorkerError::Journal(e)),
            None => Ok(summary),
        }
    }

    /// Records a finished amendment on its queue row.
    async fn settle(
        &self,
        done: Result<(Claimed, Result<LineReport, JournalError>), tokio::task::JoinError>,
        summary: &mut WorkerSummary,
        per_credential: &mut HashMap<String, usize>,
        failure: &mut Option<JournalError>,
        on_done: &mut impl FnMut(&Finished),
    ) {
        let (row, result) = match done {
            Ok(d) => d,
            Err(join) => {
                failure.get_or_insert(JournalError::storage(
                    "an amendment task stopped unexpectedly",
                    join,
                ));
                return;
            }
        };
        if let Some(n) = self
            .credential_of
            .get(&row.shop)
            .and_then(|c| per_credential.get_mut(c))
        {
            *n = n.saturating_sub(1);
        }
        let report = match result {
            Ok(r) => r,
            Err(e) => {
                // Left claimed: given back when the worker leaves, or taken over after its
                // lease; the journal says how far it got.
                failure.get_or_insert(e);
                return;
            }
        };
        let recorded = match self
            .queue
            .finish(&self.options.id, row.id, report.status.as_str())
            .await
        {
            Ok(r) => r,
            Err(e) => {
                failure.get_or_insert(e);
                return;
            }
        };
        if recorded {
            *summary.by_status.entry(report.status.as_str()).or_default() += 1;
        } else {
            summary.lost += 1;
            tracing::warn!(key = %row.key, "lost the queue row to another worker before recording its outcome");
        }
        on_done(&Finished {
            row,
            report,
            recorded,
        });
    }

    /// The heartbeat and the fair share: renews this worker's leases, forgets the credentials
    /// it lost, lets go of its surplus, takes free ones up to its share. Returns until when
    /// (locally) the leases hold.
    async fn rebalance(
        &self,
        host: &str,
        pid: u32,
        lease: Duration,
        stopping: bool,
        held: &mut BTreeMap<String, Held>,
        per_credential: &HashMap<String, usize>,
    ) -> Result<Instant, JournalError> {
        let id = self.options.id.as_str();
        // Measured from before the call: the server's expiry is at least this late.
        let sent = Instant::now();
        let beat = self.queue.heartbeat(id, host, pid, lease).await?;
        let deadline = sent + lease;
        let still: BTreeSet<&String> = beat.held.iter().collect();
        held.retain(|c, _| {
            let kept = still.contains(c);
            if !kept {
                tracing::warn!(credential = %c, "lost a credential lease");
            }
            kept
        });
        let busy = |c: &str| per_credential.get(c).copied().unwrap_or(0) > 0;
        let with_work: BTreeSet<String> = self
            .queue
            .shops_with_work()
            .await?
            .into_iter()
            .filter_map(|s| self.credential_of.get(&s).cloned())
            .collect();
        let share = if stopping {
            0
        } else {
            fair_share(
                self.credential_of.values().collect::<BTreeSet<_>>().len(),
                beat.live_workers,
            )
        };
        // A credential without work is let go (it would count against this worker's share
        // while another worker could use it when work comes); over the share, the last ones
        // are marked draining.
        for (c, h) in held.iter_mut() {
            if !with_work.contains(c) {
                h.draining = true;
            }
        }
        let active: Vec<String> = held
            .iter()
            .filter(|(_, h)| !h.draining)
            .map(|(c, _)| c.clone())
            .collect();
        let over = active.len().saturating_sub(share);
        for c in active.iter().rev().take(over) {
            if let Some(h) = held.get_mut(c) {
                h.draining = true;
            }
        }
        // A drained credential with work and room in the share comes back.
        let mut active_n = held.values().filter(|h| !h.draining).count();
        for (c, h) in held.iter_mut() {
            if h.draining && active_n < share && with_work.contains(c) {
                h.draining = false;
                active_n += 1;
            }
        }
        let release: Vec<String> = held
            .iter()
            .filter(|(c, h)| h.draining && !busy(c))
            .map(|(c, _)| c.clone())
            .collect();
        for c in release {
            self.queue.release_credential(id, &c).await?;
            held.remove(&c);
        }
        if active_n < share {
            // Start at a place of this worker's own, so that workers starting together try
            // different credentials first.
            let wanted: Vec<&String> = with_work
                .iter()
                .filter(|c| !held.contains_key(*c))
                .collect();
            let start = if wanted.is_empty() {
                0
            } else {
                fastrand::usize(..wanted.len())
            };
            for c in wanted[start..].iter().chain(&wanted[..start]) {
                if active_n >= share {
                    break;
                }
                if let Some(since) = self.queue.acquire_credential(id, c, lease).await? {
                    // What is left of a quota window since the previous holder stopped.
                    let wait = since.map_or(Duration::ZERO, |s| QUOTA_WINDOW.saturating_sub(s));
                    held.insert(
                        (*c).clone(),
                        Held {
                            ready_at: Instant::now() + wait,
                            draining: false,
                        },
                    );
                    active_n += 1;
                }
            }
        }
        Ok(deadline)
    }
}

/// Applies one claimed row as `apply` applies a line.
async fn apply_row(
    app: &App,
    row: &Claimed,
    options: ApplyOptions,
) -> Result<LineReport, JournalError> {
    let line_no = u64::try_from(row.id).unwrap_or(0);
    match serde_json::from_str::<AmendmentLine>(&row.line) {
        Ok(line) => report_of(line_no, &line, app.apply_with(&line, options).await),
        Err(e) => {
            let mut rep = LineReport::input(crate::input::InputError {
                line: line_no,
                order: Some(row.order_id.clone()),
                shop: Some(row.shop.clone()),
                message: format!("the queued line cannot be read: {e}"),
            });
            rep.key = Some(row.key.clone());
            Ok(rep)
        }
    }
}

/// What `apply --enqueue` did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EnqueueSummary {
    /// Amendments queued now.
    pub enqueued: u64,
    /// Amendments queued (or done) already.
    pub already_queued: u64,
    /// Lines that could not be read or checked, or reuse a queued key for another amendment.
    pub input_errors: u64,
}

/// Lines queued by one statement.
const ENQUEUE_BATCH: usize = 1000;

/// Reads every line of `input` and checks it as `apply` does (readable, a known shop, the
/// shop's platform), reports each bad line to `on_error`, and queues the rest in input order.
pub async fn enqueue<R: tokio::io::AsyncBufRead + Unpin>(
    queue: &Queue,
    shops: &BTreeMap<ShopId, crate::registry::PlatformKind>,
    input: R,
    mut on_error: impl FnMut(&LineReport),
) -> Result<EnqueueSummary, crate::batch::BatchError> {
    let mut reader = LineReader::new(input);
    let mut summary = EnqueueSummary::default();
    let mut pending: Vec<(u64, AmendmentLine, String)> = Vec::new();
    loop {
        let item = reader.next().await?;
        let done = item.is_none();
        if let Some(item) = item {
            match item {
                InputItem::Invalid(e) => {
                    summary.input_errors += 1;
                    on_error(&LineReport::input(e));
                }
                InputItem::Amendment { line, amendment } => match check_line(shops, &amendment) {
                    Ok(()) => {
                        let mut keyed = *amendment;
                        keyed.key = Some(keyed.key());
                        let json = serde_json::to_string(&keyed).map_err(|e| {
                            JournalError::storage("cannot encode an amendment line", e)
                        })?;
                        pending.push((line, keyed, json));
                    }
                    Err(message) => {
                        summary.input_errors += 1;
                        on_error(&line_error(line, &amendment, message));
                    }
                },
            }
        }
        if pending.len() >= ENQUEUE_BATCH || (done && !pending.is_empty()) {
            let keys: Vec<(String, String, String, String)> = pending
                .iter()
                .map(|(_, a, _)| {
                    (
                        a.key().to_string(),
                        a.shop.to_string(),
                        a.order_id().to_string(),
                        derive_key(&a.shop, a.order_id(), &a.set).to_string(),
                    )
                })
                .collect();
            let items: Vec<NewItem<'_>> = keys
                .iter()
                .zip(&pending)
                .map(
                    |((key, shop, order_id, fingerprint), (_, _, line))| NewItem {
                        key,
                        shop,
                        order_id,
                        fingerprint,
                        line,
                    },
                )
                .collect();
            let answers = queue.enqueue(&items).await?;
            for ((line, a, _), answer) in pending.iter().zip(answers) {
                match answer {
                    Enqueued::New => summary.enqueued += 1,
                    Enqueued::AlreadyQueued => summary.already_queued += 1,
                    Enqueued::KeyReused { shop, order_id } => {
                        summary.input_errors += 1;
                        let mut rep = line_error(
                            *line,
                            a,
                            format!(
                                "key `{}` is already queued for another amendment (shop \
                                 `{shop}`, order {order_id})",
                                a.key()
                            ),
                        );
                        rep.key = Some(a.key().to_string());
                        on_error(&rep);
                    }
                    _ => summary.input_errors += 1,
                }
            }
            pending.clear();
        }
        if done {
            return Ok(summary);
        }
    }
}

/// An input error of a readable line.
fn line_error(line: u64, a: &AmendmentLine, message: String) -> LineReport {
    LineReport::input(crate::input::InputError {
        line,
        order: Some(a.order_id().to_string()),
        shop: Some(a.shop.to_string()),
        message,
    })
}

/// The checks `apply` makes before it reads or sends anything: a configured shop, and the
/// line's platform, if named, the shop's.
fn check_line(
    shops: &BTreeMap<ShopId, crate::registry::PlatformKind>,
    line: &AmendmentLine,
) -> Result<(), String> {
    let Some(kind) = shops.get(&line.shop) else {
        return Err(format!("unknown shop `{}`", line.shop));
    };
    if let Some(named) = &line.platform
        && named != kind.name()
    {
        return Err(match crate::registry::PlatformKind::from_name(named) {
            Some(_) => format!(
                "the line says platform `{named}` but shop `{}` is on {}",
                line.shop,
                kind.name()
            ),
            None => format!("unknown platform `{named}`"),
        });
    }
    Ok(())
}

/// Shared by the worker and its tests: one App per worker process, the shops' transports
/// built from the config, the journal given.
pub fn app_from_config(
    config: &Config,
    env: &dyn crate::config::Env,
    journal: Arc<dyn order_domain::Journal>,
) -> Result<App, crate::app::AppError> {
    let mut builder = App::builder();
    let mut factory = crate::registry::PlatformFactory::new(crate::app::http_client()?);
    for shop in &config.shops {
        let credentials = shop.resolve_secrets(env)?;
        let (platform, source) = factory.build_with_source(shop, &credentials)?;
        builder = builder.shop(shop.id.clone(), platform);
        if let Some(source) = source {
            builder = builder.source(shop.id.clone(), source);
        }
        if let Some(pacer) = factory.pacer(&shop.id) {
            builder = builder.pace(shop.id.clone(), pacer);
        }
    }
    builder.journal(journal).build()
}

/// Why a queue command (`apply --enqueue`, `worker`, `status`) could not run (exit code 2).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CommandError {
    /// The configuration is wrong.
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    /// The app could not be assembled.
    #[error(transparent)]
    App(#[from] crate::app::AppError),
    /// The journal or the queue failed.
    #[error(transparent)]
    Journal(#[from] JournalError),
    /// The worker stopped on a failure.
    #[error(transparent)]
    Worker(#[from] WorkerError),
    /// The input could not be read.
    #[error(transparent)]
    Batch(#[from] crate::batch::BatchError),
    /// Output failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// The journal is not PostgreSQL.
    #[error(
        "{what} needs a PostgreSQL journal (`--journal postgres://USER@HOST/DB` or \
         `[journal] url`); {url} is not one: workers share one database"
    )]
    NeedsPostgres {
        /// What needs it.
        what: &'static str,
        /// The journal URL given (without credentials).
        url: String,
    },
}

/// Whether `url` names a PostgreSQL journal.
pub fn is_postgres(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

/// Opens the PostgreSQL journal `url` for `what`, refusing any other.
pub async fn open_postgres(
    url: &str,
    what: &'static str,
) -> Result<order_journal::PostgresJournal, CommandError> {
    if !is_postgres(url) {
        return Err(CommandError::NeedsPostgres {
            what,
            url: order_journal::redact_url(url),
        });
    }
    Ok(order_journal::PostgresJournal::open(url).await?)
}

/// `--in-doubt` of `ordermod worker`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum InDoubtChoice {
    /// Read the order back where the platform has a read (resend where it has none).
    Verify,
    /// Send it again.
    Resend,
    /// Leave it in doubt for an operator.
    Hold,
}

impl From<InDoubtChoice> for InDoubt {
    fn from(c: InDoubtChoice) -> Self {
        match c {
            InDoubtChoice::Verify => InDoubt::Verify,
            InDoubtChoice::Resend => InDoubt::Resend,
            InDoubtChoice::Hold => InDoubt::Hold,
        }
    }
}

/// Arguments of `ordermod worker`.
#[derive(Debug, clap::Args)]
pub struct WorkerArgs {
    /// Config file (TOML): the shops and their credentials (and the journal).
    #[arg(
        long,
        short = 'c',
        env = "ORDERMOD_CONFIG",
        default_value = "ordermod.toml"
    )]
    pub config: std::path::PathBuf,
    /// Journal URL (`postgres://…`), overriding the config.
    #[arg(long)]
    pub journal: Option<String>,
    /// Amendments in flight at once in this worker (`apply`'s default).
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub concurrency: u16,
    /// Exit once nothing is queued or claimed (by any worker).
    #[arg(long)]
    pub until_empty: bool,
    /// Lease on claimed amendments and held credentials, in seconds: a worker that dies is
    /// replaced this long after its last heartbeat.
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u64).range(2..=3600))]
    pub lease_secs: u64,
    /// What to do with an amendment left `sent` by a worker that died (see `apply --help`).
    #[arg(long, value_enum, default_value_t = InDoubtChoice::Verify)]
    pub in_doubt: InDoubtChoice,
    /// Print a line per finished amendment.
    #[arg(long, short = 'v')]
    pub verbose: bool,
}

/// Arguments of `ordermod status`.
#[derive(Debug, clap::Args)]
pub struct StatusArgs {
    /// Config file naming the journal.
    #[arg(
        long,
        short = 'c',
        env = "ORDERMOD_CONFIG",
        default_value = "ordermod.toml"
    )]
    pub config: std::path::PathBuf,
    /// Journal URL, overriding the config.
    #[arg(long)]
    pub journal: Option<String>,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

/// The journal `--journal` names, else the config's.
fn journal_url(config: &std::path::Path, journal: Option<&str>) -> Result<String, CommandError> {
    match journal {
        Some(u) => Ok(u.to_owned()),
        None => Ok(Config::load(config)?.journal_url().to_owned()),
    }
}

/// `ordermod apply FILE --enqueue`: checks and queues every line of `input`, printing each
/// bad line (unless `quiet`) and the counts. Exit code 0, or 1 when a line had an input error.
pub async fn enqueue_command<R: tokio::io::AsyncBufRead + Unpin>(
    config: &Config,
    journal: &str,
    input: R,
    quiet: bool,
    out: &mut dyn std::io::Write,
) -> Result<u8, CommandError> {
    let pg = open_postgres(journal, "`apply --enqueue`").await?;
    let shops = config
        .shops
        .iter()
        .map(|s| (s.id.clone(), s.platform))
        .collect();
    let mut write_error = None;
    let summary = enqueue(&pg.queue(), &shops, input, |rep| {
        if !quiet && let Err(e) = writeln!(out, "{}", printable(&rep.human())) {
            write_error.get_or_insert(e);
        }
    })
    .await;
    pg.close().await;
    let summary = summary?;
    if let Some(e) = write_error {
        return Err(e.into());
    }
    writeln!(out, "enqueued: {}", summary.enqueued)?;
    writeln!(out, "already_queued: {}", summary.already_queued)?;
    writeln!(out, "input_errors: {}", summary.input_errors)?;
    Ok(u8::from(summary.input_errors > 0))
}

/// `ordermod worker`: runs one worker until the queue is empty (`--until-empty`) or a signal.
pub async fn worker_command(
    args: WorkerArgs,
    env: &dyn crate::config::Env,
    stop: watch::Receiver<bool>,
    out: &mut dyn std::io::Write,
) -> Result<u8, CommandError> {
    let config = Config::load(&args.config)?;
    let url = args
        .journal
        .clone()
        .unwrap_or_else(|| config.journal_url().to_owned());
    let pg = open_postgres(&url, "`ordermod worker`").await?;
    let journal: Arc<dyn order_domain::Journal> = Arc::new(pg.clone());
    let app = app_from_config(&config, env, journal)?;
    let options = WorkerOptions {
        concurrency: usize::from(args.concurrency),
        until_empty: args.until_empty,
        lease: Duration::from_secs(args.lease_secs),
        in_doubt: args.in_doubt.into(),
        ..WorkerOptions::new()
    };
    let worker = Worker::new(app, pg.queue(), credentials_of(&config), options);
    let mut write_error = None;
    let verbose = args.verbose;
    let result = worker
        .run(stop, |f| {
            if verbose && let Err(e) = writeln!(out, "{}", printable(&f.report.human())) {
                write_error.get_or_insert(e);
            }
        })
        .await;
    pg.close().await;
    let summary = result?;
    writeln!(out, "{}", summary.line())?;
    if let Some(e) = write_error {
        return Err(e.into());
    }
    Ok(0)
}

/// `ordermod status`: the queue per shop and the live workers (PostgreSQL), or the journal's
/// counts by state per shop (SQLite, which has no queue).
pub async fn status_command(
    args: StatusArgs,
    out: &mut dyn std::io::Write,
) -> Result<u8, CommandError> {
    let url = journal_url(&args.config, args.journal.as_deref())?;
    if !is_postgres(&url) {
        return sqlite_status(&url, args.json, out).await;
    }
    let pg = open_postgres(&url, "`ordermod status`").await?;
    let q = pg.queue();
    let shops = q.by_shop().await;
    let workers = q.workers().await;
    pg.close().await;
    let (shops, workers) = (shops?, workers?);
    if args.json {
        let shops: serde_json::Map<String, serde_json::Value> = shops
            .iter()
            .map(|(shop, s)| {
                (
                    shop.clone(),
                    serde_json::json!({
                        "queued": s.queued,
                        "in_flight": s.in_flight,
                        "expired": s.expired,
                        "done": done_count(s),
                        "outcomes": s.done,
                    }),
                )
            })
            .collect();
        let workers: Vec<serde_json::Value> = workers
            .iter()
            .map(|w| {
                serde_json::json!({
                    "id": w.id, "host": w.host, "pid": w.pid, "live": w.live,
                    "started_at": w.started_at, "heartbeat_at": w.heartbeat_at,
                    "credentials": w.credentials,
                })
            })
            .collect();
        let doc = serde_json::json!({"backend": "postgres", "shops": shops, "workers": workers});
        serde_json::to_writer(&mut *out, &doc).map_err(std::io::Error::from)?;
        writeln!(out)?;
        return Ok(0);
    }
    out.write_all(status_text(&shops, &workers).as_bytes())?;
    Ok(0)
}

/// Finished rows that need nobody: applied now or before, confirmed.
fn done_count(s: &order_journal::ShopQueue) -> u64 {
    ["applied", "already_done", "confirmed", "confirmed_by_read"]
        .iter()
        .map(|k| s.done.get(*k).copied().unwrap_or(0))
        .sum()
}

/// The text of `ordermod status` on PostgreSQL (see `docs/formats.md`).
pub fn status_text(
    shops: &BTreeMap<String, order_journal::ShopQueue>,
    workers: &[order_journal::WorkerInfo],
) -> String {
    use std::fmt::Write as _;
    let cols = [
        "queued",
        "in_flight",
        "expired",
        "done",
        "in_doubt",
        "failed",
        "undelivered",
        "rejected",
        "flagged",
        "input_error",
    ];
    let width = shops
        .keys()
        .map(|s| s.chars().count())
        .max()
        .unwrap_or(4)
        .max(4);
    let mut t = format!("{:width$}", "shop");
    for c in cols {
        let _ = write!(t, "  {c:>11}");
    }
    t.push('\n');
    for (shop, s) in shops {
        let _ = write!(t, "{:width$}", printable(shop));
        let get = |k: &str| s.done.get(k).copied().unwrap_or(0);
        let values = [
            s.queued,
            s.in_flight,
            s.expired,
            done_count(s),
            get("in_doubt"),
            get("failed"),
            get("undelivered"),
            get("rejected"),
            get("flagged"),
            get("input_error"),
        ];
        for v in values {
            let _ = write!(t, "  {v:>11}");
        }
        t.push('\n');
    }
    let live = workers.iter().filter(|w| w.live).count();
    let _ = writeln!(t, "workers: {live} live");
    for w in workers.iter().filter(|w| w.live) {
        let held = if w.credentials.is_empty() {
            "no credential".to_owned()
        } else {
            w.credentials.join(", ")
        };
        let _ = writeln!(
            t,
            "  {} (host {}, pid {}): {}",
            printable(&w.id),
            printable(&w.host),
            w.pid,
            printable(&held)
        );
    }
    t
}

/// `ordermod status` on SQLite: the journal's counts by state per shop (no queue).
async fn sqlite_status(
    url: &str,
    json: bool,
    out: &mut dyn std::io::Write,
) -> Result<u8, CommandError> {
    use order_domain::AmendmentState;
    let journal = order_journal::SqliteJournal::open_read_only(url).await?;
    let mut counts: BTreeMap<String, BTreeMap<&'static str, u64>> = BTreeMap::new();
    let mut after = None;
    loop {
        let page = journal
            .amendments_page(None, None, after.as_ref(), 1000)
            .await?;
        for r in &page {
            *counts
                .entry(r.intent.shop.to_string())
                .or_default()
                .entry(r.state.as_str())
                .or_default() += 1;
        }
        match page.into_iter().last() {
            Some(last) => after = Some(last),
            None => break,
        }
    }
    if json {
        let doc = serde_json::json!({"backend": "sqlite", "shops": counts});
        serde_json::to_writer(&mut *out, &doc).map_err(std::io::Error::from)?;
        writeln!(out)?;
        return Ok(0);
    }
    use std::fmt::Write as _;
    let width = counts
        .keys()
        .map(|s| s.chars().count())
        .max()
        .unwrap_or(4)
        .max(4);
    let mut t = format!("{:width$}", "shop");
    for s in AmendmentState::ALL {
        let _ = write!(t, "  {:>12}", s.as_str());
    }
    t.push('\n');
    for (shop, by) in &counts {
        let _ = write!(t, "{:width$}", printable(shop));
        for s in AmendmentState::ALL {
            let _ = write!(t, "  {:>12}", by.get(s.as_str()).copied().unwrap_or(0));
        }
        t.push('\n');
    }
    t.push_str("no queue: the journal is SQLite (workers need PostgreSQL)\n");
    out.write_all(t.as_bytes())?;
    Ok(0)
}

/// `text` with control characters escaped, so a shop name or a message cannot move the
/// cursor or fake lines of output.
fn printable(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().collect()
            } else {
                c.to_string()
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fair_share_is_the_ceiling_of_credentials_over_live_workers() {
        assert_eq!(fair_share(0, 3), 0);
        assert_eq!(fair_share(10, 4), 3);
        assert_eq!(fair_share(8, 4), 2);
        assert_eq!(fair_share(3, 5), 1);
        // No live worker counted yet (the first heartbeat is this one's): one.
        assert_eq!(fair_share(5, 0), 5);
    }

    const LONG: Duration = Duration::from_secs(300);

    /// The lease logic against PostgreSQL: the first worker takes every credential with work,
    /// a second one gets its fair share once the first lets go of its surplus, a dead worker's
    /// credentials are taken over once its lease ran out, and a credential with amendments in
    /// flight is only let go once they are done.
    #[tokio::test]
    async fn credentials_are_shared_fairly_taken_over_from_the_dead_and_never_held_twice() {
        let url = pg_throwaway::shared().fresh_database();
        let pg = order_journal::PostgresJournal::open(&url).await.unwrap();
        let q = pg.queue();
        let shops = ["s1", "s2", "s3", "s4"];
        let items: Vec<NewItem<'_>> = shops
            .iter()
            .map(|s| NewItem {
                key: s,
                shop: s,
                order_id: "1",
                fingerprint: s,
                line: "{}",
            })
            .collect();
        q.enqueue(&items).await.unwrap();
        let credential_of: BTreeMap<String, String> = shops
            .iter()
            .map(|s| ((*s).to_owned(), format!("cred-{s}")))
            .collect();
        let journal = order_journal::SqliteJournal::open("sqlite::memory:")
            .await
            .unwrap();
        let app = App::builder().journal(Arc::new(journal)).build().unwrap();
        let worker = |id: &str| {
            Worker::new(
                app.clone(),
                q.clone(),
                credential_of.clone(),
                WorkerOptions {
                    id: id.to_owned(),
                    lease: LONG,
                    ..WorkerOptions::new()
                },
            )
        };
        let (a, b) = (worker("a"), worker("b"));
        let (mut ha, mut hb) = (BTreeMap::new(), BTreeMap::new());
        let idle = HashMap::new();
        a.rebalance("h", 1, LONG, false, &mut ha, &idle)
            .await
            .unwrap();
        assert_eq!(ha.len(), 4, "alone, it takes all");
        assert!(
            ha.values().all(|h| h.ready_at <= Instant::now()),
            "never held before: no window to wait out"
        );
        b.rebalance("h", 2, LONG, false, &mut hb, &idle)
            .await
            .unwrap();
        assert!(hb.is_empty(), "nothing is free yet");
        a.rebalance("h", 1, LONG, false, &mut ha, &idle)
            .await
            .unwrap();
        assert_eq!(ha.len(), 2, "its share of two live workers");
        b.rebalance("h", 2, LONG, false, &mut hb, &idle)
            .await
            .unwrap();
        assert_eq!(hb.len(), 2);
        assert!(ha.keys().all(|c| !hb.contains_key(c)), "{ha:?} {hb:?}");
        // A credential that changed hands is not sent with before a quota window passed.
        assert!(hb.values().all(|h| h.ready_at > Instant::now()));
        let holders = q.credential_holders().await.unwrap();
        assert_eq!(holders.len(), 4);

        // b dies: its heartbeat and leases run out (a lease of zero has run out at once).
        q.heartbeat("b", "h", 2, Duration::ZERO).await.unwrap();
        a.rebalance("h", 1, LONG, false, &mut ha, &idle)
            .await
            .unwrap();
        assert_eq!(ha.len(), 4, "the dead worker's credentials are taken over");
        // b comes back: it learns it lost them and finds nothing free.
        b.rebalance("h", 2, LONG, false, &mut hb, &idle)
            .await
            .unwrap();
        assert!(hb.is_empty(), "{hb:?}");

        // With amendments in flight on every credential, a keeps them all until they are done,
        // but claims no more for its surplus.
        let busy: HashMap<String, usize> = ha.keys().map(|c| (c.clone(), 1)).collect();
        a.rebalance("h", 1, LONG, false, &mut ha, &busy)
            .await
            .unwrap();
        assert_eq!(ha.len(), 4);
        assert_eq!(ha.values().filter(|h| h.draining).count(), 2);
        a.rebalance("h", 1, LONG, false, &mut ha, &idle)
            .await
            .unwrap();
        assert_eq!(ha.len(), 2);
        b.rebalance("h", 2, LONG, false, &mut hb, &idle)
            .await
            .unwrap();
        assert_eq!(hb.len(), 2);

        // a's shops finish: a lets its idle credentials go, and b keeps both of its own, which
        // still have work (no handover, no quota window lost, as the queue shrinks).
        let finished: Vec<String> = ha
            .keys()
            .map(|c| c.trim_start_matches("cred-").to_owned())
            .collect();
        for row in q.claim("a", &finished, 10, LONG).await.unwrap() {
            assert!(q.finish("a", row.id, "applied").await.unwrap());
        }
        a.rebalance("h", 1, LONG, false, &mut ha, &idle)
            .await
            .unwrap();
        assert!(ha.is_empty(), "{ha:?}");
        b.rebalance("h", 2, LONG, false, &mut hb, &idle)
            .await
            .unwrap();
        assert_eq!(hb.len(), 2);
        assert!(hb.values().all(|h| !h.draining), "{hb:?}");
        assert_eq!(q.credential_holders().await.unwrap().len(), 2);

        // A worker that stops lets go of everything.
        a.rebalance("h", 1, LONG, true, &mut ha, &idle)
            .await
            .unwrap();
        assert!(ha.is_empty());
        pg.close().await;
    }
}
