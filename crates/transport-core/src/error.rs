//! Turning transport failures into [`PlatformError`]s, always redacted.
//!
//! | failure | kind |
//! |---|---|
//! | timeout, connection refused or reset, request not completed | `Transient` |
//! | HTTP 5xx, 408 | `Transient` |
//! | HTTP 429 (with `Retry-After` when given) | `RateLimited` |
//! | HTTP 401, 403 | `Unauthorised` |
//! | HTTP 404 | `NotFound` |
//! | other HTTP 4xx | `InvalidRequest` |
//! | body could not be read (truncated), is not JSON, or has the wrong shape | `Protocol` |
//!
//! The error's code is `http.<status>` for HTTP statuses, `transport` for connection-level
//! failures and `protocol` for undecodable bodies; the message names what happened and, for
//! bodies, carries a short [`snippet`] so the reply can be diagnosed. Every text passes through
//! [`redact_text`] with the caller's secrets.

use std::error::Error as _;
use std::time::Duration;

use order_domain::{PlatformError, PlatformErrorKind};
use serde::de::DeserializeOwned;

use crate::redact::redact_text;

/// How many characters of a bad body an error keeps.
pub const SNIPPET_CHARS: usize = 200;

/// `body` (lossy UTF-8) redacted of `secrets` (see [`redact_text`]), then cut to its first
/// [`SNIPPET_CHARS`] characters, with `…` when cut.
///
/// Masking comes first: a secret that straddles the cut would otherwise lose its tail to the
/// cut, no longer match, and show all but its last characters.
pub fn snippet(body: &[u8], secrets: &[&str]) -> String {
    let mut text = redact_text(&String::from_utf8_lossy(body), secrets);
    if let Some((cut, _)) = text.char_indices().nth(SNIPPET_CHARS) {
        text.truncate(cut);
        text.push('…');
    }
    text
}

/// Maps a `reqwest` error. The URL is removed and the whole source chain redacted.
pub fn from_reqwest(err: reqwest::Error, secrets: &[&str]) -> PlatformError {
    let status = err.status();
    let kind = if let Some(st) = status {
        return from_status(st.as_u16(), None, b"", secrets);
    } else if err.is_body() || err.is_decode() {
        PlatformErrorKind::Protocol
    } else if err.is_builder() {
        PlatformErrorKind::InvalidRequest
    } else {
        // Timeouts, connection failures, redirects refused, requests cut short: passing.
        PlatformErrorKind::Transient
    };
    let what = if err.is_timeout() {
        "timed out"
    } else if err.is_connect() {
        "could not connect"
    } else if err.is_body() {
        "reply body could not be read (truncated or reset)"
    } else if err.is_decode() {
        "reply body could not be decoded"
    } else if err.is_builder() {
        "request could not be built"
    } else if err.is_redirect() {
        "redirect refused"
    } else {
        "request failed"
    };
    let err = err.without_url();
    let mut chain = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        chain.push_str(": ");
        chain.push_str(&s.to_string());
        source = s.source();
    }
    let code = if kind == PlatformErrorKind::Protocol {
        "protocol"
    } else {
        "transport"
    };
    PlatformError::new(
        kind,
        Some(code.to_owned()),
        redact_text(&format!("{what}: {chain}"), secrets),
    )
}

/// Maps a non-success HTTP status (see the [module table](self)); `body` is kept as a snippet.
pub fn from_status(
    status: u16,
    retry_after: Option<Duration>,
    body: &[u8],
    secrets: &[&str],
) -> PlatformError {
    let kind = match status {
        429 => PlatformErrorKind::RateLimited,
        408 | 500..=599 => PlatformErrorKind::Transient,
        401 | 403 => PlatformErrorKind::Unauthorised,
        404 => PlatformErrorKind::NotFound,
        _ => PlatformErrorKind::InvalidRequest,
    };
    let mut message = format!("HTTP status {status}");
    if !body.is_empty() {
        message.push_str(": ");
        message.push_str(&snippet(body, secrets));
    }
    let e = PlatformError::new(kind, Some(format!("http.{status}")), message);
    match retry_after {
        Some(w) => e.with_retry_after(w),
        None => e,
    }
}

/// A `Protocol` error: the reply could not be understood. `what` says why; the body is kept as
/// a redacted snippet.
pub fn protocol_error(what: &str, body: &[u8], secrets: &[&str]) -> PlatformError {
    let msg = if body.is_empty() {
        format!("{what}; the body was empty")
    } else {
        format!("{what}; body starts: {}", snippet(body, secrets))
    };
    PlatformError::new(
        PlatformErrorKind::Protocol,
        Some("protocol".to_owned()),
        redact_text(&msg, secrets),
    )
}

/// Decodes a JSON body into `T`; any failure (not JSON, truncated, wrong shape) is a
/// `Protocol` error carrying serde's reason and a snippet.
pub fn decode_json<T: DeserializeOwned>(body: &[u8], secrets: &[&str]) -> Result<T, PlatformError> {
    serde_json::from_slice(body).map_err(|e| {
        protocol_error(
            &format!("reply is not the expected JSON ({e})"),
            body,
            secrets,
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_mapping() {
        assert_eq!(
            from_status(503, None, b"", &[]).kind(),
            PlatformErrorKind::Transient
        );
        assert_eq!(
            from_status(500, None, b"", &[]).kind(),
            PlatformErrorKind::Transient
        );
        let e = from_status(429, Some(Duration::from_secs(2)), b"slow down", &[]);
        assert_eq!(e.kind(), PlatformErrorKind::RateLimited);
        assert_eq!(e.retry_after(), Some(Duration::from_secs(2)));
        assert_eq!(e.code(), Some("http.429"));
        assert!(e.message().contains("slow down"));
        assert_eq!(
            from_status(401, None, b"", &[]).kind(),
            PlatformErrorKind::Unauthorised
        );
        assert_eq!(
            from_status(404, None, b"", &[]).kind(),
            PlatformErrorKind::NotFound
        );
        assert_eq!(
            from_status(400, None, b"", &[]).kind(),
            PlatformErrorKind::InvalidRequest
        );
    }

    #[test]
    fn protocol_errors_keep_a_redacted_snippet() {
        let body = format!("<html>{}token=SECRET1 SECRET2</html>", "x".repeat(300));
        let e = protocol_error("not json", body.as_bytes(), &["SECRET2"]);
        assert_eq!(e.kind(), PlatformErrorKind::Protocol);
        assert!(!e.to_string().contains("SECRET"));
        let e = protocol_error(
            "not json",
            b"<html>token=SECRET1 SECRET2</html>",
            &["SECRET2"],
        );
        assert!(!e.to_string().contains("SECRET"), "{e}");
        assert!(e.message().contains("<html>"));
    }

    #[test]
    fn decode_json_truncated_and_wrong_shape() {
        #[derive(serde::Deserialize, Debug)]
        #[allow(dead_code)]
        struct R {
            errcode: i64,
        }
        let e = decode_json::<R>(br#"{"errcode": 0, "errm"#, &[]).unwrap_err();
        assert_eq!(e.kind(), PlatformErrorKind::Protocol);
        let e = decode_json::<R>(br#"{"errcode": "zero"}"#, &[]).unwrap_err();
        assert_eq!(e.kind(), PlatformErrorKind::Protocol);
        let e = decode_json::<R>(b"", &[]).unwrap_err();
        assert!(e.message().contains("empty"));
        assert!(decode_json::<R>(br#"{"errcode": 0, "new_field": 1}"#, &[]).is_ok());
    }

    #[test]
    fn snippet_cuts_on_char_boundaries() {
        let s = snippet("系".repeat(300).as_bytes(), &[]);
        assert_eq!(s.chars().count(), SNIPPET_CHARS + 1);
        assert!(s.ends_with('…'));
    }

    #[test]
    fn a_secret_straddling_the_snippet_cut_is_masked_whole() {
        // A 17-character bearer token and a token-like query value that both start a few
        // characters before the cut and end after it.
        const BEARER: &str = "Bq7Xz2Lm9Kp4Rt6Wv";
        const IN_URL: &str = "u8Hn3Jd5Fs1Ga0Qe";
        for lead in SNIPPET_CHARS - 16..SNIPPET_CHARS {
            let body = format!("{}Bearer {BEARER} more text after it", "x".repeat(lead - 7));
            let e = from_status(401, None, body.as_bytes(), &[BEARER]);
            let shown = e.to_string();
            for part in 3..=BEARER.len() {
                assert!(!shown.contains(&BEARER[..part]), "lead {lead}: {shown}");
            }
            assert!(shown.ends_with('…'), "{shown}");

            let body = format!(
                "{}?access_token={IN_URL}&x=1 and more",
                "y".repeat(lead - 14)
            );
            let shown = snippet(body.as_bytes(), &[]);
            for part in 3..=IN_URL.len() {
                assert!(!shown.contains(&IN_URL[..part]), "lead {lead}: {shown}");
            }
        }
    }
}
