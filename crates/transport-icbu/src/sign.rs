//! TOP request signing and the GMT+8 `timestamp`.
//!
//! Signature (TOP, `docs/platforms/alibaba-icbu.md`): every parameter except `sign`, empty
//! values skipped, sorted by key in byte order, concatenated `key + value` with no separator;
//! then over the UTF-8 bytes of that string:
//!
//! | `sign_method` | digest |
//! |---|---|
//! | `md5` | MD5(secret + s + secret) |
//! | `hmac` | HMAC-MD5(key = secret, s) |
//! | `hmac-sha256` | HMAC-SHA256(key = secret, s) |
//!
//! `sign` is the digest in upper-case hex. `session` and the business parameter's JSON text are
//! signed like any other parameter.
//!
//! ```
//! use transport_icbu::sign::{string_to_sign, top_timestamp};
//! use order_domain::Timestamp;
//! assert_eq!(string_to_sign(&[("v", "2.0"), ("app_key", "1"), ("sign", "X"), ("partner_id", "")]),
//!            "app_key1v2.0");
//! assert_eq!(top_timestamp(Timestamp::from_millis(1_727_308_800_000)), "2024-09-26 08:00:00");
//! ```

use std::fmt;
use std::str::FromStr;

use order_domain::Timestamp;
use serde::{Deserialize, Serialize};
use transport_core::sign::{Digester, for_each_sorted_param};

use crate::generated::params;

/// The TOP `sign_method`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum SignMethod {
    /// `md5`: MD5(secret + s + secret).
    Md5,
    /// `hmac`: HMAC-MD5 keyed with the secret.
    Hmac,
    /// `hmac-sha256`: HMAC-SHA256 keyed with the secret (the default: the strongest).
    #[default]
    #[serde(rename = "hmac-sha256")]
    HmacSha256,
}

impl SignMethod {
    /// The wire value.
    pub const fn as_str(self) -> &'static str {
        match self {
            SignMethod::Md5 => "md5",
            SignMethod::Hmac => "hmac",
            SignMethod::HmacSha256 => "hmac-sha256",
        }
    }
}

impl fmt::Display for SignMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An unknown `sign_method` name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown TOP sign_method `{0}` (expected md5, hmac or hmac-sha256)")]
pub struct UnknownSignMethod(pub String);

impl FromStr for SignMethod {
    type Err = UnknownSignMethod;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "md5" => Ok(SignMethod::Md5),
            "hmac" => Ok(SignMethod::Hmac),
            "hmac-sha256" => Ok(SignMethod::HmacSha256),
            other => Err(UnknownSignMethod(other.to_owned())),
        }
    }
}

/// The string TOP digests: parameters except `sign` and empty values, sorted by key (byte
/// order), `key + value` concatenated.
pub fn string_to_sign(params: &[(&str, &str)]) -> String {
    let mut kept: Vec<&(&str, &str)> = params
        .iter()
        .filter(|(k, v)| *k != "sign" && !v.is_empty())
        .collect();
    kept.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    let mut s = String::new();
    for (k, v) in kept {
        s.push_str(k);
        s.push_str(v);
    }
    s
}

/// The `sign` value for `params` under `method`.
///
/// The digest is fed the pieces of [`string_to_sign`] one by one: the same bytes, without
/// copying the parameters (the business parameter's JSON text above all) into a string first.
pub fn sign(params: &[(&str, &str)], secret: &str, method: SignMethod) -> String {
    let mut digest = match method {
        SignMethod::Md5 => {
            let mut d = Digester::md5();
            d.update(secret.as_bytes());
            d
        }
        SignMethod::Hmac => Digester::hmac_md5(secret.as_bytes()),
        SignMethod::HmacSha256 => Digester::hmac_sha256(secret.as_bytes()),
    };
    for_each_sorted_param(params, "sign", |k, v| {
        digest.update(k.as_bytes());
        digest.update(v.as_bytes());
    });
    if method == SignMethod::Md5 {
        digest.update(secret.as_bytes());
    }
    digest.finish_hex_upper()
}

/// `yyyy-MM-dd HH:mm:ss` in GMT+8 for a UTC instant, whatever the machine's zone. An instant
/// outside years -9999..=9999 is written as the nearest one inside.
pub fn top_timestamp(now: Timestamp) -> String {
    let instant =
        jiff::Timestamp::from_millisecond(now.as_millis()).unwrap_or(if now.as_millis() < 0 {
            jiff::Timestamp::MIN
        } else {
            jiff::Timestamp::MAX
        });
    let offset = jiff::tz::Offset::from_seconds(params::TIMESTAMP_UTC_OFFSET_SECONDS)
        .unwrap_or(jiff::tz::Offset::UTC);
    offset
        .to_datetime(instant)
        .strftime("%Y-%m-%d %H:%M:%S")
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    // Expected strings and digests were computed outside this code with python3 (hashlib,
    // hmac, datetime) and pasted here.

    const POM: &str = r#"{"trade_id":"24668306501026709","remark":"请尽快发货,谢谢"}"#;

    fn golden(method: &'static str) -> Vec<(&'static str, &'static str)> {
        vec![
            ("method", "alibaba.trade.order.modify"),
            ("app_key", "12345678"),
            ("session", "sess-abc"),
            ("timestamp", "2024-09-26 08:00:00"),
            ("format", "json"),
            ("v", "2.0"),
            ("sign_method", method),
            ("param_order_modify", POM),
            ("partner_id", ""),
            ("sign", "NOT-SIGNED"),
        ]
    }

    fn expected_string(method: &str) -> String {
        format!(
            r#"app_key12345678formatjsonmethodalibaba.trade.order.modifyparam_order_modify{{"trade_id":"24668306501026709","remark":"请尽快发货,谢谢"}}sessionsess-abcsign_method{method}timestamp2024-09-26 08:00:00v2.0"#
        )
    }

    #[test]
    fn md5_golden_with_chinese_remark() {
        let p = golden("md5");
        assert_eq!(string_to_sign(&p), expected_string("md5"));
        assert_eq!(
            sign(&p, "top-secret", SignMethod::Md5),
            "780E066BBABA38FD2D16307783503512"
        );
    }

    #[test]
    fn hmac_md5_golden_with_chinese_remark() {
        let p = golden("hmac");
        assert_eq!(string_to_sign(&p), expected_string("hmac"));
        assert_eq!(
            sign(&p, "top-secret", SignMethod::Hmac),
            "298610818018A412D117280B97404B00"
        );
    }

    #[test]
    fn hmac_sha256_golden_with_chinese_remark() {
        let p = golden("hmac-sha256");
        assert_eq!(string_to_sign(&p), expected_string("hmac-sha256"));
        assert_eq!(
            sign(&p, "top-secret", SignMethod::HmacSha256),
            "84FB0611141C7BE9AC7B5BF2D43FA55978D847B4FAF38D56B12B071A573CCA27"
        );
    }

    #[test]
    fn sign_methods_round_trip_their_names() {
        for m in [SignMethod::Md5, SignMethod::Hmac, SignMethod::HmacSha256] {
            assert_eq!(m.as_str().parse::<SignMethod>().unwrap(), m);
            assert!(params::SIGN_METHODS.contains(&m.as_str()));
        }
        assert!("sha1".parse::<SignMethod>().is_err());
    }

    #[test]
    fn every_method_signs_exactly_its_string_to_sign() {
        use transport_core::sign::{hex_upper, hmac_md5, hmac_sha256, md5};
        for m in [SignMethod::Md5, SignMethod::Hmac, SignMethod::HmacSha256] {
            for params in [
                golden(m.as_str()),
                vec![],
                vec![("b", "2"), ("a", "1"), ("a", "0")],
            ] {
                let s = string_to_sign(&params);
                let expected = match m {
                    SignMethod::Md5 => hex_upper(&md5(format!("k{s}k").as_bytes())),
                    SignMethod::Hmac => hex_upper(&hmac_md5(b"k", s.as_bytes())),
                    SignMethod::HmacSha256 => hex_upper(&hmac_sha256(b"k", s.as_bytes())),
                };
                assert_eq!(sign(&params, "k", m), expected, "{m} {params:?}");
            }
        }
    }

    #[test]
    fn timestamps_outside_jiffs_range_are_clamped() {
        for (outside, edge) in [
            (i64::MAX, jiff::Timestamp::MAX),
            (i64::MIN, jiff::Timestamp::MIN),
        ] {
            assert_eq!(
                top_timestamp(Timestamp::from_millis(outside)),
                top_timestamp(Timestamp::from_millis(edge.as_millisecond()))
            );
        }
    }

    #[test]
    fn gmt8_timestamps() {
        for (ms, text) in [
            (1_727_308_800_000, "2024-09-26 08:00:00"),
            (1_709_238_615_000, "2024-03-01 04:30:15"),
            (946_656_000_000, "2000-01-01 00:00:00"),
            (1_704_038_399_000, "2023-12-31 23:59:59"),
            (0, "1970-01-01 08:00:00"),
            (-1_000, "1970-01-01 07:59:59"),
            (951_782_400_000, "2000-02-29 08:00:00"),
            (253_402_128_000_000, "9999-12-30 08:00:00"),
        ] {
            assert_eq!(top_timestamp(Timestamp::from_millis(ms)), text, "{ms}");
        }
    }
}
