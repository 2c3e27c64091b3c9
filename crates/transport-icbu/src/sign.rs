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

/// `yyyy-MM-dd HH:mm:ss` in GMT+8 for a UTC instant, whatever the machine's zone.
pub fn top_timestamp(now: Timestamp) -> String {
    let secs = now
        .as_secs()
        .saturating_add(i64::from(params::TIMESTAMP_UTC_OFFSET_SECONDS));
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    let (hh, mm, ss) = (rem / 3600, (rem % 3600) / 60, rem % 60);
    if !(0..=9999).contains(&y) {
        return format!("{y:04}-{m:02}-{d:02} {hh:02}:{mm:02}:{ss:02}");
    }
    // Every part is now in range, so the text is fixed-width digits: written directly.
    let mut out = String::with_capacity(19);
    let mut put = |n: i64, width: u32, sep: Option<char>| {
        for p in (0..width).rev() {
            out.push(char::from(b'0' + ((n / 10_i64.pow(p)) % 10) as u8));
        }
        if let Some(c) = sep {
            out.push(c);
        }
    };
    put(y, 4, Some('-'));
    put(m, 2, Some('-'));
    put(d, 2, Some(' '));
    put(hh, 2, Some(':'));
    put(mm, 2, Some(':'));
    put(ss, 2, None);
    out
}

/// Days since 1970-01-01 to a proleptic Gregorian (year, month, day) (H. Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
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
    fn timestamps_match_the_formatted_text() {
        for secs in [
            i64::MIN / 1000,
            -62_167_219_200 - 28_800 - 1,
            -62_167_219_200 - 28_800,
            -1,
            0,
            951_782_400,
            1_727_308_799,
            253_402_300_799 - 28_800,
            253_402_300_799 - 28_800 + 1,
            i64::MAX / 1000,
        ] {
            let now = Timestamp::from_millis(secs.saturating_mul(1000));
            let s = now
                .as_secs()
                .saturating_add(i64::from(params::TIMESTAMP_UTC_OFFSET_SECONDS));
            let (y, m, d) = civil_from_days(s.div_euclid(86_400));
            let r = s.rem_euclid(86_400);
            let expected = format!(
                "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
                r / 3600,
                (r % 3600) / 60,
                r % 60
            );
            assert_eq!(top_timestamp(now), expected, "{secs}");
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
        ] {
            assert_eq!(top_timestamp(Timestamp::from_millis(ms)), text, "{ms}");
        }
    }
}
