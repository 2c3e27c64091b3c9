//! The application: shops, journal and clock wired together, and the use cases over them.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use order_domain::{
    AmendmentRecord, AmendmentState, Begin, Clock, IdempotencyKey, Intent, Journal, JournalError,
    MessageRecord, Order, OrderId, OrderPlatform, OrderSource, Outcome, Plan, PlatformError,
    Rejection, ShopId,
};

use crate::config::{Config, ConfigError, Env};
use crate::input::AmendmentLine;
use crate::registry::{PlatformFactory, PlatformKind, SendPacer};

pub use transport_core::SystemClock;

/// Why an [`App`] could not be assembled.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AppError {
    /// The configuration is wrong (names the shop and key).
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The builder was given no journal.
    #[error("no journal: call `.journal(..)` on the builder")]
    NoJournal,
    /// The HTTP client could not be built (the error carries no secret: no credential is
    /// involved yet).
    #[error("cannot set up HTTP: {0}")]
    Http(#[source] order_domain::PlatformError),
    /// The journal could not be opened.
    #[error("cannot open journal {url}: {source}")]
    Journal {
        /// The URL (without credentials: journal URLs carry none).
        url: String,
        /// Why (journal errors never contain credentials).
        #[source]
        source: JournalError,
    },
}

/// Why one amendment could not be processed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ApplyError {
    /// The line names a shop the app does not know, or a platform that is not the shop's.
    #[error("{0}")]
    Input(String),
    /// The journal failed: the batch must stop, an unrecorded send could be doubled on resume.
    #[error(transparent)]
    Journal(#[from] JournalError),
}

/// What a run does with an amendment an interrupted earlier run sent without recording the
/// outcome (journal state `sent`): the platform may or may not have applied it (decision D8).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum InDoubt {
    /// Read the order back where the shop's platform has a read: showing the plan's target, it
    /// is recorded applied (`confirmed_by_read`) and nothing is resent; showing the state the
    /// plan started from, it is resent; anything else is held in doubt with the difference.
    /// Where the platform has no read (vv-tool, EM), this is [`InDoubt::Resend`].
    #[default]
    Verify,
    /// Send it again. The order ends in exactly the state one send gives (amendments are
    /// absolute), at the cost of one more revision on platforms that count them when the
    /// first send had landed.
    Resend,
    /// Send nothing; report it as in doubt so that an operator checks the order and runs
    /// again with [`InDoubt::Resend`]. No platform ever sees a second send.
    Hold,
}

/// How one amendment ended in this run.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Disposition {
    /// Sent and acknowledged by the platform now.
    Applied(Box<Plan>),
    /// The journal holds an outcome from an earlier run; nothing was sent.
    AlreadyRecorded(AmendmentState),
    /// Refused by the platform's rules before sending; recorded as rejected.
    Rejected(Rejection),
    /// Failed at the platform (after the transport's retries); recorded as failed.
    Failed(PlatformError),
    /// Sent by an interrupted earlier run without a recorded outcome, and held
    /// ([`InDoubt::Hold`], or [`InDoubt::Verify`] when the order as read shows neither the
    /// target nor the state before: `Some` says what differs): nothing was sent now, the
    /// journal still says `sent`.
    InDoubt(Option<String>),
    /// Sent by an interrupted earlier run, and the order as read shows the plan's target:
    /// recorded applied (`confirmed`), nothing resent.
    ConfirmedByRead,
    /// Applied now and read back ([`ApplyOptions::confirm`]): `None` when the order shows the
    /// target (recorded `confirmed`), else what differs (recorded `flagged`).
    Checked(Box<Plan>, Option<String>),
    /// The order could not be read (nothing recorded, nothing sent).
    ReadFailed(PlatformError),
}

/// Where the snapshot an amendment was planned against came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SnapshotSource {
    /// The platform's order read.
    Read,
    /// The latest stored 1688 order message (vv-tool, which has no read).
    Message,
    /// The line's own snapshot.
    Line,
}

impl SnapshotSource {
    /// `read`, `message` or `line`.
    pub fn as_str(self) -> &'static str {
        match self {
            SnapshotSource::Read => "read",
            SnapshotSource::Message => "message",
            SnapshotSource::Line => "line",
        }
    }
}

/// How one amendment is applied.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ApplyOptions {
    /// What to do with an amendment left in doubt by an interrupted run.
    pub in_doubt: InDoubt,
    /// Read the order even when the line carries a snapshot, plan on the read and report the
    /// fields in which the snapshot was stale.
    pub refresh: bool,
    /// After an acknowledged send, read the order back and record `confirmed` or `flagged`.
    pub confirm: bool,
}

/// The result of one amendment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    /// Its idempotency key.
    pub key: IdempotencyKey,
    /// The platform's name.
    pub platform: String,
    /// What happened.
    pub disposition: Disposition,
    /// True when an interrupted earlier run had already sent it without recording the outcome,
    /// so this run sent it again (harmless: amendments are absolute). A platform that versions
    /// orders may then refuse the resend as a conflict because the first send was applied.
    pub resent: bool,
    /// Where the snapshot came from (`None` when the journal's record decided without one).
    pub source: Option<SnapshotSource>,
    /// Fields in which the line's snapshot differed from the order as read.
    pub stale: Vec<String>,
}

/// The wired application. Cheap to clone; holds no global state.
#[derive(Clone)]
pub struct App {
    shops: Arc<BTreeMap<ShopId, Arc<dyn OrderPlatform>>>,
    sources: Arc<BTreeMap<ShopId, Arc<dyn OrderSource>>>,
    pacers: Arc<BTreeMap<ShopId, SendPacer>>,
    journal: Arc<dyn Journal>,
    clock: Arc<dyn Clock>,
}

impl fmt::Debug for App {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("App")
            .field("shops", &self.shops.keys().collect::<Vec<_>>())
            .field("journal", &self.journal)
            .finish_non_exhaustive()
    }
}

/// Assembles an [`App`] by hand (for embedders and tests).
#[derive(Default)]
pub struct AppBuilder {
    shops: BTreeMap<ShopId, Arc<dyn OrderPlatform>>,
    sources: BTreeMap<ShopId, Arc<dyn OrderSource>>,
    pacers: BTreeMap<ShopId, SendPacer>,
    journal: Option<Arc<dyn Journal>>,
    clock: Option<Arc<dyn Clock>>,
}

impl fmt::Debug for AppBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AppBuilder")
            .field("shops", &self.shops.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl AppBuilder {
    /// Adds (or replaces) a shop and the platform that serves it.
    #[must_use]
    pub fn shop(mut self, id: ShopId, platform: Arc<dyn OrderPlatform>) -> Self {
        self.shops.insert(id, platform);
        self
    }

    /// Gives `shop` an order read: amendments by order id, `--refresh`, `--in-doubt verify`
    /// and `--confirm` read through it, within the shop's pacer (reads share the quota).
    #[must_use]
    pub fn source(mut self, id: ShopId, source: Arc<dyn OrderSource>) -> Self {
        self.sources.insert(id, source);
        self
    }

    /// Paces `shop`'s sends: an amendment waits for `pacer` before it is recorded as sent
    /// (see [`SendPacer`]). Shops without one are recorded as sent at once.
    #[must_use]
    pub fn pace(mut self, shop: ShopId, pacer: SendPacer) -> Self {
        self.pacers.insert(shop, pacer);
        self
    }

    /// Sets the journal (required).
    #[must_use]
    pub fn journal(mut self, journal: Arc<dyn Journal>) -> Self {
        self.journal = Some(journal);
        self
    }

    /// Sets the clock ([`SystemClock`] when not set).
    #[must_use]
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = Some(clock);
        self
    }

    /// Builds the app; fails only without a journal.
    pub fn build(self) -> Result<App, AppError> {
        Ok(App {
            shops: Arc::new(self.shops),
            sources: Arc::new(self.sources),
            pacers: Arc::new(self.pacers),
            journal: self.journal.ok_or(AppError::NoJournal)?,
            clock: self.clock.unwrap_or_else(|| Arc::new(SystemClock)),
        })
    }
}

/// The process's one HTTP client (connection pool, timeouts, no proxy for loopback).
pub fn http_client() -> Result<transport_core::HttpClient, AppError> {
    transport_core::HttpClient::new(&transport_core::HttpConfig::default()).map_err(AppError::Http)
}

/// Opens the journal a URL names: `sqlite://FILE`, `sqlite::memory:` (private, not durable)
/// or `postgres://USER:PASSWORD@HOST:PORT/DATABASE` (`postgresql://` too). The app takes it as
/// an `Arc<dyn Journal>` (an `Arc<AnyJournal>` coerces); the wiring keeps the
/// [`AnyJournal`](order_journal::AnyJournal) for what lives beside a PostgreSQL journal
/// ([`AnyJournal::as_postgres`](order_journal::AnyJournal::as_postgres)).
pub async fn open_journal(url: &str) -> Result<Arc<order_journal::AnyJournal>, AppError> {
    crate::journal::open(url).await
}

impl App {
    /// A builder.
    pub fn builder() -> AppBuilder {
        AppBuilder::default()
    }

    /// Assembles the app from a configuration: reads each shop's secrets from `env`, builds its
    /// transport through the platform registry and opens the journal the config names.
    pub async fn from_config(config: &Config, env: &dyn Env) -> Result<App, AppError> {
        let mut builder = App::builder();
        let mut factory = PlatformFactory::new(http_client()?);
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
        let journal = open_journal(config.journal_url()).await?;
        builder.journal(journal).build()
    }

    /// The platform serving `shop`.
    pub fn platform(&self, shop: &ShopId) -> Option<&Arc<dyn OrderPlatform>> {
        self.shops.get(shop)
    }

    /// The shops, in name order.
    pub fn shops(&self) -> impl Iterator<Item = &ShopId> {
        self.shops.keys()
    }

    /// The journal.
    pub fn journal(&self) -> &Arc<dyn Journal> {
        &self.journal
    }

    /// The clock.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    fn platform_for(&self, line: &AmendmentLine) -> Result<&Arc<dyn OrderPlatform>, ApplyError> {
        let platform = self
            .shops
            .get(&line.shop)
            .ok_or_else(|| ApplyError::Input(format!("unknown shop `{}`", line.shop)))?;
        if let Some(named) = &line.platform
            && named != platform.name()
        {
            return Err(ApplyError::Input(match PlatformKind::from_name(named) {
                Some(_) => format!(
                    "the line says platform `{named}` but shop `{}` is on {}",
                    line.shop,
                    platform.name()
                ),
                None => format!("unknown platform `{named}`"),
            }));
        }
        Ok(platform)
    }

    /// The order read of `shop`, if its platform has one.
    pub fn source(&self, shop: &ShopId) -> Option<&Arc<dyn OrderSource>> {
        self.sources.get(shop)
    }

    /// Plans one amendment against the line's snapshot (a dry run; nothing is recorded, sent
    /// or read). A line that gives only the order id is an input error here.
    pub fn plan(&self, line: &AmendmentLine) -> Result<Result<Plan, Rejection>, ApplyError> {
        let platform = self.platform_for(line)?;
        let order = line.snapshot().ok_or_else(|| {
            ApplyError::Input(
                "the line gives only the order id; `plan` reads nothing (use `apply`)".to_owned(),
            )
        })?;
        Ok(order_domain::plan(order, &line.set, platform.policy()))
    }

    /// Reads `order` through `shop`'s source, within the shop's pacer (reads and writes share
    /// the quota). A revision count the read does not carry (0) is the journal's count of
    /// applied revisions for the order.
    async fn read(
        &self,
        shop: &ShopId,
        source: &Arc<dyn OrderSource>,
        order: &OrderId,
    ) -> Result<Result<Order, PlatformError>, JournalError> {
        if let Some(pacer) = self.pacers.get(shop) {
            pacer.until_ready().await;
        }
        let read = match source.fetch(order).await {
            Ok(o) => o,
            Err(e) => return Ok(Err(e)),
        };
        if read.revision().count > 0 {
            return Ok(Ok(read));
        }
        let count = self.journal.applied_revisions(shop, order).await?;
        Ok(Ok(with_revision_count(read, count)))
    }

    /// The latest stored 1688 order message about `order`, decoded (vv-tool's snapshot).
    async fn latest_message(&self, order: &OrderId) -> Result<Option<Order>, JournalError> {
        // Newest first: the first that decodes to this order is the latest.
        for m in self.journal.messages_for_order(order).await? {
            if m.record.source != transport_1688_push::SOURCE {
                continue;
            }
            if let Ok(d) = transport_1688_push::decode_message(&m.record.raw)
                && d.order.id() == order
            {
                return Ok(Some(d.order));
            }
        }
        Ok(None)
    }

    /// The snapshot to plan on: the line's, a read, or (vv-tool) the latest stored message.
    async fn snapshot(
        &self,
        line: &AmendmentLine,
        platform: &Arc<dyn OrderPlatform>,
        refresh: bool,
    ) -> Result<Result<(Order, SnapshotSource, Vec<String>), PlatformError>, ApplyError> {
        let given = line.snapshot();
        if let Some(o) = given
            && !refresh
        {
            return Ok(Ok((o.clone(), SnapshotSource::Line, Vec::new())));
        }
        if let Some(source) = self.sources.get(&line.shop) {
            return Ok(
                match self.read(&line.shop, source, line.order_id()).await? {
                    Ok(read) => {
                        let stale = given.map(|g| stale_fields(g, &read)).unwrap_or_default();
                        Ok((read, SnapshotSource::Read, stale))
                    }
                    Err(e) => Err(e),
                },
            );
        }
        if platform.name() == PlatformKind::Vvtool1688.name() {
            if let Some(m) = self.latest_message(line.order_id()).await? {
                let stale = given.map(|g| stale_fields(g, &m)).unwrap_or_default();
                return Ok(Ok((m, SnapshotSource::Message, stale)));
            }
            if let Some(o) = given {
                return Ok(Ok((o.clone(), SnapshotSource::Line, Vec::new())));
            }
            return Err(ApplyError::Input(format!(
                "shop `{}` ({}): no 1688 order message about order {} is stored (vv-tool \
                 publishes no order read; run `ordermod serve` to receive them); give the order \
                 snapshot in the line",
                line.shop,
                platform.name(),
                line.order_id()
            )));
        }
        match given {
            Some(o) => Ok(Ok((o.clone(), SnapshotSource::Line, Vec::new()))),
            None if PlatformKind::from_name(platform.name())
                .is_some_and(PlatformKind::publishes_read) =>
            {
                Err(ApplyError::Input(format!(
                    "shop `{}`: this ordermod does not read {} orders yet; give the order \
                     snapshot in the line",
                    line.shop,
                    platform.name()
                )))
            }
            None => Err(ApplyError::Input(format!(
                "shop `{}`: {} publishes no order read; give the order snapshot in the line",
                line.shop,
                platform.name()
            ))),
        }
    }

    /// Applies one amendment: plan, record the intent, skip it when an earlier run recorded an
    /// outcome, record a rejection without sending, otherwise wait for the shop's pacer (if
    /// any), mark it sent, send it and record what the platform said. An amendment an
    /// interrupted run left in doubt is settled by reading the order where the platform has a
    /// read, else sent again (see [`App::apply_with`]).
    pub async fn apply(&self, line: &AmendmentLine) -> Result<Applied, ApplyError> {
        self.apply_with(line, ApplyOptions::default()).await
    }

    /// [`App::apply`] with options: what to do with an amendment left in doubt, whether to
    /// re-read a line's snapshot, whether to read applied orders back.
    pub async fn apply_with(
        &self,
        line: &AmendmentLine,
        options: ApplyOptions,
    ) -> Result<Applied, ApplyError> {
        let platform = self.platform_for(line)?;
        let key = line.key();
        let source = self.sources.get(&line.shop);
        let done =
            |disposition, resent, from: Option<SnapshotSource>, stale: Vec<String>| Applied {
                key: key.clone(),
                platform: platform.name().to_owned(),
                disposition,
                resent,
                source: from,
                stale,
            };
        // What an earlier run recorded for this key. Looked up first only when a read would be
        // needed (a final outcome needs none); otherwise `begin` tells, and an unfinished one
        // is looked up then: it is sent (or settled) as it was recorded.
        let find = || async {
            Ok::<_, JournalError>(
                self.journal
                    .amendments(Some(line.order_id()))
                    .await?
                    .into_iter()
                    .find(|r| r.intent.key == key),
            )
        };
        let mut recorded = None;
        if line.snapshot().is_none() || options.refresh {
            recorded = find().await?;
            if let Some(r) = &recorded
                && r.state.is_final()
                && r.intent.shop == line.shop
                && r.intent.amendment == line.set
            {
                return Ok(done(
                    Disposition::AlreadyRecorded(r.state),
                    false,
                    None,
                    Vec::new(),
                ));
            }
        }
        let (order, from, stale) = match self.snapshot(line, platform, options.refresh).await? {
            Ok(s) => s,
            Err(e) => {
                return Ok(done(
                    Disposition::ReadFailed(e),
                    false,
                    Some(SnapshotSource::Read),
                    Vec::new(),
                ));
            }
        };
        let planned = order_domain::plan(&order, &line.set, platform.policy());
        let intent = Intent {
            key: key.clone(),
            shop: line.shop.clone(),
            order,
            amendment: line.set.clone(),
            plan: planned,
        };
        let mut resent = false;
        let (order, plan) = match self.journal.begin(&intent, self.clock.now()).await? {
            Begin::Finished(state) => {
                return Ok(done(
                    Disposition::AlreadyRecorded(state),
                    false,
                    Some(from),
                    stale,
                ));
            }
            Begin::Unfinished(state) => {
                // Send what was recorded: the snapshot and plan of the first run.
                if recorded.is_none() {
                    recorded = find().await?;
                }
                // The order as just read, when it was (a second read would cost a quota slot).
                let just_read = (from == SnapshotSource::Read).then(|| intent.order.clone());
                let first = recorded.map_or(intent, |r| r.intent);
                let plan = match first.plan.clone() {
                    Ok(plan) => plan,
                    // Interrupted before its rejection was recorded: record it now.
                    Err(rejection) => {
                        self.journal
                            .record_outcome(
                                &key,
                                &Outcome::Rejected(rejection.clone()),
                                self.clock.now(),
                            )
                            .await?;
                        return Ok(done(
                            Disposition::Rejected(rejection),
                            false,
                            Some(from),
                            stale,
                        ));
                    }
                };
                if state == AmendmentState::Sent {
                    match (options.in_doubt, source) {
                        (InDoubt::Hold, _) => {
                            return Ok(done(Disposition::InDoubt(None), false, Some(from), stale));
                        }
                        (InDoubt::Verify, Some(source)) => {
                            let read = match just_read {
                                Some(o) => Ok(o),
                                None => self.read(&line.shop, source, line.order_id()).await?,
                            };
                            let now = match read {
                                Ok(o) => o,
                                Err(e) => {
                                    return Ok(done(
                                        Disposition::ReadFailed(e),
                                        false,
                                        Some(SnapshotSource::Read),
                                        stale,
                                    ));
                                }
                            };
                            let target = first.order.with_revision(&plan, None);
                            let to_target = differences(&target, &now, &plan);
                            if to_target.is_empty() {
                                self.journal
                                    .record_outcome(
                                        &key,
                                        &Outcome::ConfirmedByRead(Box::new(now)),
                                        self.clock.now(),
                                    )
                                    .await?;
                                return Ok(done(
                                    Disposition::ConfirmedByRead,
                                    false,
                                    Some(SnapshotSource::Read),
                                    stale,
                                ));
                            }
                            let to_before = differences(&first.order, &now, &plan);
                            if !to_before.is_empty() {
                                return Ok(done(
                                    Disposition::InDoubt(Some(format!(
                                        "the order as read shows neither the target nor the state \
                                         before the plan: {}",
                                        to_target.join("; ")
                                    ))),
                                    false,
                                    Some(SnapshotSource::Read),
                                    stale,
                                ));
                            }
                            resent = true;
                        }
                        (InDoubt::Verify | InDoubt::Resend, _) => resent = true,
                    }
                }
                (first.order, plan)
            }
            Begin::New => {
                let plan = match intent.plan {
                    Ok(plan) => plan,
                    Err(rejection) => {
                        self.journal
                            .record_outcome(
                                &key,
                                &Outcome::Rejected(rejection.clone()),
                                self.clock.now(),
                            )
                            .await?;
                        return Ok(done(
                            Disposition::Rejected(rejection),
                            false,
                            Some(from),
                            stale,
                        ));
                    }
                };
                (intent.order, plan)
            }
        };
        // Wait for the shop's rate before recording `sent`, not after: what is recorded as
        // sent is then on its way, and a crash leaves only those in doubt.
        if let Some(pacer) = self.pacers.get(&line.shop) {
            pacer.until_ready().await;
        }
        self.journal.mark_sent(&key, self.clock.now()).await?;
        match platform.apply(&order, &plan).await {
            Ok(receipt) => {
                self.journal
                    .record_outcome(&key, &Outcome::Acknowledged(receipt), self.clock.now())
                    .await?;
                if options.confirm
                    && let Some(source) = source
                {
                    let target = order.with_revision(&plan, None);
                    let note = match self.read(&line.shop, source, line.order_id()).await? {
                        Ok(now) => {
                            let d = differences(&target, &now, &plan);
                            (!d.is_empty()).then(|| {
                                format!(
                                    "the platform said success but the order does not show the \
                                     target: {}",
                                    d.join("; ")
                                )
                            })
                        }
                        Err(e) => Some(format!("the order could not be read back: {e}")),
                    };
                    let state = if note.is_none() {
                        AmendmentState::Confirmed
                    } else {
                        AmendmentState::Flagged
                    };
                    self.journal
                        .confirm_by_read(&key, state, note.as_deref(), self.clock.now())
                        .await?;
                    return Ok(done(
                        Disposition::Checked(Box::new(plan), note),
                        resent,
                        Some(from),
                        stale,
                    ));
                }
                Ok(done(
                    Disposition::Applied(Box::new(plan)),
                    resent,
                    Some(from),
                    stale,
                ))
            }
            Err(error) => {
                self.journal
                    .record_outcome(
                        &key,
                        &Outcome::failure(error.clone(), resent),
                        self.clock.now(),
                    )
                    .await?;
                Ok(done(Disposition::Failed(error), resent, Some(from), stale))
            }
        }
    }

    /// The journal's amendments (newest first), only those of `order` when given.
    pub async fn amendments(
        &self,
        order: Option<&OrderId>,
    ) -> Result<Vec<AmendmentRecord>, JournalError> {
        self.journal.amendments(order).await
    }

    /// Dead-lettered inbound messages, newest first.
    pub async fn dead_letters(&self) -> Result<Vec<MessageRecord>, JournalError> {
        self.journal.messages(true).await
    }
}

/// `order` with revision count `count` (the platform's read did not carry one).
fn with_revision_count(order: Order, count: u32) -> Order {
    let mut spec = order_domain::OrderSpec::from(order.clone());
    spec.revision.count = count;
    Order::from_spec(spec).unwrap_or(order)
}

/// The line of `order` that is `line`: the same id, else the same product and SKU (a snapshot's
/// line ids are the caller's labels where the platform names lines by product and SKU, as
/// WeChat does; its read names them `PRODUCT:SKU`).
fn same_line<'a>(
    order: &'a Order,
    line: &order_domain::OrderLine,
) -> Option<&'a order_domain::OrderLine> {
    order.line(line.id()).or_else(|| {
        let product = line.product()?;
        let mut same = order
            .lines()
            .iter()
            .filter(|l| l.product() == Some(product) && l.sku() == line.sku());
        let first = same.next()?;
        // Only when unambiguous.
        same.next().is_none().then_some(first)
    })
}

/// What differs between the order `expected` and the order `found`, in the parts `plan`
/// concerns: every open line's current total, the freight, and each other part the plan sets.
/// Empty when `found` shows `expected`.
pub fn differences(expected: &Order, found: &Order, plan: &Plan) -> Vec<String> {
    let mut out = Vec::new();
    for l in expected.lines().iter().filter(|l| !l.is_closed()) {
        match same_line(found, l) {
            Some(f) if f.current_total() == l.current_total() => {}
            Some(f) => out.push(format!(
                "lines[{}]: expected {}, found {}",
                l.id(),
                l.current_total(),
                f.current_total()
            )),
            None => out.push(format!("lines[{}]: not in the order as read", l.id())),
        }
    }
    if expected.freight_current() != found.freight_current() {
        out.push(format!(
            "freight: expected {}, found {}",
            expected.freight_current(),
            found.freight_current()
        ));
    }
    if plan.address().is_some() && expected.address() != found.address() {
        out.push("address: differs".to_owned());
    }
    if plan.logistics().is_some() && expected.logistics() != found.logistics() {
        out.push("logistics: differs".to_owned());
    }
    if plan.delivery_date().is_some() && expected.delivery_date() != found.delivery_date() {
        out.push("delivery_date: differs".to_owned());
    }
    if plan.remarks().is_some() && expected.remarks() != found.remarks() {
        out.push("remarks: differs".to_owned());
    }
    if plan.payment().is_some() && expected.payment() != found.payment() {
        out.push("payment: differs".to_owned());
    }
    out
}

/// The fields in which a line's snapshot differs from the order as read (revision counts
/// are not compared: reads do not always carry them).
pub fn stale_fields(given: &Order, read: &Order) -> Vec<String> {
    let mut out = Vec::new();
    if given.status() != read.status() {
        out.push("status".to_owned());
    }
    if given.currency() != read.currency() {
        out.push("currency".to_owned());
    }
    if given.trade_type().is_some() && given.trade_type() != read.trade_type() {
        out.push("trade_type".to_owned());
    }
    for l in given.lines() {
        match same_line(read, l) {
            None => out.push(format!("lines[{}]", l.id())),
            Some(r) => {
                if r.original_total() != l.original_total() {
                    out.push(format!("lines[{}].original_total", l.id()));
                }
                if r.current_total() != l.current_total() {
                    out.push(format!("lines[{}].current_total", l.id()));
                }
                if r.is_closed() != l.is_closed() {
                    out.push(format!("lines[{}].closed", l.id()));
                }
            }
        }
    }
    for r in read.lines() {
        if same_line(given, r).is_none() {
            out.push(format!("lines[{}]", r.id()));
        }
    }
    if given.freight_original() != read.freight_original() {
        out.push("freight.original".to_owned());
    }
    if given.freight_current() != read.freight_current() {
        out.push("freight.current".to_owned());
    }
    if given.revision().version.is_some() && given.revision().version != read.revision().version {
        out.push("revision.version".to_owned());
    }
    if given.address().is_some() && given.address() != read.address() {
        out.push("address".to_owned());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn order(line_id: &str, current: &str) -> Order {
        serde_json::from_value(serde_json::json!({
            "id": "1", "status": "awaiting_payment", "currency": "CNY",
            "lines": [{"id": line_id, "product": "10", "sku": "20",
                       "original_total": "100.00", "current_total": current}],
            "freight": {"original": "10.00"}
        }))
        .unwrap()
    }

    /// A snapshot's line ids are the caller's labels; a WeChat read names lines `PRODUCT:SKU`.
    /// The same product and SKU is the same line, so a landed send is recognised.
    #[test]
    fn lines_are_matched_by_id_else_by_product_and_sku() {
        let given = order("1-0", "100.00");
        let set: order_domain::Amendment =
            serde_json::from_str(r#"{"lines": {"1-0": "80.00"}}"#).unwrap();
        let plan = order_domain::plan(&given, &set, &transport_wechat_shop::policy()).unwrap();
        let target = given.with_revision(&plan, None);
        assert!(differences(&target, &order("10:20", "80.00"), &plan).is_empty());
        assert_eq!(
            differences(&target, &order("10:20", "100.00"), &plan),
            vec!["lines[1-0]: expected 80.00, found 100.00".to_owned()]
        );
        assert!(stale_fields(&given, &order("10:20", "100.00")).is_empty());
        assert_eq!(
            stale_fields(&given, &order("10:20", "90.00")),
            vec!["lines[1-0].current_total".to_owned()]
        );
    }

    #[tokio::test]
    async fn a_journal_that_cannot_be_opened_keeps_its_cause_as_the_source() {
        let e = open_journal("sqlite:///no/such/directory/ordermod.db")
            .await
            .unwrap_err();
        assert!(matches!(e, AppError::Journal { .. }), "{e:?}");
        let source = std::error::Error::source(&e).expect("the journal error is kept");
        assert!(source.is::<JournalError>(), "{source:?}");
    }
}
