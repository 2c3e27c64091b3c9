//! # order-app
//!
//! ordermod's application layer: the TOML [`Config`], the wiring of shops, journal and clock
//! into an [`App`] (from a config with [`App::from_config`], or by hand with [`App::builder`]),
//! the use cases ([`App::plan`], [`App::apply`], [`App::run_batch`], the journal views) and the
//! `ordermod` command built on them.
//!
//! Only this crate knows every platform: [`registry`] maps a platform name to its policy,
//! credential keys and transport constructor, and [`sandbox`] converts domain orders into each
//! emulator's seed format for `--sandbox` runs.
//!
//! ```no_run
//! use std::sync::Arc;
//! use order_app::{App, BatchOptions, memory::MemoryPlatform};
//! use order_domain::ShopId;
//! use order_journal::SqliteJournal;
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let app = App::builder()
//!     .shop(ShopId::new("wechat-main")?, Arc::new(MemoryPlatform::new(transport_wechat_shop::policy())))
//!     .journal(Arc::new(SqliteJournal::open("sqlite://ordermod.db").await?))
//!     .build()?;
//! let input = tokio::io::BufReader::new(tokio::fs::File::open("amendments.jsonl").await?);
//! let summary = app.run_batch(input, BatchOptions::default(), |line| println!("{}", line.human())).await?;
//! println!("{} applied", summary.total.applied);
//! # Ok(()) }
//! ```
#![warn(missing_docs)]

mod app;
mod batch;
pub mod config;
pub mod generate;
pub mod input;
mod journal;
pub mod memory;
pub mod reconcile;
pub mod registry;
pub mod report;
#[cfg(feature = "sandbox")]
pub mod sandbox;
pub mod serve;
pub mod worker;

pub use app::{
    App, AppBuilder, AppError, Applied, ApplyError, Disposition, InDoubt, SystemClock, http_client,
    open_journal,
};
pub use batch::{
    BatchError, BatchOptions, Counts, DEFAULT_CONCURRENCY, LineReport, LineStatus, ReportedError,
    Summary,
};
pub use config::{Config, ConfigError, Env, ShopConfig, SystemEnv};
pub use input::{AmendmentLine, InputError, derive_key};
pub use registry::PlatformKind;
