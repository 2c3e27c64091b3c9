//! The TOML configuration: the journal and the shops, each with its platform, base URL, rate
//! limit and credentials (secrets only through environment variables).
//!
//! ```toml
//! [journal]
//! url = "sqlite://ordermod.db"   # or postgres://USER@HOST/DB (password: PGPASSWORD)
//!
//! [[shop]]
//! id = "wx-main"
//! platform = "wechat-shop"
//! base_url = "https://api.weixin.qq.com"   # optional
//! rate_limit_per_second = 10               # optional
//! allow_plain_http = false                 # optional; needed for http:// to a non-loopback host
//! [shop.credentials]
//! appid = "wx123"
//! secret_env = "WX_MAIN_SECRET"
//! ```
//!
//! Parsing ([`Config::parse`]) checks the whole configuration without reading the environment,
//! the same for every command: the shape, the platform names, each platform's credential keys
//! and the values its transport interprets (`sign_method`), the variable names of `*_env`, plain
//! HTTP to a real host, and shops that share a credential but disagree on how to reach it. A
//! secret written inline is refused.
//! [`Config::resolve_secrets`] then reads the named variables into [`SecretString`]s.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::num::NonZeroU32;
use std::path::Path;

use order_domain::ShopId;
use secrecy::SecretString;
use serde::Deserialize;

use crate::registry::{CredentialSpec, PlatformKind};

/// Reads environment variables; [`SystemEnv`] in production, a map in tests.
pub trait Env: Send + Sync {
    /// The variable's value, or `None` when unset.
    fn var(&self, name: &str) -> Option<String>;
}

/// The process environment.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemEnv;

impl Env for SystemEnv {
    fn var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }
}

impl Env for BTreeMap<String, String> {
    fn var(&self, name: &str) -> Option<String> {
        self.get(name).cloned()
    }
}

/// Why a configuration was refused. Never contains a secret's value.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// The IO error.
        source: std::io::Error,
    },
    /// The TOML is malformed or has an unknown or missing key (serde names it).
    #[error("config: {0}")]
    Syntax(String),
    /// The platform name is unknown.
    #[error(
        "shop `{shop}`: unknown platform `{platform}` (known: wechat-shop, vvtool-1688, em-franchiser, alibaba-icbu, alibaba-1688, wechat-channels)"
    )]
    UnknownPlatform {
        /// The shop.
        shop: String,
        /// The name given.
        platform: String,
    },
    /// Two shops share an id.
    #[error("shop `{0}` is configured twice")]
    DuplicateShop(String),
    /// A secret is written in the file.
    #[error(
        "shop `{shop}`: credentials.{key} is a secret written inline; secrets are only read from the environment: write `{key}_env = \"VARIABLE_NAME\"` instead and set that variable"
    )]
    InlineSecret {
        /// The shop.
        shop: String,
        /// The key, e.g. `secret`.
        key: String,
    },
    /// A credential key the platform does not know.
    #[error("shop `{shop}`: unknown credentials key `{key}` for {platform} (expected: {expected})")]
    UnknownCredential {
        /// The shop.
        shop: String,
        /// The platform.
        platform: &'static str,
        /// The key.
        key: String,
        /// The keys the platform takes.
        expected: String,
    },
    /// A credential key the platform needs is missing.
    #[error("shop `{shop}`: credentials.{key} is missing ({platform} needs it)")]
    MissingCredential {
        /// The shop.
        shop: String,
        /// The platform.
        platform: &'static str,
        /// The key.
        key: String,
    },
    /// A credential value has the wrong type.
    #[error("shop `{shop}`: credentials.{key} must be a string")]
    CredentialType {
        /// The shop.
        shop: String,
        /// The key.
        key: String,
    },
    /// An environment variable named by `*_env` is not set (or empty).
    #[error(
        "shop `{shop}`: environment variable `{variable}` (named by credentials.{key}) is not set"
    )]
    MissingEnv {
        /// The shop.
        shop: String,
        /// The `*_env` key.
        key: String,
        /// The variable's name.
        variable: String,
    },
    /// A `*_env` value is not an environment variable name. The value is not shown: it may be
    /// a secret pasted in the wrong place.
    #[error(
        "{place}: the value of {key} is not an environment variable name (letters, digits and `_`, not starting with a digit); it is not shown in case it is a secret pasted by mistake"
    )]
    NotAVariableName {
        /// Where: `shop `x`` or `[receiver]`.
        place: String,
        /// The key, e.g. `credentials.secret_env`.
        key: String,
    },
    /// Plain HTTP to a host that is not this machine, without `allow_plain_http = true`.
    #[error(
        "shop `{shop}`: base URL {url} is plain HTTP to a host other than this machine; credentials would cross the network in clear. Use https://, or set `allow_plain_http = true` for this shop if the platform serves nothing else"
    )]
    PlainHttp {
        /// The shop.
        shop: String,
        /// The effective base URL.
        url: String,
    },
    /// Two shops share a credential (so one client and one quota) but configure it differently.
    #[error(
        "shops `{first}` and `{second}` share the credential {credential} (one client, one quota) but differ in {differs}; configure them alike or give them separate credentials"
    )]
    SharedCredentialConflict {
        /// The shop configured first.
        first: String,
        /// The shop configured later.
        second: String,
        /// The credential, e.g. `wechat:wx123` (app ids and variable names, never secrets).
        credential: String,
        /// What differs, e.g. `base_url, rate_limit_per_second`.
        differs: String,
    },
    /// A value is out of range.
    #[error("shop `{shop}`: {problem}")]
    Invalid {
        /// The shop.
        shop: String,
        /// What is wrong.
        problem: String,
    },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    journal: Option<RawJournal>,
    #[serde(default)]
    shop: Vec<RawShop>,
    #[serde(default)]
    receiver: Option<crate::serve::ReceiverConfig>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawJournal {
    url: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawShop {
    id: ShopId,
    platform: String,
    #[serde(default)]
    base_url: Option<String>,
    #[serde(default)]
    rate_limit_per_second: Option<NonZeroU32>,
    #[serde(default)]
    allow_plain_http: bool,
    #[serde(default)]
    credentials: toml::Table,
}

/// A shop's credentials as configured: plain values and the *names* of the variables that hold
/// the secrets (never the secrets themselves).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    /// Plain (non-secret) values, e.g. `appid`.
    pub plain: BTreeMap<String, String>,
    /// Secret name (e.g. `secret`) to the environment variable that holds it.
    pub secret_env: BTreeMap<String, String>,
}

/// A shop's credentials with the secrets read from the environment.
#[derive(Debug, Clone)]
pub struct ResolvedCredentials {
    /// Plain values.
    pub plain: BTreeMap<String, String>,
    /// Secrets by name (`secret`, `token`, `session`).
    pub secrets: BTreeMap<String, SecretString>,
}

impl ResolvedCredentials {
    /// A plain value.
    pub fn plain(&self, key: &str) -> Option<&str> {
        self.plain.get(key).map(String::as_str)
    }
    /// A secret.
    pub fn secret(&self, key: &str) -> Option<&SecretString> {
        self.secrets.get(key)
    }
}

/// One configured shop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShopConfig {
    /// The shop's id, as amendment lines name it.
    pub id: ShopId,
    /// Its platform.
    pub platform: PlatformKind,
    /// Base URL; the platform's default when absent.
    pub base_url: Option<String>,
    /// Calls per second; the platform's documented default when absent.
    pub rate_limit_per_second: Option<NonZeroU32>,
    /// Plain HTTP to a non-loopback host is allowed (and warned about at start).
    pub allow_plain_http: bool,
    /// Credentials (secret values not yet read).
    pub credentials: Credentials,
}

/// The whole configuration.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Config {
    /// Journal URL: `sqlite://ordermod.db` (one process) or `postgres://USER:PASSWORD@HOST/DB`
    /// (many processes, workers); `sqlite://ordermod.db` when absent.
    pub journal_url: Option<String>,
    /// Shops, in file order.
    pub shops: Vec<ShopConfig>,
    /// The `[receiver]` section of `ordermod serve`, when present.
    pub receiver: Option<crate::serve::ReceiverConfig>,
}

/// The journal used when the config names none.
pub const DEFAULT_JOURNAL_URL: &str = "sqlite://ordermod.db";

impl Config {
    /// Reads and parses a config file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Config::parse(&text)
    }

    /// Parses config text: shape, platform names, credential keys, no inline secrets.
    pub fn parse(text: &str) -> Result<Config, ConfigError> {
        let raw: RawConfig = toml::from_str(text).map_err(|e| ConfigError::Syntax(clean(&e)))?;
        let mut seen = BTreeSet::new();
        let mut shops = Vec::with_capacity(raw.shop.len());
        for s in raw.shop {
            if !seen.insert(s.id.clone()) {
                return Err(ConfigError::DuplicateShop(s.id.to_string()));
            }
            let platform = PlatformKind::from_name(&s.platform).ok_or_else(|| {
                ConfigError::UnknownPlatform {
                    shop: s.id.to_string(),
                    platform: s.platform.clone(),
                }
            })?;
            if let Some(url) = &s.base_url
                && !(url.starts_with("http://") || url.starts_with("https://"))
            {
                return Err(ConfigError::Invalid {
                    shop: s.id.to_string(),
                    problem: format!("base_url `{url}` must start with http:// or https://"),
                });
            }
            let credentials = check_credentials(&s.id, platform, &s.credentials)?;
            let url = s
                .base_url
                .as_deref()
                .unwrap_or_else(|| platform.default_base_url());
            if is_plain_http_to_remote(url) {
                if !s.allow_plain_http {
                    return Err(ConfigError::PlainHttp {
                        shop: s.id.to_string(),
                        url: url.to_owned(),
                    });
                }
                tracing::warn!(
                    shop = %s.id,
                    url,
                    "plain HTTP to a remote host (allow_plain_http = true): credentials cross the network in clear"
                );
            }
            shops.push(ShopConfig {
                id: s.id,
                platform,
                base_url: s.base_url,
                rate_limit_per_second: s.rate_limit_per_second,
                allow_plain_http: s.allow_plain_http,
                credentials,
            });
        }
        check_shared_credentials(&shops)?;
        Ok(Config {
            journal_url: raw.journal.map(|j| j.url),
            shops,
            receiver: raw.receiver,
        })
    }

    /// The shop named `id`.
    pub fn shop(&self, id: &ShopId) -> Option<&ShopConfig> {
        self.shops.iter().find(|s| &s.id == id)
    }

    /// The journal URL, or the default.
    pub fn journal_url(&self) -> &str {
        self.journal_url.as_deref().unwrap_or(DEFAULT_JOURNAL_URL)
    }
}

impl ShopConfig {
    /// Reads the shop's secrets from `env`. A variable that is unset or empty is an error naming
    /// the variable (never a value).
    pub fn resolve_secrets(&self, env: &dyn Env) -> Result<ResolvedCredentials, ConfigError> {
        let mut secrets = BTreeMap::new();
        for (name, variable) in &self.credentials.secret_env {
            match env.var(variable) {
                Some(v) if !v.is_empty() => {
                    secrets.insert(name.clone(), SecretString::from(v));
                }
                _ => {
                    return Err(ConfigError::MissingEnv {
                        shop: self.id.to_string(),
                        key: format!("{name}_env"),
                        variable: variable.clone(),
                    });
                }
            }
        }
        Ok(ResolvedCredentials {
            plain: self.credentials.plain.clone(),
            secrets,
        })
    }
}

/// toml's error text, on one line where it fits (it quotes the offending line, which never holds
/// a secret value we accept: inline secrets are refused by key before their value is echoed).
/// `http://` to a host that is not this machine (`localhost`, `127.0.0.0/8`, `::1`).
fn is_plain_http_to_remote(url: &str) -> bool {
    let Some(rest) = url.strip_prefix("http://") else {
        return false;
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host_port = authority.rsplit('@').next().unwrap_or_default();
    let host = match host_port.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => host_port.split(':').next().unwrap_or_default(),
    };
    let loopback = host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    !loopback
}

/// True when `name` can be an environment variable name: `[A-Za-z_][A-Za-z0-9_]*`.
pub(crate) fn is_variable_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Shops that share a credential share one client and one quota, so everything that shapes
/// their requests must agree; otherwise the later shop's settings would be silently ignored.
fn check_shared_credentials(shops: &[ShopConfig]) -> Result<(), ConfigError> {
    let mut first_of: BTreeMap<String, &ShopConfig> = BTreeMap::new();
    for shop in shops {
        let credential = shop.platform.credential_identity(&shop.credentials);
        let Some(first) = first_of.get(&credential) else {
            first_of.insert(credential, shop);
            continue;
        };
        let shared = |s: &ShopConfig| {
            let mut plain = s.credentials.plain.clone();
            for k in s.platform.per_shop_keys() {
                plain.remove(*k);
            }
            plain
        };
        let url = |s: &ShopConfig| {
            s.base_url
                .clone()
                .unwrap_or_else(|| s.platform.default_base_url().to_owned())
        };
        let mut differs = Vec::new();
        if url(first) != url(shop) {
            differs.push("base_url".to_owned());
        }
        if first.rate_limit_per_second != shop.rate_limit_per_second {
            differs.push("rate_limit_per_second".to_owned());
        }
        if first.allow_plain_http != shop.allow_plain_http {
            differs.push("allow_plain_http".to_owned());
        }
        let (a, b) = (shared(first), shared(shop));
        for key in a.keys().chain(b.keys()).collect::<BTreeSet<_>>() {
            if a.get(key) != b.get(key) {
                differs.push(format!("credentials.{key}"));
            }
        }
        let (a, b) = (&first.credentials.secret_env, &shop.credentials.secret_env);
        for key in a.keys().chain(b.keys()).collect::<BTreeSet<_>>() {
            if a.get(key) != b.get(key) {
                differs.push(format!("credentials.{key}_env"));
            }
        }
        if !differs.is_empty() {
            return Err(ConfigError::SharedCredentialConflict {
                first: first.id.to_string(),
                second: shop.id.to_string(),
                credential,
                differs: differs.join(", "),
            });
        }
    }
    Ok(())
}

fn clean(e: &toml::de::Error) -> String {
    let msg = e.message().trim().to_owned();
    match e.span() {
        Some(span) => format!("{msg} (at byte {})", span.start),
        None => msg,
    }
}

/// Key names that always hold secrets, whatever the platform: refused when written inline.
const SECRET_LIKE: &[&str] = &[
    "secret",
    "token",
    "session",
    "password",
    "app_secret",
    "access_token",
    "api_key",
];

fn check_credentials(
    shop: &ShopId,
    platform: PlatformKind,
    table: &toml::Table,
) -> Result<Credentials, ConfigError> {
    let spec: &CredentialSpec = platform.credential_spec();
    // Inline secrets first: the clearest message for the most dangerous mistake.
    for key in table.keys() {
        if spec.secrets.contains(&key.as_str()) || SECRET_LIKE.contains(&key.as_str()) {
            return Err(ConfigError::InlineSecret {
                shop: shop.to_string(),
                key: key.clone(),
            });
        }
    }
    let expected = || {
        spec.required
            .iter()
            .chain(spec.optional)
            .map(|k| (*k).to_owned())
            .chain(spec.secrets.iter().map(|k| format!("{k}_env")))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut plain = BTreeMap::new();
    let mut secret_env = BTreeMap::new();
    for (key, value) in table {
        let Some(text) = value.as_str() else {
            return Err(ConfigError::CredentialType {
                shop: shop.to_string(),
                key: key.clone(),
            });
        };
        if let Some(name) = key.strip_suffix("_env")
            && spec.secrets.contains(&name)
        {
            if text.is_empty() {
                return Err(ConfigError::Invalid {
                    shop: shop.to_string(),
                    problem: format!("credentials.{key} must name an environment variable"),
                });
            }
            if !is_variable_name(text) {
                return Err(ConfigError::NotAVariableName {
                    place: format!("shop `{shop}`"),
                    key: format!("credentials.{key}"),
                });
            }
            secret_env.insert(name.to_owned(), text.to_owned());
        } else if spec.required.contains(&key.as_str()) || spec.optional.contains(&key.as_str()) {
            platform
                .check_plain(key, text)
                .map_err(|problem| ConfigError::Invalid {
                    shop: shop.to_string(),
                    problem: format!("credentials.{key}: {problem}"),
                })?;
            plain.insert(key.clone(), text.to_owned());
        } else {
            return Err(ConfigError::UnknownCredential {
                shop: shop.to_string(),
                platform: platform.name(),
                key: key.clone(),
                expected: expected(),
            });
        }
    }
    for key in spec.required {
        if !plain.contains_key(*key) {
            return Err(ConfigError::MissingCredential {
                shop: shop.to_string(),
                platform: platform.name(),
                key: (*key).to_owned(),
            });
        }
    }
    for key in spec.secrets {
        if !secret_env.contains_key(*key) {
            return Err(ConfigError::MissingCredential {
                shop: shop.to_string(),
                platform: platform.name(),
                key: format!("{key}_env"),
            });
        }
    }
    Ok(Credentials { plain, secret_env })
}

impl fmt::Display for Config {
    /// A summary without secrets: one line per shop.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "journal: {}", self.journal_url())?;
        for s in &self.shops {
            writeln!(
                f,
                "shop {} on {} at {}",
                s.id,
                s.platform.name(),
                s.base_url.as_deref().unwrap_or("(default URL)")
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
[journal]
url = "sqlite://ordermod.db"

[[shop]]
id = "wx-main"
platform = "wechat-shop"
base_url = "https://api.weixin.qq.com"
rate_limit_per_second = 10
[shop.credentials]
appid = "wx123"
secret_env = "WX_MAIN_SECRET"

[[shop]]
id = "vv"
platform = "vvtool-1688"
base_url = "http://api.vv-tool.com"
allow_plain_http = true
[shop.credentials]
shop_id = "s1"
token_env = "VV_TOKEN"
"#;

    #[test]
    fn the_sample_config_parses() {
        let c = Config::parse(include_str!("../../../examples/ordermod.toml")).unwrap();
        assert_eq!(c.shops.len(), 6);
        let kinds: Vec<_> = c.shops.iter().map(|s| s.platform).collect();
        assert_eq!(kinds, PlatformKind::ALL.to_vec());
    }

    #[test]
    fn a_good_config_parses_without_reading_the_environment() {
        let c = Config::parse(GOOD).unwrap();
        assert_eq!(c.shops.len(), 2);
        assert_eq!(c.shops[0].platform, PlatformKind::WechatShop);
        assert_eq!(
            c.shops[0].credentials.secret_env["secret"],
            "WX_MAIN_SECRET"
        );
        assert_eq!(c.journal_url(), "sqlite://ordermod.db");
    }

    #[test]
    fn an_inline_secret_is_refused_naming_shop_and_key_without_its_value() {
        let text = GOOD.replace("secret_env = \"WX_MAIN_SECRET\"", "secret = \"hunter2\"");
        let e = Config::parse(&text).unwrap_err().to_string();
        assert!(e.contains("wx-main"), "{e}");
        assert!(e.contains("credentials.secret"), "{e}");
        assert!(e.contains("secret_env"), "{e}");
        assert!(!e.contains("hunter2"), "{e}");
        let text = GOOD.replace("token_env = \"VV_TOKEN\"", "token = \"abc\"");
        let e = Config::parse(&text).unwrap_err().to_string();
        assert!(e.contains("`vv`") && e.contains("credentials.token"), "{e}");
    }

    #[test]
    fn unknown_keys_are_refused_by_name() {
        let e =
            Config::parse(&GOOD.replace("appid = \"wx123\"", "appid = \"wx123\"\ncolour = \"x\""))
                .unwrap_err()
                .to_string();
        assert!(e.contains("colour"), "{e}");
        let e = Config::parse(&GOOD.replace("rate_limit_per_second", "rate_per_second"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("rate_per_second"), "{e}");
        let e = Config::parse(&GOOD.replace("wechat-shop", "wechat"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("unknown platform `wechat`"), "{e}");
    }

    #[test]
    fn missing_credentials_and_env_vars_are_named() {
        let e = Config::parse(&GOOD.replace("appid = \"wx123\"", ""))
            .unwrap_err()
            .to_string();
        assert!(e.contains("credentials.appid is missing"), "{e}");
        let c = Config::parse(GOOD).unwrap();
        let env: BTreeMap<String, String> = BTreeMap::new();
        let e = c.shops[0].resolve_secrets(&env).unwrap_err().to_string();
        assert!(e.contains("WX_MAIN_SECRET") && e.contains("wx-main"), "{e}");
        let env: BTreeMap<String, String> = [("WX_MAIN_SECRET".to_owned(), "s3".to_owned())].into();
        let r = c.shops[0].resolve_secrets(&env).unwrap();
        use secrecy::ExposeSecret;
        assert_eq!(r.secret("secret").unwrap().expose_secret(), "s3");
        assert!(!format!("{r:?}").contains("s3\""));
    }

    const ICBU: &str = r#"
[[shop]]
id = "icbu-a"
platform = "alibaba-icbu"
[shop.credentials]
app_key = "12345678"
sign_method = "hmac-sha256"
secret_env = "ICBU_SECRET"
session_env = "ICBU_SESSION"
"#;

    #[test]
    fn an_unknown_sign_method_is_refused_when_the_config_is_parsed() {
        assert!(Config::parse(ICBU).is_ok());
        let e = Config::parse(&ICBU.replace("hmac-sha256", "sha256"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("icbu-a") && e.contains("sign_method"), "{e}");
    }

    #[test]
    fn plain_http_to_a_remote_host_needs_allow_plain_http_naming_the_shop() {
        let without = GOOD.replace("allow_plain_http = true\n", "");
        let e = Config::parse(&without).unwrap_err().to_string();
        assert!(e.contains("shop `vv`"), "{e}");
        assert!(e.contains("http://api.vv-tool.com"), "{e}");
        assert!(e.contains("allow_plain_http"), "{e}");
        let remote = GOOD.replace("https://api.weixin.qq.com", "http://api.weixin.qq.com:80/x");
        let e = Config::parse(&remote).unwrap_err().to_string();
        assert!(e.contains("shop `wx-main`"), "{e}");
        for local in [
            "http://127.0.0.1:9",
            "http://localhost:8080/",
            "http://[::1]:80",
        ] {
            let text = GOOD.replace("https://api.weixin.qq.com", local);
            assert!(Config::parse(&text).is_ok(), "{local}");
        }
        assert!(Config::parse(GOOD).unwrap().shops[1].allow_plain_http);
    }

    #[test]
    fn a_secret_pasted_into_secret_env_is_not_echoed() {
        let pasted = "sk-live/Q2hhcmxpZQ+x=";
        let text = GOOD.replace("WX_MAIN_SECRET", pasted);
        let e = Config::parse(&text).unwrap_err().to_string();
        assert!(
            e.contains("wx-main") && e.contains("credentials.secret_env"),
            "{e}"
        );
        assert!(!e.contains(pasted) && !e.contains("Q2hh"), "{e}");
        let receiver = format!("[receiver]\nsecret_env = \"{pasted}\"\n");
        let e = Config::parse(&receiver).unwrap_err().to_string();
        assert!(e.contains("secret_env"), "{e}");
        assert!(!e.contains("Q2hh"), "{e}");
    }

    #[test]
    fn shops_sharing_a_credential_must_agree_naming_both_shops() {
        let second = r#"
[[shop]]
id = "wx-second"
platform = "wechat-shop"
base_url = "http://127.0.0.1:9"
rate_limit_per_second = 10
[shop.credentials]
appid = "wx123"
secret_env = "WX_MAIN_SECRET"
"#;
        let e = Config::parse(&format!("{GOOD}{second}"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("`wx-main`") && e.contains("`wx-second`"), "{e}");
        assert!(e.contains("base_url"), "{e}");
        // Alike, they share one client and one quota.
        let alike = second.replace("http://127.0.0.1:9", "https://api.weixin.qq.com");
        assert!(Config::parse(&format!("{GOOD}{alike}")).is_ok());
        let faster = alike.replace("= 10", "= 20");
        let e = Config::parse(&format!("{GOOD}{faster}"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("rate_limit_per_second"), "{e}");
        // vv-tool shops of one token differ in shop_id, which is theirs alone.
        let vv2 = "\n[[shop]]\nid = \"vv2\"\nplatform = \"vvtool-1688\"\nbase_url = \"http://api.vv-tool.com\"\nallow_plain_http = true\n[shop.credentials]\nshop_id = \"s2\"\ntoken_env = \"VV_TOKEN\"\n";
        assert!(Config::parse(&format!("{GOOD}{vv2}")).is_ok());
    }
}
