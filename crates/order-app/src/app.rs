//! The application: shops, journal and clock wired together, and the use cases over them.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use order_domain::{
    AmendmentRecord, AmendmentState, Begin, Clock, IdempotencyKey, Intent, Journal, JournalError,
    MessageRecord, OrderId, OrderPlatform, Outcome, Plan, PlatformError, Rejection, ShopId,
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
/// outcome (journal state `sent`): the platform may or may not have applied it, and none of
/// the documented operations can tell (decision D8).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum InDoubt {
    /// Send it again. The order ends in exactly the state one send gives (amendments are
    /// absolute), at the cost of one more revision on platforms that count them when the
    /// first send had landed.
    #[default]
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
    /// ([`InDoubt::Hold`]): nothing was sent now, the journal still says `sent`.
    InDoubt,
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
}

/// The wired application. Cheap to clone; holds no global state.
#[derive(Clone)]
pub struct App {
    shops: Arc<BTreeMap<ShopId, Arc<dyn OrderPlatform>>>,
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

/// Opens the journal a URL names: `sqlite://FILE`, `sqlite::memory:`, or `memory:` (the
/// in-process [`MemoryJournal`](crate::memory::MemoryJournal), not durable).
pub async fn open_journal(url: &str) -> Result<Arc<dyn Journal>, AppError> {
    if url == "memory:" {
        return Ok(Arc::new(crate::memory::MemoryJournal::new()));
    }
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
            builder = builder.shop(shop.id.clone(), factory.build(shop, &credentials)?);
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

    /// Plans one amendment (a dry run; nothing is recorded or sent).
    pub fn plan(&self, line: &AmendmentLine) -> Result<Result<Plan, Rejection>, ApplyError> {
        let platform = self.platform_for(line)?;
        Ok(order_domain::plan(
            &line.order,
            &line.set,
            platform.policy(),
        ))
    }

    /// Applies one amendment: plan, record the intent, skip it when an earlier run recorded an
    /// outcome, record a rejection without sending, otherwise wait for the shop's pacer (if
    /// any), mark it sent, send it and record what the platform said. An amendment an interrupted run left in doubt is sent again
    /// ([`InDoubt::Resend`]; see [`App::apply_with`]).
    pub async fn apply(&self, line: &AmendmentLine) -> Result<Applied, ApplyError> {
        self.apply_with(line, InDoubt::Resend).await
    }

    /// [`App::apply`], choosing what to do with an amendment left in doubt.
    pub async fn apply_with(
        &self,
        line: &AmendmentLine,
        in_doubt: InDoubt,
    ) -> Result<Applied, ApplyError> {
        let platform = self.platform_for(line)?;
        let key = line.key();
        let planned = order_domain::plan(&line.order, &line.set, platform.policy());
        let intent = Intent {
            key: key.clone(),
            shop: line.shop.clone(),
            order: line.order.clone(),
            amendment: line.set.clone(),
            plan: planned,
        };
        let mut resent = false;
        let done = |disposition, resent| Applied {
            key: key.clone(),
            platform: platform.name().to_owned(),
            disposition,
            resent,
        };
        match self.journal.begin(&intent, self.clock.now()).await? {
            Begin::Finished(state) => {
                return Ok(done(Disposition::AlreadyRecorded(state), false));
            }
            Begin::Unfinished(AmendmentState::Sent) => match in_doubt {
                InDoubt::Resend => resent = true,
                InDoubt::Hold => return Ok(done(Disposition::InDoubt, false)),
            },
            Begin::New | Begin::Unfinished(_) => {}
        }
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
                return Ok(done(Disposition::Rejected(rejection), false));
            }
        };
        // Wait for the shop's rate before recording `sent`, not after: what is recorded as
        // sent is then on its way, and a crash leaves only those in doubt.
        if let Some(pacer) = self.pacers.get(&line.shop) {
            pacer.until_ready().await;
        }
        self.journal.mark_sent(&key, self.clock.now()).await?;
        match platform.apply(&line.order, &plan).await {
            Ok(receipt) => {
                self.journal
                    .record_outcome(&key, &Outcome::Acknowledged(receipt), self.clock.now())
                    .await?;
                Ok(done(Disposition::Applied(Box::new(plan)), resent))
            }
            Err(error) => {
                self.journal
                    .record_outcome(
                        &key,
                        &Outcome::failure(error.clone(), resent),
                        self.clock.now(),
                    )
                    .await?;
                Ok(done(Disposition::Failed(error), resent))
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

#[cfg(test)]
mod tests {
    use super::*;

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
