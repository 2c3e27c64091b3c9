//! The platform registry: the one place that knows every platform.
//!
//! Adding a platform means adding a variant to [`PlatformKind`] and filling in its row in each
//! `match` below (name, policy, credential keys, sandbox prefix, constructor) plus its seed
//! conversion in [`crate::sandbox`]; nothing else outside the new transport crate changes.

use std::collections::HashMap;
use std::fmt;
use std::num::NonZeroU32;
use std::sync::Arc;
use transport_core::ClientConfig as _;

use order_domain::{OrderPlatform, OrderSource, Policy, ShopId};
use order_journal::{SharedTokens, StoredAppToken, TokenRefreshLock};
use transport_1688_open::{Open1688Client, Open1688Config, Open1688Platform};
use transport_core::wechat_token::{
    StoredToken, TokenEndpoint, TokenLock, TokenSources, TokenStore, TokenStoreError,
};
use transport_core::{HttpClient, RateLimiter, RateLimiters, SecretString};
use transport_em::{EmClient, EmConfig, EmPlatform};
use transport_icbu::{IcbuClient, IcbuConfig, IcbuPlatform, SignMethod};
use transport_vvtool::{VvtoolClient, VvtoolConfig, VvtoolPlatform};
use transport_wechat_channels::{ChannelsClient, ChannelsConfig, ChannelsPlatform};
use transport_wechat_shop::{WechatConfig, WechatShopClient, WechatShopPlatform};

use crate::config::{ConfigError, ResolvedCredentials, ShopConfig};

/// The outbound platforms ordermod can talk to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PlatformKind {
    /// WeChat Shop `change_order_price`.
    WechatShop,
    /// 1688 price change through the vv-tool ERP API.
    Vvtool1688,
    /// EM franchiser ERP `trade/modify`.
    EmFranchiser,
    /// Alibaba.com ICBU `alibaba.trade.order.modify`.
    AlibabaIcbu,
    /// 1688 price change through the 1688 open platform directly.
    Alibaba1688,
    /// WeChat Channels shop (微信小店) price, freight and address changes.
    WechatChannels,
}

/// The credential keys a platform takes: plain ones and secrets (configured as `<name>_env`).
#[derive(Debug, Clone, Copy)]
pub struct CredentialSpec {
    /// Plain keys that must be present.
    pub required: &'static [&'static str],
    /// Plain keys that may be present.
    pub optional: &'static [&'static str],
    /// Secrets, each configured as `<name>_env` naming an environment variable.
    pub secrets: &'static [&'static str],
}

impl PlatformKind {
    /// Every platform, in a fixed order.
    pub const ALL: [PlatformKind; 6] = [
        PlatformKind::WechatShop,
        PlatformKind::Vvtool1688,
        PlatformKind::EmFranchiser,
        PlatformKind::AlibabaIcbu,
        PlatformKind::Alibaba1688,
        PlatformKind::WechatChannels,
    ];

    /// The name used in configs and amendment lines.
    pub const fn name(self) -> &'static str {
        match self {
            PlatformKind::WechatShop => "wechat-shop",
            PlatformKind::Vvtool1688 => "vvtool-1688",
            PlatformKind::EmFranchiser => "em-franchiser",
            PlatformKind::AlibabaIcbu => "alibaba-icbu",
            PlatformKind::Alibaba1688 => transport_1688_open::NAME,
            PlatformKind::WechatChannels => "wechat-channels",
        }
    }

    /// The platform named `name` (as in [`name`](Self::name)).
    pub fn from_name(name: &str) -> Option<PlatformKind> {
        PlatformKind::ALL.into_iter().find(|p| p.name() == name)
    }

    /// The shop-name prefix that selects this platform in `--sandbox` mode (`wechat-main`).
    pub const fn sandbox_prefix(self) -> &'static str {
        match self {
            PlatformKind::WechatShop => "wechat-",
            PlatformKind::Vvtool1688 => "vvtool-",
            PlatformKind::EmFranchiser => "em-",
            PlatformKind::AlibabaIcbu => "icbu-",
            PlatformKind::Alibaba1688 => "1688-",
            // Not `wechat-`: that prefix selects WeChat Shop.
            PlatformKind::WechatChannels => "channels-",
        }
    }

    /// The platform a sandbox shop name selects by its prefix.
    pub fn from_sandbox_shop(shop: &ShopId) -> Option<PlatformKind> {
        PlatformKind::ALL
            .into_iter()
            .find(|p| shop.as_str().starts_with(p.sandbox_prefix()))
    }

    /// Whether the platform publishes an order read (EM does not; vv-tool's snapshot is the
    /// latest stored 1688 order message instead). Where it does, the shop's source is wired in
    /// [`PlatformFactory::build_with_source`].
    pub const fn publishes_read(self) -> bool {
        !matches!(self, PlatformKind::EmFranchiser | PlatformKind::Vvtool1688)
    }

    /// The platform's rules.
    pub fn policy(self) -> Policy {
        match self {
            PlatformKind::WechatShop => transport_wechat_shop::policy(),
            PlatformKind::Vvtool1688 => transport_vvtool::policy(),
            PlatformKind::EmFranchiser => transport_em::policy(),
            PlatformKind::AlibabaIcbu => transport_icbu::policy(),
            PlatformKind::Alibaba1688 => transport_1688_open::policy(),
            PlatformKind::WechatChannels => transport_wechat_channels::policy(),
        }
    }

    /// The base URL a shop without `base_url` talks to.
    pub const fn default_base_url(self) -> &'static str {
        match self {
            PlatformKind::WechatShop => transport_wechat_shop::generated::params::DEFAULT_BASE_URL,
            PlatformKind::Vvtool1688 => transport_vvtool::generated::params::DEFAULT_BASE_URL,
            PlatformKind::EmFranchiser => transport_em::generated::params::DEFAULT_BASE_URL,
            PlatformKind::AlibabaIcbu => transport_icbu::DEFAULT_BASE_URL,
            PlatformKind::Alibaba1688 => transport_1688_open::generated::params::DEFAULT_BASE_URL,
            PlatformKind::WechatChannels => {
                transport_wechat_channels::generated::params::DEFAULT_BASE_URL
            }
        }
    }

    /// Checks a plain credential value the transport interprets (ICBU's `sign_method`), so a
    /// configuration is refused by every command alike, not only by those that build clients.
    pub fn check_plain(self, key: &str, value: &str) -> Result<(), String> {
        match (self, key) {
            (PlatformKind::AlibabaIcbu, "sign_method") => value
                .parse::<SignMethod>()
                .map(|_| ())
                .map_err(|e: transport_icbu::sign::UnknownSignMethod| e.to_string()),
            _ => Ok(()),
        }
    }

    /// The plain credential keys that belong to one shop rather than to the client its
    /// credential shares (vv-tool's `shop_id`).
    pub const fn per_shop_keys(self) -> &'static [&'static str] {
        match self {
            PlatformKind::Vvtool1688 => &["shop_id"],
            _ => &[],
        }
    }

    /// What identifies the credential whose client (and quota) shops share: the app id, the
    /// token's variable, or the app key and session variable.
    pub fn credential_identity(self, credentials: &crate::config::Credentials) -> String {
        let plain = |k: &str| credentials.plain.get(k).cloned().unwrap_or_default();
        let env = |k: &str| credentials.secret_env.get(k).cloned().unwrap_or_default();
        match self {
            PlatformKind::WechatShop => format!("wechat:{}", plain("appid")),
            PlatformKind::Vvtool1688 => format!("vvtool:{}", env("token")),
            PlatformKind::EmFranchiser => format!("em:{}", plain("appid")),
            PlatformKind::AlibabaIcbu => format!("icbu:{}:{}", plain("app_key"), env("session")),
            PlatformKind::Alibaba1688 => {
                format!("1688:{}:{}", plain("app_key"), env("access_token"))
            }
            // Each WeChat API has its own quota per app, so a Channels shop and a Shop shop of
            // one app share the token (through the token sources), not a client or a quota.
            PlatformKind::WechatChannels => format!("wechat-channels:{}", plain("appid")),
        }
    }

    /// The credential keys the platform takes.
    pub const fn credential_spec(self) -> &'static CredentialSpec {
        match self {
            PlatformKind::WechatShop | PlatformKind::WechatChannels => &CredentialSpec {
                required: &["appid"],
                optional: &[],
                secrets: &["secret"],
            },
            PlatformKind::Vvtool1688 => &CredentialSpec {
                required: &["shop_id"],
                optional: &[],
                secrets: &["token"],
            },
            PlatformKind::EmFranchiser => &CredentialSpec {
                required: &["appid"],
                optional: &[],
                secrets: &["secret"],
            },
            PlatformKind::AlibabaIcbu => &CredentialSpec {
                required: &["app_key"],
                optional: &["sign_method", "partner_id"],
                secrets: &["secret", "session"],
            },
            PlatformKind::Alibaba1688 => &CredentialSpec {
                required: &["app_key"],
                optional: &[],
                secrets: &["secret", "access_token"],
            },
        }
    }
}

impl fmt::Display for PlatformKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A shop's transport and, where its platform publishes an order read, its source.
pub type ShopTransport = (Arc<dyn OrderPlatform>, Option<Arc<dyn OrderSource>>);

/// Builds the transport of one configured shop with a fresh [`PlatformFactory`] (no client
/// shared with other shops; prefer one factory for all shops of a process).
pub fn build_platform(
    http: &HttpClient,
    shop: &ShopConfig,
    credentials: ResolvedCredentials,
) -> Result<Arc<dyn OrderPlatform>, ConfigError> {
    PlatformFactory::new(http.clone()).build(shop, &credentials)
}

/// Builds transports for shops: the one place that maps a platform to its constructor.
///
/// Shops that share a credential share one client, so they share its rate limiter (limits are
/// per credential) and, on WeChat, its access token (two clients refreshing the same app's
/// token would knock each other's token out): WeChat and EM clients are shared per app id,
/// vv-tool clients per token variable, ICBU clients per app key and session variable, 1688
/// open platform clients per app key and access token variable.
/// Rate limits and retries live inside the transports: the shop's `rate_limit_per_second`, else
/// the transport's documented default. Shops that share a credential agree on it and on
/// everything else that shapes a request ([`Config::parse`](crate::Config::parse) refuses them
/// otherwise), so one client serves them all and its quota is one quota. Each credential also
/// has one [`RateLimiter`] (from one [`RateLimiters`] registry): its client paces with it, and
/// its [`SendPacer`] ([`PlatformFactory::pacer`]), which the app waits on before it records an
/// amendment as sent, reserves the request's slot on that same limiter, so the credential's
/// quota is counted once.
pub struct PlatformFactory {
    http: HttpClient,
    wechat: HashMap<String, WechatShopClient>,
    channels: HashMap<String, ChannelsClient>,
    /// WeChat app tokens, one source per token URL and app id: a WeChat Shop and a Channels
    /// shop of one app share one token.
    tokens: TokenSources,
    vvtool: HashMap<String, VvtoolClient>,
    em: HashMap<String, EmClient>,
    icbu: HashMap<(String, String), IcbuClient>,
    open1688: HashMap<(String, String), Open1688Client>,
    /// One limiter per credential (the clients' keys, prefixed by the platform), shared by
    /// the credential's client and its pacer.
    limiters: RateLimiters,
    /// Per shop built.
    shop_pacers: HashMap<ShopId, SendPacer>,
}

/// Paces the sends of one credential in the app, at the rate its transport allows, so that an
/// amendment is recorded as sent only when its request can leave.
///
/// Were the request to wait for its slot only in the transport, after the app recorded it as
/// sent, then with many amendments in flight for a rate-limited shop most of them would sit in
/// that queue already marked `sent`, and a crash would leave every one of them in doubt
/// (resent, or held for an operator, on the next run) although none had left. The pacer takes
/// the request's slot first ([`RateLimiter::reserve`]) on the credential's one limiter, the
/// one its client paces with; the client's [`RateLimiter::until_ready`] then uses that slot
/// instead of taking a second one. Clones share their state.
#[derive(Clone)]
pub struct SendPacer {
    limiter: RateLimiter,
    /// The key the client takes its slots under.
    key: String,
}

impl fmt::Debug for SendPacer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SendPacer").finish_non_exhaustive()
    }
}

impl SendPacer {
    /// `per_second` sends per second (`None` or zero: no pacing, so no pacer).
    pub fn per_second(per_second: Option<u32>) -> Option<SendPacer> {
        let limiter = RateLimiter::per_second(per_second);
        (!limiter.is_unlimited()).then_some(SendPacer {
            limiter,
            key: "send".to_owned(),
        })
    }

    /// The pacer of a client that takes its slots from `limiter` under `key` (`None` when the
    /// limiter is unlimited).
    pub fn for_limiter(limiter: RateLimiter, key: impl Into<String>) -> Option<SendPacer> {
        (!limiter.is_unlimited()).then(|| SendPacer {
            limiter,
            key: key.into(),
        })
    }

    /// Waits until the next send may leave, and reserves its slot for the request: the
    /// client's limiter (the same one) uses that slot instead of waiting for another.
    pub async fn until_ready(&self) {
        self.limiter.reserve(&self.key).await;
    }

    /// The limiter this pacer reserves on.
    pub fn limiter(&self) -> &RateLimiter {
        &self.limiter
    }
}

impl fmt::Debug for PlatformFactory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PlatformFactory").finish_non_exhaustive()
    }
}

impl PlatformFactory {
    /// A factory over the process's shared HTTP client.
    pub fn new(http: HttpClient) -> Self {
        PlatformFactory {
            http,
            wechat: HashMap::new(),
            channels: HashMap::new(),
            tokens: TokenSources::new(),
            vvtool: HashMap::new(),
            em: HashMap::new(),
            icbu: HashMap::new(),
            open1688: HashMap::new(),
            limiters: RateLimiters::new(),
            shop_pacers: HashMap::new(),
        }
    }

    /// Keeps the WeChat apps' access tokens in `store`, shared with other processes (call it
    /// before building shops): on a PostgreSQL journal, [`PgTokenStore`], so that workers on
    /// many machines fetch each token once instead of invalidating each other's. Without it,
    /// tokens live in this process ([`TokenSources::new`]).
    #[must_use]
    pub fn with_token_store(mut self, store: Arc<dyn TokenStore>) -> Self {
        self.tokens = TokenSources::shared(store);
        self
    }

    /// The pacer of a shop built by [`build`](Self::build): shared by the shops of one
    /// credential, at its transport's rate; `None` when that rate is unlimited.
    pub fn pacer(&self, shop: &ShopId) -> Option<SendPacer> {
        self.shop_pacers.get(shop).cloned()
    }

    /// Remembers `shop`'s pacer: on its client's limiter, under the client's key.
    fn pace(&mut self, shop: &ShopId, limiter: &RateLimiter, key: &str) {
        match SendPacer::for_limiter(limiter.clone(), key) {
            Some(pacer) => self.shop_pacers.insert(shop.clone(), pacer),
            None => self.shop_pacers.remove(shop),
        };
    }

    /// The transport of `shop`.
    pub fn build(
        &mut self,
        shop: &ShopConfig,
        credentials: &ResolvedCredentials,
    ) -> Result<Arc<dyn OrderPlatform>, ConfigError> {
        self.build_with_source(shop, credentials).map(|(p, _)| p)
    }

    /// The transport of `shop` and, where its platform publishes an order read, the same
    /// object as its [`OrderSource`] (one client, one rate limiter: reads share the quota).
    pub fn build_with_source(
        &mut self,
        shop: &ShopConfig,
        credentials: &ResolvedCredentials,
    ) -> Result<ShopTransport, ConfigError> {
        let id = shop.id.to_string();
        let plain = |key: &str| -> Result<String, ConfigError> {
            credentials.plain(key).map(str::to_owned).ok_or_else(|| {
                ConfigError::MissingCredential {
                    shop: id.clone(),
                    platform: shop.platform.name(),
                    key: key.to_owned(),
                }
            })
        };
        let secret = |key: &str| -> Result<SecretString, ConfigError> {
            credentials
                .secret(key)
                .cloned()
                .ok_or_else(|| ConfigError::MissingCredential {
                    shop: id.clone(),
                    platform: shop.platform.name(),
                    key: format!("{key}_env"),
                })
        };
        let env_name = |key: &str| {
            shop.credentials
                .secret_env
                .get(key)
                .cloned()
                .unwrap_or_default()
        };
        let rate = shop.rate_limit_per_second.map(NonZeroU32::get);
        let http = &self.http;
        let built: ShopTransport = match shop.platform {
            PlatformKind::WechatShop => {
                let appid = plain("appid")?;
                let client = match self.wechat.get(&appid) {
                    Some(c) => c.clone(),
                    None => {
                        let mut config = WechatConfig::new(appid.clone(), secret("secret")?);
                        if let Some(url) = &shop.base_url {
                            config = config.with_base_url(url.clone());
                        }
                        if rate.is_some() {
                            config = config.with_rate_limit(rate);
                        }
                        let per_second = config.settings.rate_limit_per_second;
                        let tokens = self.tokens.get(
                            http,
                            &config.settings.base_url,
                            TokenEndpoint::Plain,
                            &appid,
                            &config.secret,
                        );
                        let config = config.with_limiter(
                            self.limiters
                                .for_credential(&format!("wechat:{appid}"), per_second),
                        );
                        let c = WechatShopClient::with_token_source(http.clone(), config, tokens);
                        self.wechat.insert(appid.clone(), c.clone());
                        c
                    }
                };
                self.pace(&shop.id, client.limiter(), client.limiter_key());
                let p = Arc::new(WechatShopPlatform::new(client));
                (p.clone(), Some(p))
            }
            PlatformKind::WechatChannels => {
                let appid = plain("appid")?;
                let client = match self.channels.get(&appid) {
                    Some(c) => c.clone(),
                    None => {
                        let mut config = ChannelsConfig::new(appid.clone(), secret("secret")?);
                        if let Some(url) = &shop.base_url {
                            config = config.with_base_url(url.clone());
                        }
                        if rate.is_some() {
                            config = config.with_rate_limit(rate);
                        }
                        let per_second = config.settings.rate_limit_per_second;
                        let tokens = self.tokens.get(
                            http,
                            &config.settings.base_url,
                            TokenEndpoint::Plain,
                            &appid,
                            &config.secret,
                        );
                        let config = config.with_limiter(
                            self.limiters
                                .for_credential(&format!("channels:{appid}"), per_second),
                        );
                        let c = ChannelsClient::with_token_source(http.clone(), config, tokens);
                        self.channels.insert(appid.clone(), c.clone());
                        c
                    }
                };
                self.pace(&shop.id, client.limiter(), client.limiter_key());
                let p = Arc::new(ChannelsPlatform::new(client));
                (p.clone(), Some(p))
            }
            PlatformKind::Vvtool1688 => {
                let token_var = env_name("token");
                let client = match self.vvtool.get(&token_var) {
                    Some(c) => c.clone(),
                    None => {
                        let mut config = VvtoolConfig::new(secret("token")?);
                        if let Some(url) = &shop.base_url {
                            config = config.with_base_url(url.clone());
                        }
                        if rate.is_some() {
                            config = config.with_rate_limit(rate);
                        }
                        let per_second = config.settings.rate_limit_per_second;
                        let config = config.with_limiter(
                            self.limiters
                                .for_credential(&format!("vvtool:{token_var}"), per_second),
                        );
                        let c = VvtoolClient::new(http.clone(), config);
                        self.vvtool.insert(token_var.clone(), c.clone());
                        c
                    }
                };
                self.pace(&shop.id, client.limiter(), client.limiter_key());
                // No read: the snapshot is the latest stored 1688 order message (the app).
                (
                    Arc::new(VvtoolPlatform::new(client, plain("shop_id")?)),
                    None,
                )
            }
            PlatformKind::EmFranchiser => {
                let appid = plain("appid")?;
                let client = match self.em.get(&appid) {
                    Some(c) => c.clone(),
                    None => {
                        let base = shop.base_url.clone().unwrap_or_else(|| {
                            transport_em::generated::params::DEFAULT_BASE_URL.to_owned()
                        });
                        let mut config = EmConfig::new(base, appid.clone(), secret("secret")?);
                        if rate.is_some() {
                            config = config.with_rate_limit(rate);
                        }
                        let per_second = config.settings.rate_limit_per_second;
                        let config = config.with_limiter(
                            self.limiters
                                .for_credential(&format!("em:{appid}"), per_second),
                        );
                        let c = EmClient::new(http.clone(), config);
                        self.em.insert(appid.clone(), c.clone());
                        c
                    }
                };
                self.pace(&shop.id, client.limiter(), client.limiter_key());
                // EM publishes no order read.
                (Arc::new(EmPlatform::new(client)), None)
            }
            PlatformKind::AlibabaIcbu => {
                let key = (plain("app_key")?, env_name("session"));
                let client = match self.icbu.get(&key) {
                    Some(c) => c.clone(),
                    None => {
                        let mut config =
                            IcbuConfig::new(key.0.clone(), secret("secret")?, secret("session")?);
                        if let Some(url) = &shop.base_url {
                            config = config.with_base_url(url.clone());
                        }
                        if let Some(m) = credentials.plain("sign_method") {
                            let m: SignMethod = m.parse().map_err(
                                |e: transport_icbu::sign::UnknownSignMethod| ConfigError::Invalid {
                                    shop: id.clone(),
                                    problem: format!("credentials.sign_method: {e}"),
                                },
                            )?;
                            config = config.with_sign_method(m);
                        }
                        if let Some(p) = credentials.plain("partner_id") {
                            config.partner_id = Some(p.to_owned());
                        }
                        if rate.is_some() {
                            config = config.with_rate_limit(rate);
                        }
                        let per_second = config.settings.rate_limit_per_second;
                        let config = config.with_limiter(
                            self.limiters
                                .for_credential(&format!("icbu:{}:{}", key.0, key.1), per_second),
                        );
                        let c = IcbuClient::new(http.clone(), config);
                        self.icbu.insert(key.clone(), c.clone());
                        c
                    }
                };
                self.pace(&shop.id, client.limiter(), client.limiter_key());
                let p = Arc::new(IcbuPlatform::new(client));
                (p.clone(), Some(p))
            }
            PlatformKind::Alibaba1688 => {
                let key = (plain("app_key")?, env_name("access_token"));
                let client = match self.open1688.get(&key) {
                    Some(c) => c.clone(),
                    None => {
                        let mut config = Open1688Config::new(
                            key.0.clone(),
                            secret("secret")?,
                            secret("access_token")?,
                        );
                        if let Some(url) = &shop.base_url {
                            config = config.with_base_url(url.clone());
                        }
                        if rate.is_some() {
                            config = config.with_rate_limit(rate);
                        }
                        let per_second = config.settings.rate_limit_per_second;
                        let config =
                            config.with_limiter(self.limiters.for_credential(
                                &format!("1688-open:{}:{}", key.0, key.1),
                                per_second,
                            ));
                        let c = Open1688Client::new(http.clone(), config);
                        self.open1688.insert(key.clone(), c.clone());
                        c
                    }
                };
                self.pace(&shop.id, client.limiter(), client.limiter_key());
                let p = Arc::new(Open1688Platform::new(client));
                (p.clone(), Some(p))
            }
        };
        Ok(built)
    }
}

/// The shared token store of the journal at `url`: [`PgTokenStore`] on a `postgres://`
/// journal (its own connection pool), `None` on any other (one process: in-process tokens).
pub async fn token_store_for(
    url: &str,
) -> Result<Option<Arc<dyn TokenStore>>, crate::app::AppError> {
    let scheme = url.split_once(':').map(|(s, _)| s.to_ascii_lowercase());
    if !matches!(scheme.as_deref(), Some("postgres" | "postgresql")) {
        return Ok(None);
    }
    let journal = order_journal::PostgresJournal::open(url)
        .await
        .map_err(|source| crate::app::AppError::Journal {
            url: order_journal::redact_url(url),
            source,
        })?;
    Ok(Some(Arc::new(PgTokenStore::new(journal.shared_tokens()))))
}

/// A [`TokenStore`] in a PostgreSQL journal's `wechat_tokens` table: every process on that
/// journal reads one token per app, and one refreshes it at a time under the app's advisory
/// lock (see [`order_journal::SharedTokens`]).
#[derive(Debug, Clone)]
pub struct PgTokenStore(SharedTokens);

impl PgTokenStore {
    /// The store of `tokens`' journal.
    pub fn new(tokens: SharedTokens) -> Self {
        PgTokenStore(tokens)
    }
}

fn token_store_error(e: order_domain::JournalError) -> TokenStoreError {
    TokenStoreError::new("the journal's wechat_tokens table", e)
}

fn from_stored(t: StoredAppToken) -> StoredToken {
    StoredToken {
        token: t.token,
        expires_at_ms: t.expires_at_ms,
    }
}

#[async_trait::async_trait]
impl TokenStore for PgTokenStore {
    async fn get(&self, appid: &str) -> Result<Option<StoredToken>, TokenStoreError> {
        Ok(self
            .0
            .get(appid)
            .await
            .map_err(token_store_error)?
            .map(from_stored))
    }

    async fn lock(&self, appid: &str) -> Result<Box<dyn TokenLock>, TokenStoreError> {
        let lock = self.0.lock(appid).await.map_err(token_store_error)?;
        Ok(Box::new(PgTokenLock(lock)))
    }
}

/// The held refresh lock of [`PgTokenStore`].
struct PgTokenLock(TokenRefreshLock);

#[async_trait::async_trait]
impl TokenLock for PgTokenLock {
    async fn current(&mut self) -> Result<Option<StoredToken>, TokenStoreError> {
        Ok(self
            .0
            .current()
            .await
            .map_err(token_store_error)?
            .map(from_stored))
    }

    async fn store(self: Box<Self>, token: &StoredToken) -> Result<(), TokenStoreError> {
        use order_domain::Clock as _;
        let stored = StoredAppToken {
            token: token.token.clone(),
            expires_at_ms: token.expires_at_ms,
        };
        let now = transport_core::SystemClock.now().as_millis();
        self.0.store(&stored, now).await.map_err(token_store_error)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::config::Config;

    /// Two WeChat shops of one app (one credential) and an EM shop of another, 1 request/s.
    const SHARED_APP: &str = r#"
[journal]
url = "sqlite::memory:"

[[shop]]
id = "wx-a"
platform = "wechat-shop"
base_url = "http://127.0.0.1:9"
rate_limit_per_second = 1
[shop.credentials]
appid = "wx1"
secret_env = "WX1_SECRET"

[[shop]]
id = "wx-b"
platform = "wechat-shop"
base_url = "http://127.0.0.1:9"
rate_limit_per_second = 1
[shop.credentials]
appid = "wx1"
secret_env = "WX1_SECRET"

[[shop]]
id = "em-c"
platform = "em-franchiser"
base_url = "http://127.0.0.1:9"
rate_limit_per_second = 1
[shop.credentials]
appid = "em1"
secret_env = "EM1_SECRET"
"#;

    /// Whether `fut` finishes on its first poll: a slot was free, nothing was waited for.
    fn ready_at_once<F: std::future::Future>(fut: F) -> bool {
        let mut fut = std::pin::pin!(fut);
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        fut.as_mut().poll(&mut cx).is_ready()
    }

    fn factory() -> PlatformFactory {
        let config = Config::parse(SHARED_APP).unwrap();
        let env: BTreeMap<String, String> = [("WX1_SECRET", "s1"), ("EM1_SECRET", "s2")]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        let mut f = PlatformFactory::new(crate::app::http_client().unwrap());
        for shop in &config.shops {
            let creds = shop.resolve_secrets(&env).unwrap();
            f.build(shop, &creds).unwrap();
        }
        f
    }

    #[tokio::test]
    async fn one_limiter_per_credential_is_shared_by_the_pacer_and_the_client() {
        let f = factory();
        let shop = |s: &str| ShopId::new(s).unwrap();
        let (a, b, c) = (
            f.pacer(&shop("wx-a")).unwrap(),
            f.pacer(&shop("wx-b")).unwrap(),
            f.pacer(&shop("em-c")).unwrap(),
        );
        let client = &f.wechat["wx1"];
        assert!(a.limiter().same_as(client.limiter()));
        assert!(b.limiter().same_as(client.limiter()));
        assert!(!c.limiter().same_as(client.limiter()));
        assert!(c.limiter().same_as(f.em["em1"].limiter()));
    }

    #[tokio::test]
    async fn a_request_takes_one_slot_and_shops_of_one_credential_share_its_quota() {
        let f = factory();
        let shop = |s: &str| ShopId::new(s).unwrap();
        let (a, b, c) = (
            f.pacer(&shop("wx-a")).unwrap(),
            f.pacer(&shop("wx-b")).unwrap(),
            f.pacer(&shop("em-c")).unwrap(),
        );
        let client = &f.wechat["wx1"];
        let send = || client.limiter().until_ready(client.limiter_key());
        // Quota 1 a second, burst 1: the app reserves shop a's slot, and the client's request
        // uses it instead of taking a second one.
        assert!(ready_at_once(a.until_ready()));
        assert!(ready_at_once(send()));
        // That was the credential's one slot of this second: shop b's next send (same app)
        // must wait, and so must a request of the client without a reservation.
        assert!(!ready_at_once(b.until_ready()));
        assert!(!ready_at_once(send()));
        // Another credential has its own quota.
        assert!(ready_at_once(c.until_ready()));
    }
}
