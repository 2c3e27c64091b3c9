//! Running a batch: stream the input, apply amendments with bounded concurrency, report each
//! result as it arrives and count them.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use order_domain::{AmendmentState, IdempotencyKey, JournalError, Outcome};
use tokio::io::AsyncBufRead;
use tokio::task::JoinSet;

use crate::app::{App, ApplyError, ApplyOptions, Disposition, InDoubt};
use crate::input::{InputItem, LineReader};
pub use crate::report::{Counts, LineReport, LineStatus, ReportedError, Summary};

/// Concurrency when none is given. Amendments in flight are what the journal's group commit
/// shares a sync between (each amendment waits for three durable writes), so a batch runs about
/// as many amendments per commit as it has in flight; per-shop rate limits are enforced in the
/// transports whatever this is. 64 amendments cost a few hundred KiB of memory.
pub const DEFAULT_CONCURRENCY: usize = 64;

/// How a batch runs.
#[derive(Debug, Clone)]
pub struct BatchOptions {
    /// Amendments in flight at once (at least 1). Per-shop rate limits are enforced inside the
    /// transports, so this bounds memory, connections and how many amendments share a journal
    /// commit, not the request rate.
    pub concurrency: usize,
    /// When set to true (e.g. on Ctrl-C), no more lines are read; the amendments in flight
    /// finish and are recorded, and the batch returns its counts with
    /// [`Summary::interrupted`] set. Running the same input again resumes.
    pub stop: Option<Arc<AtomicBool>>,
    /// What to do with amendments an interrupted earlier run sent without recording the
    /// outcome: read the order to settle them (the default where the platform has a read;
    /// send again where it has none), send them again, or hold them for an operator.
    pub in_doubt: InDoubt,
    /// Read every order, even when its line carries a snapshot (`--refresh`).
    pub refresh: bool,
    /// Read each applied order back and record `confirmed` or `flagged` (`--confirm`).
    pub confirm: bool,
}

impl Default for BatchOptions {
    fn default() -> Self {
        BatchOptions {
            concurrency: DEFAULT_CONCURRENCY,
            stop: None,
            in_doubt: InDoubt::Verify,
            refresh: false,
            confirm: false,
        }
    }
}

/// Why a batch stopped before the end of its input.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BatchError {
    /// The input could not be read (IO).
    #[error("cannot read the input: {0}")]
    Read(#[from] std::io::Error),
    /// The journal failed; sending stopped so no unrecorded send can be doubled on resume.
    #[error("the journal failed, sending stopped: {0}")]
    Journal(#[from] JournalError),
}

/// A line's report before its outcome is known (an input error until set otherwise).
fn line_report(line: u64, amendment: &crate::input::AmendmentLine) -> LineReport {
    LineReport {
        line,
        status: LineStatus::InputError,
        shop: Some(amendment.shop.to_string()),
        platform: amendment.platform.clone(),
        order: Some(amendment.order_id().to_string()),
        key: None,
        earlier: false,
        resent: false,
        duplicate_of: None,
        new_total: None,
        violations: Vec::new(),
        error: None,
        message: None,
        source: None,
        stale: Vec::new(),
    }
}

/// A finished task's result; its key has one task fewer in flight.
fn settle(
    res: Result<TaskResult, tokio::task::JoinError>,
    in_flight: &mut HashMap<IdempotencyKey, InFlight>,
) -> Result<LineReport, JournalError> {
    match res {
        Ok((key, r)) => {
            if let Some(f) = in_flight.get_mut(&key) {
                f.tasks -= 1;
                if f.tasks == 0 {
                    in_flight.remove(&key);
                }
            }
            r
        }
        Err(join) => Err(JournalError::storage(
            "an amendment task stopped unexpectedly",
            join,
        )),
    }
}

pub(crate) fn report_of(
    line: u64,
    amendment: &crate::input::AmendmentLine,
    r: Result<crate::app::Applied, ApplyError>,
) -> Result<LineReport, JournalError> {
    let mut rep = line_report(line, amendment);
    let applied = match r {
        Ok(a) => a,
        Err(ApplyError::Input(m)) => {
            rep.message = Some(m);
            return Ok(rep);
        }
        // A key an earlier line (of this run or another) recorded for a different amendment:
        // an error in this line, not in the journal; nothing was written.
        Err(ApplyError::Journal(e @ JournalError::KeyReused { .. })) => {
            rep.key = Some(amendment.key().to_string());
            rep.message = Some(e.to_string());
            return Ok(rep);
        }
        Err(ApplyError::Journal(e)) => return Err(e),
    };
    rep.key = Some(applied.key.to_string());
    rep.platform = Some(applied.platform);
    rep.resent = applied.resent;
    rep.source = applied.source.map(|s| s.as_str());
    rep.stale = applied.stale;
    let reported = |e: &order_domain::PlatformError| ReportedError {
        kind: e.kind().to_string(),
        code: e.code().map(str::to_owned),
        message: e.message().to_owned(),
        detail: e.detail().map(str::to_owned),
    };
    match applied.disposition {
        Disposition::Applied(plan) => {
            rep.status = LineStatus::Applied;
            rep.new_total = Some(plan.new_total().to_string());
        }
        Disposition::AlreadyRecorded(state) => {
            rep.earlier = true;
            rep.status = match state {
                AmendmentState::Rejected => LineStatus::Rejected,
                AmendmentState::Failed => LineStatus::Failed,
                AmendmentState::Undelivered => LineStatus::Undelivered,
                AmendmentState::InDoubt => LineStatus::InDoubt,
                AmendmentState::Flagged => LineStatus::Flagged,
                _ => LineStatus::AlreadyDone,
            };
        }
        Disposition::Rejected(rej) => {
            rep.status = LineStatus::Rejected;
            rep.violations = rej.violations;
        }
        Disposition::InDoubt(why) => {
            rep.status = LineStatus::InDoubt;
            rep.message = why;
        }
        Disposition::ConfirmedByRead => rep.status = LineStatus::ConfirmedByRead,
        Disposition::Checked(plan, note) => {
            rep.new_total = Some(plan.new_total().to_string());
            rep.status = if note.is_some() {
                LineStatus::Flagged
            } else {
                LineStatus::Confirmed
            };
            rep.message = note;
        }
        Disposition::ReadFailed(e) => {
            // Nothing was recorded or sent: the next run reads again.
            rep.status = if order_domain::undelivered(e.kind()) {
                LineStatus::Undelivered
            } else {
                LineStatus::Failed
            };
            rep.error = Some(reported(&e));
            rep.message = Some("the order could not be read; nothing was sent".to_owned());
        }
        Disposition::Failed(e) => {
            // The journal recorded `Outcome::failure(e, resent)`: the same rule decides here.
            rep.status = match Outcome::failure(e.clone(), applied.resent).state() {
                AmendmentState::Undelivered => LineStatus::Undelivered,
                AmendmentState::InDoubt => LineStatus::InDoubt,
                _ => LineStatus::Failed,
            };
            rep.error = Some(reported(&e));
        }
    }
    Ok(rep)
}

/// What a duplicate line reports: the status of the line it repeats, except that an
/// amendment applied once is `already_done` for its repeats (it was sent once).
fn duplicate_status(first: LineStatus) -> LineStatus {
    match first {
        LineStatus::Applied | LineStatus::AlreadyDone => LineStatus::AlreadyDone,
        other => other,
    }
}

/// A key with amendments in flight in this run: the first line that used it, what it asked,
/// and the first line's status once known (its repeats wait for it and report it).
struct InFlight {
    line: u64,
    asked: (
        order_domain::ShopId,
        order_domain::OrderId,
        order_domain::Amendment,
    ),
    tasks: usize,
    first: Arc<tokio::sync::Mutex<Option<LineStatus>>>,
}

type TaskResult = (IdempotencyKey, Result<LineReport, JournalError>);

impl App {
    /// Runs a batch read from `input` (JSON Lines), calling `on_line` with each line's result as
    /// it completes (not in input order), and returns the counts.
    ///
    /// At most `options.concurrency` amendments are in flight and no more lines are read than
    /// that, so memory stays flat whatever the input's size. A line that repeats one in flight
    /// (same key, same amendment) waits for it and reports its status without sending
    /// (`duplicate_of`); one that reuses a key for a different amendment is an input error
    /// (checked against the lines in flight and, through [`JournalError::KeyReused`], against
    /// the journal). A journal failure stops reading, lets the amendments in flight finish,
    /// and returns [`BatchError::Journal`]. At the end, the journal is checkpointed so that its
    /// main file alone holds the run.
    pub async fn run_batch<R, F>(
        &self,
        input: R,
        options: BatchOptions,
        mut on_line: F,
    ) -> Result<Summary, BatchError>
    where
        R: AsyncBufRead + Unpin,
        F: FnMut(&LineReport),
    {
        let limit = options.concurrency.max(1);
        let apply_options = ApplyOptions {
            in_doubt: options.in_doubt,
            refresh: options.refresh,
            confirm: options.confirm,
        };
        let mut reader = LineReader::new(input);
        let mut tasks: JoinSet<TaskResult> = JoinSet::new();
        let mut in_flight: HashMap<IdempotencyKey, InFlight> = HashMap::new();
        let mut summary = Summary::default();
        let mut failure: Option<BatchError> = None;
        let mut handle = |res: Result<LineReport, JournalError>,
                          summary: &mut Summary,
                          failure: &mut Option<BatchError>| match res {
            Ok(rep) => {
                summary.add(&rep);
                on_line(&rep);
            }
            Err(e) => {
                failure.get_or_insert(BatchError::Journal(e));
            }
        };
        while failure.is_none() {
            while tasks.len() >= limit {
                if let Some(res) = tasks.join_next().await {
                    handle(settle(res, &mut in_flight), &mut summary, &mut failure);
                }
            }
            if failure.is_some() {
                break;
            }
            if options
                .stop
                .as_ref()
                .is_some_and(|s| s.load(Ordering::SeqCst))
            {
                summary.interrupted = true;
                break;
            }
            let item = match reader.next().await {
                Ok(Some(item)) => item,
                Ok(None) => break,
                Err(e) => {
                    failure = Some(BatchError::Read(e));
                    break;
                }
            };
            let (line, amendment) = match item {
                InputItem::Invalid(e) => {
                    handle(Ok(LineReport::input(e)), &mut summary, &mut failure);
                    continue;
                }
                InputItem::Amendment { line, amendment } => (line, amendment),
            };
            let key = amendment.key();
            let asked = (
                amendment.shop.clone(),
                amendment.order_id().clone(),
                amendment.set.clone(),
            );
            if let Some(f) = in_flight.get_mut(&key) {
                let first_line = f.line;
                if f.asked != asked {
                    let mut rep = line_report(line, &amendment);
                    rep.key = Some(key.to_string());
                    rep.message = Some(format!(
                        "key `{key}` is already used by line {first_line} for a different \
                         amendment"
                    ));
                    handle(Ok(rep), &mut summary, &mut failure);
                    continue;
                }
                // The same amendment again: wait for the first line, report its status.
                f.tasks += 1;
                let first = Arc::clone(&f.first);
                let platform = self.platform(&amendment.shop).map(|p| p.name().to_owned());
                tasks.spawn(async move {
                    let status = *first.lock().await;
                    let mut rep = line_report(line, &amendment);
                    rep.key = Some(key.to_string());
                    rep.platform = platform;
                    rep.duplicate_of = Some(first_line);
                    match status {
                        Some(s) => rep.status = duplicate_status(s),
                        None => {
                            rep.message =
                                Some(format!("repeats line {first_line}, which did not finish"));
                        }
                    }
                    (key, Ok(rep))
                });
                continue;
            }
            // The first line with this key: it holds the gate its repeats wait on until its
            // status is known.
            let first = Arc::new(tokio::sync::Mutex::new(None));
            let gate = Arc::clone(&first).lock_owned().await;
            in_flight.insert(
                key.clone(),
                InFlight {
                    line,
                    asked,
                    tasks: 1,
                    first,
                },
            );
            let app = self.clone();
            tasks.spawn(async move {
                let mut gate = gate;
                let r = app.apply_with(&amendment, apply_options).await;
                let rep = report_of(line, &amendment, r);
                if let Ok(rep) = &rep {
                    *gate = Some(rep.status);
                }
                (key, rep)
            });
        }
        while let Some(res) = tasks.join_next().await {
            handle(settle(res, &mut in_flight), &mut summary, &mut failure);
        }
        if let Some(e) = failure {
            return Err(e);
        }
        // Everything is durable already; this moves it into the journal's main file, so that
        // the one file a user copies holds the run.
        self.journal().checkpoint().await?;
        Ok(summary)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use order_domain::{
        FixedClock, IdempotencyKey, Intent, Journal, OrderId, PlatformError, PlatformErrorKind,
        Policy, ShopId, Timestamp,
    };

    use super::*;
    use crate::input::parse_line;
    use crate::memory::MemoryPlatform;
    use crate::registry::SendPacer;
    use order_journal::SqliteJournal;

    fn line(order: &str, target: &str) -> String {
        format!(
            r#"{{"shop":"wechat-a","order":{{"id":"{order}","status":"awaiting_payment","currency":"CNY","lines":[{{"id":"L1","product":"1","sku":"2","original_total":"10.00"}}],"freight":{{"original":"2.00"}}}},"set":{{"lines":{{"L1":"{target}"}}}}}}"#
        )
    }

    async fn setup() -> (App, Arc<MemoryPlatform>, Arc<SqliteJournal>) {
        let platform = Arc::new(MemoryPlatform::new(transport_wechat_shop::policy()));
        let journal = Arc::new(SqliteJournal::in_memory().await.unwrap());
        let app = App::builder()
            .shop(ShopId::new("wechat-a").unwrap(), platform.clone())
            .journal(journal.clone())
            .clock(Arc::new(FixedClock(Timestamp::from_millis(
                1_700_000_000_000,
            ))))
            .build()
            .unwrap();
        (app, platform, journal)
    }

    async fn run(app: &App, text: &str) -> (Summary, Vec<LineReport>) {
        let mut lines = Vec::new();
        let s = app
            .run_batch(
                text.as_bytes(),
                BatchOptions {
                    concurrency: 3,
                    ..BatchOptions::default()
                },
                |r| {
                    lines.push(r.clone());
                },
            )
            .await
            .unwrap();
        lines.sort_by_key(|r| r.line);
        (s, lines)
    }

    #[tokio::test]
    async fn a_batch_applies_rejects_reports_bad_lines_and_resumes_without_resending() {
        let (app, platform, journal) = setup().await;
        let text = [
            line("1", "8.00"),
            line("2", "12.00"),
            "{broken".to_owned(),
            line("3", "7.00").replace("wechat-a", "wechat-zz"),
            line("4", "9.00"),
        ]
        .join("\n");
        let (s, lines) = run(&app, &text).await;
        assert_eq!(s.total.applied, 2);
        assert_eq!(s.total.rejected, 1);
        assert_eq!(s.total.input_errors, 2);
        assert_eq!(s.exit_code(), 1);
        assert_eq!(
            lines[1].violations[0].code.as_str(),
            "price.raise_forbidden"
        );
        assert_eq!(lines[2].line, 3);
        assert!(
            lines[3]
                .message
                .as_deref()
                .unwrap()
                .contains("unknown shop `wechat-zz`")
        );
        let (o1, n1) = platform.order(&OrderId::new("1").unwrap()).unwrap();
        assert_eq!(
            (o1.lines()[0].current_total().to_string(), n1),
            ("8.00".into(), 1)
        );

        // Again: nothing is sent; the rejection still counts.
        let (s2, lines2) = run(&app, &text).await;
        assert_eq!(s2.total.applied, 0);
        assert_eq!(s2.total.already_done, 2);
        assert_eq!(s2.total.rejected, 1);
        assert!(lines2[1].earlier);
        assert_eq!(platform.order(&OrderId::new("1").unwrap()).unwrap().1, 1);
        assert_eq!(journal.amendments(None).await.unwrap().len(), 3);
    }

    #[tokio::test]
    async fn a_line_naming_another_platform_than_its_shops_is_an_input_error() {
        let (app, _, journal) = setup().await;
        let wrong = line("5", "8.00").replacen('{', r#"{"platform":"vvtool-1688","#, 1);
        let unknown = line("6", "8.00").replacen('{', r#"{"platform":"shopify","#, 1);
        let right = line("7", "8.00").replacen('{', r#"{"platform":"wechat-shop","#, 1);
        let (s, lines) = run(&app, &[wrong, unknown, right].join("\n")).await;
        assert_eq!((s.total.input_errors, s.total.applied), (2, 1));
        assert!(
            lines[0].message.as_deref().unwrap().contains(
                "the line says platform `vvtool-1688` but shop `wechat-a` is on wechat-shop"
            ),
            "{:?}",
            lines[0]
        );
        assert!(
            lines[1]
                .message
                .as_deref()
                .unwrap()
                .contains("unknown platform `shopify`")
        );
        // Nothing about the refused lines reached the journal.
        assert_eq!(journal.amendments(None).await.unwrap().len(), 1);
        // plan() agrees and records nothing.
        let a = parse_line(1, &line("8", "12.00")).unwrap();
        let r = app.plan(&a).unwrap().unwrap_err();
        assert!(r.has(order_domain::ViolationCode::PriceRaiseForbidden));
        assert_eq!(journal.amendments(None).await.unwrap().len(), 1);
    }

    /// A crash between recording a rejected intent and recording its rejection leaves it
    /// `planned`: the resume reports and records it rejected, not done.
    #[tokio::test]
    async fn a_rejection_interrupted_before_it_was_recorded_is_rejected_on_resume() {
        let (app, platform, journal) = setup().await;
        let text = line("12", "11.00"); // above the original 10.00: refused
        let a = parse_line(1, &text).unwrap();
        let plan = order_domain::plan(
            a.snapshot().unwrap(),
            &a.set,
            &transport_wechat_shop::policy(),
        );
        assert!(plan.is_err());
        let intent = Intent {
            key: a.key(),
            shop: a.shop.clone(),
            order: a.snapshot().unwrap().clone(),
            amendment: a.set.clone(),
            plan,
        };
        journal
            .begin(&intent, Timestamp::from_millis(1))
            .await
            .unwrap();
        let (s, lines) = run(&app, &text).await;
        assert_eq!(
            (s.total.rejected, s.total.already_done),
            (1, 0),
            "{lines:?}"
        );
        assert_eq!(
            lines[0].violations[0].code.to_string(),
            "price.raise_forbidden"
        );
        let rec = journal.amendments(None).await.unwrap();
        assert_eq!(rec[0].state, AmendmentState::Rejected);
        assert!(platform.order(a.order_id()).is_none(), "nothing sent");
    }

    #[tokio::test]
    async fn an_unfinished_amendment_is_sent_again_and_a_platform_failure_is_recorded() {
        let (app, platform, journal) = setup().await;
        let a = parse_line(1, &line("9", "5.00")).unwrap();
        // A crash after mark_sent: the journal says sent, no outcome.
        let intent = Intent {
            key: a.key(),
            shop: a.shop.clone(),
            order: a.snapshot().unwrap().clone(),
            amendment: a.set.clone(),
            plan: order_domain::plan(
                a.snapshot().unwrap(),
                &a.set,
                &transport_wechat_shop::policy(),
            ),
        };
        let now = Timestamp::from_millis(1);
        journal.begin(&intent, now).await.unwrap();
        journal.mark_sent(&intent.key, now).await.unwrap();
        let (s, _) = run(&app, &line("9", "5.00")).await;
        assert_eq!(s.total.applied, 1);

        platform.fail_next([PlatformError::new(
            PlatformErrorKind::NotFound,
            Some("100002".into()),
            "order not exist",
        )]);
        let (s, lines) = run(&app, &line("10", "5.00")).await;
        assert_eq!(s.total.failed, 1);
        let e = lines[0].error.as_ref().unwrap();
        assert_eq!(
            (e.kind.as_str(), e.code.as_deref()),
            ("not_found", Some("100002"))
        );
        assert_eq!(s.failures_by_kind["not_found"], 1);
        let key = IdempotencyKey::new(lines[0].key.clone().unwrap()).unwrap();
        let rec = journal.amendments(None).await.unwrap();
        assert!(
            rec.iter()
                .any(|r| r.intent.key == key && r.state == order_domain::AmendmentState::Failed)
        );
    }

    #[tokio::test]
    async fn an_unfinished_amendment_is_held_in_doubt_when_asked_and_sent_once_released() {
        let (app, platform, journal) = setup().await;
        let text = line("11", "5.00");
        let a = parse_line(1, &text).unwrap();
        let intent = Intent {
            key: a.key(),
            shop: a.shop.clone(),
            order: a.snapshot().unwrap().clone(),
            amendment: a.set.clone(),
            plan: order_domain::plan(
                a.snapshot().unwrap(),
                &a.set,
                &transport_wechat_shop::policy(),
            ),
        };
        let now = Timestamp::from_millis(1);
        journal.begin(&intent, now).await.unwrap();
        journal.mark_sent(&intent.key, now).await.unwrap();

        let run_with = |in_doubt| {
            let app = app.clone();
            let text = text.clone();
            async move {
                let mut lines = Vec::new();
                let s = app
                    .run_batch(
                        text.as_bytes(),
                        BatchOptions {
                            in_doubt,
                            ..BatchOptions::default()
                        },
                        |r| lines.push(r.clone()),
                    )
                    .await
                    .unwrap();
                (s, lines)
            }
        };
        let (s, lines) = run_with(InDoubt::Hold).await;
        assert_eq!((s.total.in_doubt, s.total.applied), (1, 0));
        assert_eq!(s.exit_code(), 1, "held amendments need an operator");
        assert_eq!(lines[0].status, LineStatus::InDoubt);
        assert!(lines[0].human().contains("--in-doubt resend"));
        assert!(platform.order(a.order_id()).is_none(), "nothing was sent");
        let rec = journal.amendments(None).await.unwrap();
        assert_eq!(rec[0].state, AmendmentState::Sent, "still in doubt");

        let (s, lines) = run_with(InDoubt::Resend).await;
        assert_eq!((s.total.in_doubt, s.total.applied), (0, 1));
        assert!(lines[0].resent);
        assert_eq!(platform.order(a.order_id()).unwrap().1, 1, "sent once");
    }

    /// A platform whose transport paces its requests, like the real ones: it waits for its
    /// limiter, then notes how many amendments the journal holds as `sent` at that moment.
    #[derive(Debug)]
    struct Paced {
        inner: MemoryPlatform,
        limiter: transport_core::RateLimiter,
        journal: Arc<SqliteJournal>,
        most_sent: std::sync::Mutex<usize>,
    }

    #[async_trait::async_trait]
    impl order_domain::OrderPlatform for Paced {
        fn name(&self) -> &str {
            self.inner.name()
        }
        fn policy(&self) -> &Policy {
            self.inner.policy()
        }
        async fn apply(
            &self,
            order: &order_domain::Order,
            plan: &order_domain::Plan,
        ) -> Result<order_domain::Receipt, PlatformError> {
            self.limiter.until_ready("credential").await;
            let sent = self
                .journal
                .amendments(None)
                .await
                .unwrap()
                .iter()
                .filter(|r| r.state == AmendmentState::Sent)
                .count();
            {
                let mut most = self.most_sent.lock().unwrap();
                *most = (*most).max(sent);
            }
            self.inner.apply(order, plan).await
        }
    }

    /// Many amendments in flight for one rate-limited shop: with the app's pacer they wait
    /// before they are recorded as sent, so only those actually leaving are ever `sent` (in
    /// doubt, were the process killed); without it, all of them queue as `sent` in the
    /// transport's limiter.
    #[tokio::test]
    async fn a_paced_shop_records_amendments_as_sent_only_when_they_can_leave() {
        const RATE: u32 = 200;
        let text: Vec<String> = (0..24)
            .map(|n| line(&format!("{}", 500 + n), "8.00"))
            .collect();
        let text = text.join("\n");
        let mut most = Vec::new();
        for paced in [false, true] {
            let journal = Arc::new(SqliteJournal::in_memory().await.unwrap());
            let platform = Arc::new(Paced {
                inner: MemoryPlatform::new(transport_wechat_shop::policy()),
                limiter: transport_core::RateLimiter::per_second(Some(RATE)),
                journal: journal.clone(),
                most_sent: std::sync::Mutex::new(0),
            });
            let shop = ShopId::new("wechat-a").unwrap();
            let mut b = App::builder()
                .shop(shop.clone(), platform.clone())
                .journal(journal.clone());
            if paced {
                b = b.pace(shop, SendPacer::per_second(Some(RATE)).unwrap());
            }
            let s = b
                .build()
                .unwrap()
                .run_batch(
                    text.as_bytes(),
                    BatchOptions {
                        concurrency: 64,
                        ..BatchOptions::default()
                    },
                    |_| {},
                )
                .await
                .unwrap();
            assert_eq!(s.total.applied, 24);
            most.push(*platform.most_sent.lock().unwrap());
        }
        assert!(most[0] > 8, "unpaced: {most:?}");
        assert!(most[1] <= 2, "paced: {most:?}");
    }

    async fn run_with_concurrency(app: &App, text: &str, n: usize) -> (Summary, Vec<LineReport>) {
        let mut lines = Vec::new();
        let s = app
            .run_batch(
                text.as_bytes(),
                BatchOptions {
                    concurrency: n,
                    ..BatchOptions::default()
                },
                |r| lines.push(r.clone()),
            )
            .await
            .expect("the batch runs to the end");
        lines.sort_by_key(|r| r.line);
        (s, lines)
    }

    #[tokio::test]
    async fn a_repeated_line_is_sent_once_and_the_rest_of_the_batch_runs() {
        for concurrency in [1, 8] {
            let (app, platform, _) = setup().await;
            let mut text: Vec<String> = vec![line("20", "8.00"); 3];
            text.extend((0..150).map(|n| line(&format!("{}", 1000 + n), "8.00")));
            text.push(line("20", "8.00"));
            let (s, lines) = run_with_concurrency(&app, &text.join("\n"), concurrency).await;
            assert_eq!(s.total.total(), 154, "every line is counted");
            assert_eq!(s.total.applied, 151, "concurrency {concurrency}");
            assert_eq!(s.total.already_done, 3, "concurrency {concurrency}");
            assert_eq!(s.exit_code(), 0);
            assert_eq!(
                platform.order(&OrderId::new("20").unwrap()).unwrap().1,
                1,
                "sent once"
            );
            for l in &lines[1..3] {
                assert_eq!(l.status, LineStatus::AlreadyDone, "{l:?}");
                if concurrency > 1 {
                    assert_eq!(l.duplicate_of, Some(1), "{l:?}");
                }
            }
        }
    }

    #[tokio::test]
    async fn a_key_reused_with_another_target_is_an_input_error_for_that_line_only() {
        let keyed = |order: &str, target: &str| {
            line(order, target).replacen('{', r#"{"key":"same-key","#, 1)
        };
        for concurrency in [1, 8] {
            let (app, platform, journal) = setup().await;
            let text = [
                keyed("30", "8.00"),
                keyed("30", "7.00"),
                line("31", "8.00"),
                keyed("32", "8.00"),
            ]
            .join("\n");
            let (s, lines) = run_with_concurrency(&app, &text, concurrency).await;
            assert_eq!(
                (s.total.applied, s.total.input_errors),
                (2, 2),
                "concurrency {concurrency}: {lines:?}"
            );
            for l in [&lines[1], &lines[3]] {
                assert_eq!(l.status, LineStatus::InputError, "{l:?}");
                assert!(l.message.as_deref().unwrap().contains("same-key"), "{l:?}");
            }
            let (o, n) = platform.order(&OrderId::new("30").unwrap()).unwrap();
            assert_eq!(
                (o.lines()[0].current_total().to_string(), n),
                ("8.00".into(), 1)
            );
            assert!(platform.order(&OrderId::new("32").unwrap()).is_none());
            assert_eq!(journal.amendments(None).await.unwrap().len(), 2);
        }
    }

    #[tokio::test]
    async fn an_undelivered_amendment_is_reported_so_and_sent_again_by_the_next_run() {
        let (app, platform, journal) = setup().await;
        platform.fail_next([PlatformError::new(
            PlatformErrorKind::Transient,
            Some("503".into()),
            "connection refused",
        )]);
        let text = [line("40", "8.00"), line("41", "8.00")].join("\n");
        let (s, lines) = run_with_concurrency(&app, &text, 1).await;
        assert_eq!(
            (s.total.undelivered, s.total.failed, s.total.applied),
            (1, 0, 1)
        );
        assert_eq!(s.exit_code(), 1);
        assert_eq!(lines[0].status, LineStatus::Undelivered);
        assert!(
            lines[0].human().contains("sends it again"),
            "{}",
            lines[0].human()
        );
        let table = crate::report::summary_table(&s);
        assert!(
            table.lines().next().unwrap().contains("undelivered"),
            "{table}"
        );
        let rec = journal
            .amendments(Some(&OrderId::new("40").unwrap()))
            .await
            .unwrap();
        assert_eq!(rec[0].state, AmendmentState::Undelivered);

        let (s, _) = run_with_concurrency(&app, &text, 1).await;
        assert_eq!((s.total.applied, s.total.already_done), (1, 1));
        assert_eq!(platform.order(&OrderId::new("40").unwrap()).unwrap().1, 1);
    }

    #[tokio::test]
    async fn a_resend_refused_as_stale_is_reported_in_doubt_with_the_hint() {
        let (app, platform, journal) = setup().await;
        let text = line("50", "5.00");
        let a = parse_line(1, &text).unwrap();
        let intent = Intent {
            key: a.key(),
            shop: a.shop.clone(),
            order: a.snapshot().unwrap().clone(),
            amendment: a.set.clone(),
            plan: order_domain::plan(
                a.snapshot().unwrap(),
                &a.set,
                &transport_wechat_shop::policy(),
            ),
        };
        // An interrupted run sent it without recording the reply.
        journal
            .begin(&intent, Timestamp::from_millis(1))
            .await
            .unwrap();
        journal
            .mark_sent(&intent.key, Timestamp::from_millis(1))
            .await
            .unwrap();
        platform.fail_next([PlatformError::new(
            PlatformErrorKind::Conflict,
            Some("isv.order-version-stale".into()),
            "order version changed",
        )]);
        let (s, lines) = run_with_concurrency(&app, &text, 1).await;
        assert_eq!((s.total.in_doubt, s.total.failed), (1, 0));
        assert_eq!(lines[0].status, LineStatus::InDoubt);
        assert!(lines[0].resent);
        let human = lines[0].human();
        assert!(human.contains("probably applied"), "{human}");
        let rec = journal.amendments(None).await.unwrap();
        assert_eq!(rec[0].state, AmendmentState::InDoubt);
        // Not sent again by the next run; still in doubt.
        let (s, lines) = run_with_concurrency(&app, &text, 1).await;
        assert_eq!(s.total.in_doubt, 1);
        assert!(lines[0].earlier);
    }

    #[tokio::test]
    async fn after_a_batch_the_journal_file_alone_holds_the_run() {
        let dir = std::env::temp_dir().join(format!(
            "order-app-batch-checkpoint-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let db = dir.join("journal.db");
        let journal = Arc::new(
            SqliteJournal::open(&format!("sqlite://{}", db.display()))
                .await
                .unwrap(),
        );
        let app = App::builder()
            .shop(
                ShopId::new("wechat-a").unwrap(),
                Arc::new(MemoryPlatform::new(transport_wechat_shop::policy())),
            )
            .journal(journal.clone())
            .build()
            .unwrap();
        let text: Vec<String> = (0..30)
            .map(|n| line(&format!("{}", 600 + n), "8.00"))
            .collect();
        let (s, _) = run_with_concurrency(&app, &text.join("\n"), 8).await;
        assert_eq!(s.total.applied, 30);
        // The journal is still open; copy its main file without the write-ahead log.
        let copy = dir.join("copy");
        std::fs::create_dir_all(&copy).unwrap();
        std::fs::copy(&db, copy.join("journal.db")).unwrap();
        let alone = SqliteJournal::open(&format!("sqlite://{}", copy.join("journal.db").display()))
            .await
            .unwrap();
        let recs = alone.amendments(None).await.unwrap();
        assert_eq!(recs.len(), 30);
        assert!(recs.iter().all(|r| r.state == AmendmentState::Acknowledged));
        alone.close().await;
        journal.close().await;
        let _ = std::fs::remove_dir_all(&dir);
    }
}
