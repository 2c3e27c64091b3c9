//! Redaction of credentials from database URLs and error texts.

/// The URL with its user information (`user:password@`) replaced by `***@`.
///
/// ```
/// use order_journal::redact_url;
/// assert_eq!(redact_url("postgres://app:s3cret@db:5432/ordermod"), "postgres://***@db:5432/ordermod");
/// assert_eq!(redact_url("sqlite://ordermod.db"), "sqlite://ordermod.db");
/// ```
pub fn redact_url(url: &str) -> String {
    redact(url)
}

/// The text with the user information of every `scheme://user:password@host` in it replaced
/// by `***@`. Used on every storage error text before it leaves the crate.
///
/// ```
/// use order_journal::redact;
/// assert_eq!(
///     redact("error connecting to postgres://u:p@h/db: refused"),
///     "error connecting to postgres://***@h/db: refused"
/// );
/// ```
pub fn redact(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(pos) = rest.find("://") {
        let (head, tail) = rest.split_at(pos + 3);
        out.push_str(head);
        // The authority ends at the first '/', '?', '#' or white space.
        let end = tail
            .find(|c: char| matches!(c, '/' | '?' | '#') || c.is_whitespace())
            .unwrap_or(tail.len());
        let authority = &tail[..end];
        match authority.rfind('@') {
            Some(at) => {
                out.push_str("***");
                out.push_str(&authority[at..]);
            }
            None => out.push_str(authority),
        }
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn userinfo_is_redacted_everywhere() {
        assert_eq!(
            redact("a postgres://x:y@h1/d and mysql://z@h2?x=1 end"),
            "a postgres://***@h1/d and mysql://***@h2?x=1 end"
        );
        assert_eq!(redact("no url here"), "no url here");
        assert_eq!(redact("sqlite::memory:"), "sqlite::memory:");
        assert_eq!(redact("pg://u:p@"), "pg://***@");
        assert_eq!(redact("x://"), "x://");
    }
}
