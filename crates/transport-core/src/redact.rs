//! Redaction of secrets from text that may reach an error, a log line or a report.
//!
//! Platforms put tokens in URLs (WeChat's `access_token`), and HTTP clients print URLs in their
//! errors, so every error text built by a transport goes through these functions.
//!
//! ```
//! use transport_core::{redact_text, redact_url};
//! assert_eq!(
//!     redact_url("https://api.example/x?access_token=abc&order=1"),
//!     "https://api.example/x?access_token=***&order=1"
//! );
//! assert_eq!(redact_text("bad token abc", &["abc"]), "bad token ***");
//! ```

/// Query parameters whose values are secret, compared case-insensitively.
pub const SENSITIVE_PARAMS: &[&str] = &[
    "access_token",
    "token",
    "secret",
    "session",
    "sign",
    "appsecret",
    "app_secret",
    "key",
];

const MASK: &str = "***";

fn is_sensitive(name: &str) -> bool {
    SENSITIVE_PARAMS
        .iter()
        .any(|p| p.eq_ignore_ascii_case(name.trim()))
}

/// Replaces the values of sensitive query parameters ([`SENSITIVE_PARAMS`]) with `***`, and a
/// password in the URL's user-info part. Everything else is kept byte for byte; text that is
/// not a URL is returned unchanged unless it has a `?query`.
pub fn redact_url(url: &str) -> String {
    let url = redact_userinfo(url);
    let Some(q_start) = url.find('?') else {
        return url;
    };
    let (head, rest) = url.split_at(q_start + 1);
    let (query, fragment) = match rest.find('#') {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    let mut out = String::with_capacity(url.len());
    out.push_str(head);
    for (i, pair) in query.split('&').enumerate() {
        if i > 0 {
            out.push('&');
        }
        match pair.split_once('=') {
            Some((k, _)) if is_sensitive(k) => {
                out.push_str(k);
                out.push('=');
                out.push_str(MASK);
            }
            _ => out.push_str(pair),
        }
    }
    out.push_str(fragment);
    out
}

/// `scheme://user:password@host` → `scheme://user:***@host`.
fn redact_userinfo(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        return url.to_owned();
    };
    let authority_start = scheme_end + 3;
    let authority_end = url[authority_start..]
        .find(['/', '?', '#'])
        .map_or(url.len(), |i| authority_start + i);
    let authority = &url[authority_start..authority_end];
    let Some(at) = authority.rfind('@') else {
        return url.to_owned();
    };
    let userinfo = &authority[..at];
    let Some(colon) = userinfo.find(':') else {
        return url.to_owned();
    };
    format!(
        "{}{}:{MASK}{}",
        &url[..authority_start],
        &userinfo[..colon],
        &url[authority_start + at..]
    )
}

/// Replaces every occurrence of each non-empty secret in `secrets` with `***`, then masks the
/// values of sensitive `name=value` query parameters wherever they appear in the text (at the
/// start or after any ASCII punctuation or whitespace), so URLs embedded in messages are covered
/// too.
pub fn redact_text(text: &str, secrets: &[&str]) -> String {
    // Most texts (a verbatim reply body, a platform message) contain no secret: then nothing is
    // copied until the one output string.
    if !secrets.iter().any(|s| !s.is_empty() && text.contains(s)) {
        return redact_params_in_text(text);
    }
    let mut out = text.to_owned();
    // Longest first, so a secret that contains another is masked whole.
    let mut sorted: Vec<&str> = secrets.iter().copied().filter(|s| !s.is_empty()).collect();
    sorted.sort_by_key(|s| std::cmp::Reverse(s.len()));
    for s in sorted {
        if out.contains(s) {
            out = out.replace(s, MASK);
        }
    }
    redact_params_in_text(&out)
}

/// Masks `name=value` for sensitive names anywhere in free text.
fn redact_params_in_text(text: &str) -> String {
    let bytes = text.as_bytes();
    // Every masked parameter is written `name=value`: text without `=` has nothing to mask.
    if !bytes.contains(&b'=') {
        return text.to_owned();
    }
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    let mut copied = 0;
    while i < bytes.len() {
        // A name starts at the text's start or after any ASCII byte that cannot be part of a
        // name (`?`, `&`, space, quote, `>`...); such a byte is ASCII, so `i` is a char boundary.
        let at_boundary = i == 0 || {
            let b = bytes[i - 1];
            b.is_ascii() && !b.is_ascii_alphanumeric() && b != b'_'
        };
        if at_boundary && let Some(name_len) = sensitive_name_at(&text[i..]) {
            let value_start = i + name_len + 1;
            let value_end = text[value_start..]
                .find(|c: char| {
                    matches!(
                        c,
                        '&' | '#' | ' ' | '\t' | '\n' | ')' | '"' | '\'' | ',' | ';' | '<' | '>'
                    )
                })
                .map_or(text.len(), |j| value_start + j);
            out.push_str(&text[copied..value_start]);
            out.push_str(MASK);
            copied = value_end;
            i = value_end.max(i + 1);
            continue;
        }
        i += 1;
    }
    out.push_str(&text[copied..]);
    out
}

/// When `s` starts with `name=` for a sensitive name, the length of `name`.
fn sensitive_name_at(s: &str) -> Option<usize> {
    SENSITIVE_PARAMS.iter().find_map(|p| {
        let n = p.len();
        (s.len() > n
            && s.as_bytes()[n] == b'='
            && s.is_char_boundary(n)
            && s[..n].eq_ignore_ascii_case(p))
        .then_some(n)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_every_sensitive_param() {
        for p in SENSITIVE_PARAMS {
            let url = format!("http://h/p?a=1&{p}=SECRETVALUE&b=2");
            let r = redact_url(&url);
            assert!(!r.contains("SECRETVALUE"), "{p}: {r}");
            assert_eq!(r, format!("http://h/p?a=1&{p}=***&b=2"));
        }
    }

    #[test]
    fn case_insensitive_and_first_param_and_fragment() {
        assert_eq!(
            redact_url("http://h/p?Access_Token=x1#frag"),
            "http://h/p?Access_Token=***#frag"
        );
        assert_eq!(redact_url("http://h/p"), "http://h/p");
        assert_eq!(redact_url("http://h/p?tokenx=1"), "http://h/p?tokenx=1");
        assert_eq!(
            redact_url("http://u:pw@h/p?key=k"),
            "http://u:***@h/p?key=***"
        );
    }

    #[test]
    fn text_with_embedded_url_and_known_secrets() {
        let t = "error sending request for url (http://127.0.0.1:1/cgi?access_token=TOK123&x=1): refused";
        let r = redact_text(t, &[]);
        assert!(!r.contains("TOK123"), "{r}");
        assert!(r.contains("access_token=***&x=1"));
        let r = redact_text("bearer S3CR3T and S3CR3T again", &["S3CR3T", ""]);
        assert_eq!(r, "bearer *** and *** again");
        // Non-ASCII text survives.
        assert_eq!(redact_text("系统繁忙 token=abc", &[]), "系统繁忙 token=***");
    }
}
