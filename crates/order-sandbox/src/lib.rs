//! HTTP emulators of the commerce platforms ordermod talks to, for transport tests, demos and
//! benchmarks.
//!
//! Every emulator is a stateful axum server on `127.0.0.1` (port 0 by default), written from
//! the platforms' published wire formats only: this crate depends on no ordermod domain or
//! transport crate, so a transport tested against it is tested for interoperability.
//!
//! | platform | module | business endpoint |
//! |---|---|---|
//! | WeChat Shop | [`wechat`] | `POST /product/order/change_order_price`, `/product/order/get` (`?access_token=`) |
//! | WeChat Channels shop | [`channels`] | `POST /channels/ec/order/{price,address}/update`, `/channels/ec/order/get` (`?access_token=`) |
//! | vv-tool (1688) | [`vvtool`] | `POST /tool/erps/1688modify-order-price` |
//! | EM franchiser | [`em`] | `POST /franchiser/api/trade/modify` |
//! | Alibaba.com ICBU | [`icbu`] | `POST /router/rest` (`method=alibaba.trade.order.modify` or `alibaba.seller.order.get`) |
//! | 1688 open platform | [`open1688`] | `POST /openapi/param2/1/{namespace}/{api}/{app_key}` (price change, seller's order read) |
//!
//! Every emulator also serves these admin endpoints (JSON):
//!
//! - `POST /__admin/orders`: seed an order (the platform's order type, e.g. [`WechatOrder`]).
//! - `GET /__admin/orders/{id}`: the order's current state, 404 if unknown.
//! - `GET /__admin/stats`: [`Stats`].
//! - `GET /__admin/calls` (optionally `?order_id=`): the call log, a list of [`CallRecord`].
//! - `POST /__admin/faults`: a [`FaultRequest`], e.g. `{"fault":{"kind":"http500"},"count":2}`.
//!
//! Faults ([`Fault`]) are scripted per emulator with `fail_next` or drawn at random from a
//! [`FaultProfile`] with a generator keyed by the builder's seed, so the same seed and call order
//! give the same faults. Only business endpoints are faulted or rate limited (token endpoints
//! and admin endpoints never are). A faulted call never changes state, except
//! [`Fault::DropAfterApply`]. Separately, each emulator's `ack_without_apply(n)` (or
//! `{"ack_without_apply": n}` on `POST /__admin/faults`) answers the next `n` changes with
//! success without applying them.
//!
//! Rate limits are token buckets per credential: capacity = the rate, refilled continuously.
//!
//! ```no_run
//! use order_sandbox::{Sandbox, WechatOrder, WechatSettings, VvtoolSettings};
//!
//! # async fn demo() -> std::io::Result<()> {
//! let sb = Sandbox::builder()
//!     .seed(42)
//!     .wechat(WechatSettings::default())
//!     .vvtool(VvtoolSettings::default())
//!     .start()
//!     .await?;
//! let wechat = sb.wechat().expect("enabled above");
//! wechat.seed_order(WechatOrder::awaiting_payment(1001, 500, &[(1, 11, 3000)]));
//! println!("WeChat emulator at {}", wechat.base_url());
//! # Ok(())
//! # }
//! ```

#![deny(missing_docs)]

/// Implements the methods every emulator handle shares.
macro_rules! impl_common_handle {
    ($t:ty) => {
        impl $t {
            /// Base URL of the running emulator, e.g. `http://127.0.0.1:40123`.
            pub fn base_url(&self) -> String {
                self.inner
                    .base_url
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .clone()
            }

            /// Counters of the business endpoint.
            pub fn stats(&self) -> $crate::common::Stats {
                self.inner.core.stats()
            }

            /// Every business call so far, in arrival order.
            pub fn calls(&self) -> Vec<$crate::common::CallRecord> {
                self.inner.core.calls()
            }

            /// The business calls that named `order_id` (its decimal text).
            pub fn calls_for(&self, order_id: &str) -> Vec<$crate::common::CallRecord> {
                self.inner.core.calls_for(order_id)
            }

            /// Scripts `fault` for the next `n` business calls (after any already scripted).
            pub fn fail_next(&self, fault: $crate::common::Fault, n: usize) {
                self.inner.core.script(fault, n);
            }

            /// Replaces the random fault profile.
            pub fn set_fault_profile(&self, profile: $crate::common::FaultProfile) {
                self.inner.core.set_profile(profile);
            }

            /// Drops scripted faults not yet used.
            pub fn clear_faults(&self) {
                self.inner.core.clear_faults();
            }
        }
    };
}

/// The admin routes every emulator shares (stats, calls, faults).
macro_rules! admin_common_routes {
    ($t:ty) => {{
        async fn stats(
            axum::extract::State(em): axum::extract::State<$t>,
        ) -> axum::Json<$crate::common::Stats> {
            axum::Json(em.stats())
        }
        async fn calls(
            axum::extract::State(em): axum::extract::State<$t>,
            uri: axum::http::Uri,
        ) -> axum::Json<Vec<$crate::common::CallRecord>> {
            let q = $crate::common::parse_pairs(uri.query().unwrap_or(""));
            match q.into_iter().find(|(k, _)| k == "order_id") {
                Some((_, id)) => axum::Json(em.calls_for(&id)),
                None => axum::Json(em.calls()),
            }
        }
        async fn faults(
            axum::extract::State(em): axum::extract::State<$t>,
            body: axum::body::Bytes,
        ) -> axum::response::Response {
            use axum::response::IntoResponse;
            match serde_json::from_slice::<$crate::common::FaultRequest>(&body) {
                Ok(req) => {
                    $crate::common::apply_fault_request(&em.inner.core, req);
                    axum::http::StatusCode::NO_CONTENT.into_response()
                }
                Err(e) => $crate::common::admin_error(e),
            }
        }
        axum::Router::new()
            .route("/__admin/stats", axum::routing::get(stats))
            .route("/__admin/calls", axum::routing::get(calls))
            .route("/__admin/faults", axum::routing::post(faults))
    }};
}

pub mod channels;
pub mod common;
pub mod em;
pub mod icbu;
pub mod open1688;
mod price1688;
pub mod vvtool;
pub mod wechat;

pub use channels::{
    ChannelsAddress, ChannelsEmulator, ChannelsLine, ChannelsOrder, ChannelsSettings,
};
pub use common::{CallRecord, Fault, FaultProfile, FaultRequest, Stats};
pub use em::{EmApp, EmEmulator, EmItem, EmSettings, EmSignScheme, EmTrade};
pub use icbu::{IcbuApp, IcbuEmulator, IcbuOrder, IcbuSettings};
pub use open1688::{
    Open1688App, Open1688BusyReply, Open1688Emulator, Open1688Entry, Open1688Order,
    Open1688Settings,
};
pub use vvtool::{
    VvtoolBusyReply, VvtoolEmulator, VvtoolEntry, VvtoolOrder, VvtoolSettings, VvtoolToken,
};
pub use wechat::{WechatApp, WechatEmulator, WechatLine, WechatOrder, WechatQuota, WechatSettings};

/// A set of running emulators. Dropping it stops their servers.
#[derive(Debug)]
pub struct Sandbox {
    wechat: Option<WechatEmulator>,
    vvtool: Option<VvtoolEmulator>,
    em: Option<EmEmulator>,
    icbu: Option<IcbuEmulator>,
    open1688: Option<Open1688Emulator>,
    channels: Option<ChannelsEmulator>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Sandbox {
    /// A builder with seed 0 and no platform enabled.
    pub fn builder() -> SandboxBuilder {
        SandboxBuilder::default()
    }

    /// The WeChat Shop emulator, if enabled.
    pub fn wechat(&self) -> Option<&WechatEmulator> {
        self.wechat.as_ref()
    }

    /// The vv-tool emulator, if enabled.
    pub fn vvtool(&self) -> Option<&VvtoolEmulator> {
        self.vvtool.as_ref()
    }

    /// The EM franchiser emulator, if enabled.
    pub fn em(&self) -> Option<&EmEmulator> {
        self.em.as_ref()
    }

    /// The Alibaba.com ICBU emulator, if enabled.
    pub fn icbu(&self) -> Option<&IcbuEmulator> {
        self.icbu.as_ref()
    }

    /// The 1688 open platform emulator, if enabled.
    pub fn open1688(&self) -> Option<&Open1688Emulator> {
        self.open1688.as_ref()
    }

    /// The WeChat Channels shop emulator, if enabled.
    pub fn channels(&self) -> Option<&ChannelsEmulator> {
        self.channels.as_ref()
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// Configures and starts a [`Sandbox`].
#[derive(Debug, Default, Clone)]
pub struct SandboxBuilder {
    seed: u64,
    wechat: Option<WechatSettings>,
    vvtool: Option<VvtoolSettings>,
    em: Option<EmSettings>,
    icbu: Option<IcbuSettings>,
    open1688: Option<Open1688Settings>,
    channels: Option<ChannelsSettings>,
}

impl SandboxBuilder {
    /// Seed of the random fault generators (and generated tokens).
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Enables the WeChat Shop emulator.
    pub fn wechat(mut self, settings: WechatSettings) -> Self {
        self.wechat = Some(settings);
        self
    }

    /// Enables the vv-tool emulator.
    pub fn vvtool(mut self, settings: VvtoolSettings) -> Self {
        self.vvtool = Some(settings);
        self
    }

    /// Enables the EM franchiser emulator.
    pub fn em(mut self, settings: EmSettings) -> Self {
        self.em = Some(settings);
        self
    }

    /// Enables the Alibaba.com ICBU emulator.
    pub fn icbu(mut self, settings: IcbuSettings) -> Self {
        self.icbu = Some(settings);
        self
    }

    /// Enables the 1688 open platform emulator.
    pub fn open1688(mut self, settings: Open1688Settings) -> Self {
        self.open1688 = Some(settings);
        self
    }

    /// Enables the WeChat Channels shop emulator.
    pub fn channels(mut self, settings: ChannelsSettings) -> Self {
        self.channels = Some(settings);
        self
    }

    /// Enables every platform with default settings.
    pub fn all_platforms(self) -> Self {
        self.wechat(WechatSettings::default())
            .vvtool(VvtoolSettings::default())
            .em(EmSettings::default())
            .icbu(IcbuSettings::default())
            .open1688(Open1688Settings::default())
            .channels(ChannelsSettings::default())
    }

    /// Binds and starts the enabled emulators (needs a running tokio runtime).
    pub async fn start(self) -> std::io::Result<Sandbox> {
        let mut sb = Sandbox {
            wechat: None,
            vvtool: None,
            em: None,
            icbu: None,
            open1688: None,
            channels: None,
            tasks: Vec::new(),
        };
        if let Some(s) = self.wechat {
            let port = s.port;
            let em = WechatEmulator::new(s, self.seed);
            let (addr, task) = common::serve(em.router(), port).await?;
            em.set_base_url(format!("http://{addr}"));
            sb.tasks.push(task);
            sb.wechat = Some(em);
        }
        if let Some(s) = self.vvtool {
            let port = s.port;
            let em = VvtoolEmulator::new(s, self.seed);
            let (addr, task) = common::serve(em.router(), port).await?;
            em.set_base_url(format!("http://{addr}"));
            sb.tasks.push(task);
            sb.vvtool = Some(em);
        }
        if let Some(s) = self.em {
            let port = s.port;
            let em = EmEmulator::new(s, self.seed);
            let (addr, task) = common::serve(em.router(), port).await?;
            em.set_base_url(format!("http://{addr}"));
            sb.tasks.push(task);
            sb.em = Some(em);
        }
        if let Some(s) = self.icbu {
            let port = s.port;
            let em = IcbuEmulator::new(s, self.seed);
            let (addr, task) = common::serve(em.router(), port).await?;
            em.set_base_url(format!("http://{addr}"));
            sb.tasks.push(task);
            sb.icbu = Some(em);
        }
        if let Some(s) = self.open1688 {
            let port = s.port;
            let em = Open1688Emulator::new(s, self.seed);
            let (addr, task) = common::serve(em.router(), port).await?;
            em.set_base_url(format!("http://{addr}"));
            sb.tasks.push(task);
            sb.open1688 = Some(em);
        }
        if let Some(s) = self.channels {
            let port = s.port;
            let em = ChannelsEmulator::new(s, self.seed);
            let (addr, task) = common::serve(em.router(), port).await?;
            em.set_base_url(format!("http://{addr}"));
            sb.tasks.push(task);
            sb.channels = Some(em);
        }
        Ok(sb)
    }
}
