//! The EM `sign` parameter: a pluggable scheme, because EM does not publish its recipe.
//!
//! The default, [`EmSignScheme::AmpersandKey`], is the recipe most Chinese ERP APIs use and the
//! one documented in `docs/platforms/em-franchiser.md`:
//!
//! 1. every parameter except `sign`, and except parameters whose value is empty;
//! 2. sorted by key (byte order);
//! 3. joined as `key=value` with `&` (values as sent, not URL-encoded: `request_data` is the
//!    exact JSON text that travels);
//! 4. `&key=<secret>` appended;
//! 5. MD5 over the UTF-8 bytes, upper-case hex.
//!
//! [`EmSignScheme::PlainSecret`] appends the secret itself (no `&key=`); a deployment whose EM
//! instance signs differently plugs its own [`EmSigner`] in with [`EmSignScheme::Custom`].
//!
//! ```
//! use transport_em::{EmSignScheme, EmSigner};
//! let params = [("appid", "em-app-01"), ("timestamp", "1727251200"),
//!               ("request_data", r#"{"tradeno":"DD202409260001","remark":"改价"}"#)];
//! assert_eq!(
//!     EmSignScheme::AmpersandKey.string_to_sign(&params, "s3cr3t"),
//!     r#"appid=em-app-01&request_data={"tradeno":"DD202409260001","remark":"改价"}&timestamp=1727251200&key=s3cr3t"#
//! );
//! ```

use std::fmt;
use std::sync::Arc;

use transport_core::sign::{Digester, for_each_sorted_param, hex_upper, md5};

use crate::generated::params;

/// A signature recipe for EM requests.
///
/// `params` are the parameters that travel (name, value), in any order, possibly including
/// `sign` itself (which every recipe must ignore).
pub trait EmSigner: Send + Sync + fmt::Debug {
    /// The exact text that is digested. Contains the secret: never log it.
    fn string_to_sign(&self, params: &[(&str, &str)], secret: &str) -> String;

    /// The `sign` value. The default is MD5 of [`string_to_sign`](Self::string_to_sign) in
    /// upper-case hex.
    fn sign(&self, params: &[(&str, &str)], secret: &str) -> String {
        hex_upper(&md5(self.string_to_sign(params, secret).as_bytes()))
    }
}

/// Which recipe computes `sign` (configurable per shop).
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub enum EmSignScheme {
    /// `k1=v1&k2=v2&key=SECRET`, MD5, upper-case hex. The project default.
    #[default]
    AmpersandKey,
    /// `k1=v1&k2=v2SECRET`, MD5, upper-case hex.
    PlainSecret,
    /// A recipe supplied by the deployment.
    Custom(Arc<dyn EmSigner>),
}

impl EmSignScheme {
    /// The configuration name: `ampersand-key`, `plain-secret`, or `custom`.
    pub fn name(&self) -> &'static str {
        match self {
            EmSignScheme::AmpersandKey => "ampersand-key",
            EmSignScheme::PlainSecret => "plain-secret",
            EmSignScheme::Custom(_) => "custom",
        }
    }
}

/// A sign scheme name that is not `ampersand-key` or `plain-secret`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown EM sign scheme `{0}` (expected ampersand-key or plain-secret)")]
pub struct UnknownSignScheme(pub String);

impl std::str::FromStr for EmSignScheme {
    type Err = UnknownSignScheme;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "ampersand-key" => Ok(EmSignScheme::AmpersandKey),
            "plain-secret" => Ok(EmSignScheme::PlainSecret),
            other => Err(UnknownSignScheme(other.to_owned())),
        }
    }
}

/// `key=value` pairs except `sign` and empty values, sorted by key in byte order, joined by `&`.
pub fn canonical_query(params: &[(&str, &str)]) -> String {
    let mut kept: Vec<&(&str, &str)> = params
        .iter()
        .filter(|(k, v)| *k != params::SIGN && !v.is_empty())
        .collect();
    kept.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    let mut out = String::new();
    for (i, (k, v)) in kept.into_iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        out.push_str(k);
        out.push('=');
        out.push_str(v);
    }
    out
}

impl EmSigner for EmSignScheme {
    fn string_to_sign(&self, params: &[(&str, &str)], secret: &str) -> String {
        match self {
            EmSignScheme::AmpersandKey => format!(
                "{}&{}={secret}",
                canonical_query(params),
                params::SIGN_SECRET_KEY
            ),
            EmSignScheme::PlainSecret => format!("{}{secret}", canonical_query(params)),
            EmSignScheme::Custom(s) => s.string_to_sign(params, secret),
        }
    }

    /// The built-in schemes feed MD5 the pieces of [`string_to_sign`](EmSigner::string_to_sign)
    /// one by one: the same bytes, without copying `request_data` into a string first.
    fn sign(&self, params: &[(&str, &str)], secret: &str) -> String {
        let suffix: [&[u8]; 4] = match self {
            EmSignScheme::Custom(s) => return s.sign(params, secret),
            EmSignScheme::AmpersandKey => [
                b"&",
                params::SIGN_SECRET_KEY.as_bytes(),
                b"=",
                secret.as_bytes(),
            ],
            EmSignScheme::PlainSecret => [secret.as_bytes(), b"", b"", b""],
        };
        let mut digest = Digester::md5();
        let mut first = true;
        for_each_sorted_param(params, params::SIGN, |k, v| {
            if !first {
                digest.update(b"&");
            }
            first = false;
            digest.update(k.as_bytes());
            digest.update(b"=");
            digest.update(v.as_bytes());
        });
        for piece in suffix {
            digest.update(piece);
        }
        digest.finish_hex_upper()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Expected digests were computed outside this code, with
    // python3 -c 'import hashlib;print(hashlib.md5(s.encode()).hexdigest().upper())'.

    const RD: &str = r#"{"tradeno":"DD202409260001","receivername":"张三","remark":"物流备注:轻放","traderemark":"订单备注"}"#;

    fn golden_params() -> [(&'static str, &'static str); 4] {
        [
            ("timestamp", "1727251200"),
            ("sign", "IGNORED"),
            ("request_data", RD),
            ("appid", "em-app"),
        ]
    }

    #[test]
    fn default_scheme_golden_with_chinese() {
        let s = EmSignScheme::default().string_to_sign(&golden_params(), "em-secret");
        assert_eq!(
            s,
            r#"appid=em-app&request_data={"tradeno":"DD202409260001","receivername":"张三","remark":"物流备注:轻放","traderemark":"订单备注"}&timestamp=1727251200&key=em-secret"#
        );
        assert_eq!(
            EmSignScheme::default().sign(&golden_params(), "em-secret"),
            "6DC1DD8AE70F48AC627752D61135B5F0"
        );
    }

    #[test]
    fn default_scheme_matches_the_reference_page_example() {
        let params = [
            ("appid", "em-app-01"),
            ("timestamp", "1727251200"),
            (
                "request_data",
                r#"{"tradeno":"DD202409260001","remark":"改价"}"#,
            ),
        ];
        assert_eq!(
            EmSignScheme::AmpersandKey.sign(&params, "s3cr3t"),
            "47CD03C988C3C7A938FBD8DB9C3D4897"
        );
    }

    #[test]
    fn plain_secret_scheme_golden() {
        let s = EmSignScheme::PlainSecret.string_to_sign(&golden_params(), "em-secret");
        assert_eq!(
            s,
            r#"appid=em-app&request_data={"tradeno":"DD202409260001","receivername":"张三","remark":"物流备注:轻放","traderemark":"订单备注"}&timestamp=1727251200em-secret"#
        );
        assert_eq!(
            EmSignScheme::PlainSecret.sign(&golden_params(), "em-secret"),
            "D7273BF14CA9D9A35C93FD63F2D4D3BF"
        );
    }

    #[test]
    fn built_in_schemes_sign_exactly_their_string_to_sign() {
        let cases: [&[(&str, &str)]; 4] = [
            &golden_params(),
            &[],
            &[("sign", "x"), ("a", "")],
            &[
                ("b", "2"),
                ("a", "1"),
                ("b", "1"),
                ("request_data", "{\"备注\":\"&=\"}"),
            ],
        ];
        for params in cases {
            for scheme in [EmSignScheme::AmpersandKey, EmSignScheme::PlainSecret] {
                for secret in ["em-secret", ""] {
                    assert_eq!(
                        scheme.sign(params, secret),
                        hex_upper(&md5(scheme.string_to_sign(params, secret).as_bytes())),
                        "{params:?} {}",
                        scheme.name()
                    );
                }
            }
        }
    }

    #[test]
    fn scheme_names_round_trip() {
        for s in [EmSignScheme::AmpersandKey, EmSignScheme::PlainSecret] {
            assert_eq!(s.name().parse::<EmSignScheme>().unwrap().name(), s.name());
        }
        assert!("md5".parse::<EmSignScheme>().is_err());
    }

    #[test]
    fn empty_values_and_sign_are_skipped() {
        let params = [("b", "2"), ("a", ""), ("sign", "x"), ("c", "3")];
        assert_eq!(canonical_query(&params), "b=2&c=3");
    }

    #[derive(Debug)]
    struct Reversed;
    impl EmSigner for Reversed {
        fn string_to_sign(&self, params: &[(&str, &str)], secret: &str) -> String {
            format!("{secret}|{}", canonical_query(params))
        }
        fn sign(&self, params: &[(&str, &str)], secret: &str) -> String {
            self.string_to_sign(params, secret).chars().rev().collect()
        }
    }

    #[test]
    fn custom_scheme_is_used() {
        let scheme = EmSignScheme::Custom(Arc::new(Reversed));
        assert_eq!(scheme.sign(&[("a", "1")], "k"), "1=a|k");
    }
}
