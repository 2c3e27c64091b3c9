//! Verifying a pushed message: signature schemes, freshness and replay refusal.

use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use order_domain::{MessageError, Timestamp, Verified};
use secrecy::{ExposeSecret, SecretString};
use transport_core::sign::{hex_upper, hmac_sha1, md5, verify_hex};

use crate::walk::malformed;

pub use crate::generated::params::{DEFAULT_MAX_SKEW_MS, headers};
use crate::generated::params::{SIGN_SECRET_KEY, SIGNED_BODY_KEY};

/// The parts of a request a signature covers: headers (looked up case-insensitively) and the
/// raw body exactly as received.
#[derive(Debug, Clone, Copy)]
pub struct SignedParts<'a> {
    /// Headers as received.
    pub headers: &'a [(String, String)],
    /// The raw body.
    pub body: &'a [u8],
}

impl<'a> SignedParts<'a> {
    /// The first header named `name` (ASCII case-insensitive).
    pub fn header(&self, name: &str) -> Option<&'a str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// How a signature is computed. Pluggable: the seed aggregator does not publish its recipe.
///
/// A scheme only computes the expected digest; [`PushDecoder`](crate::PushDecoder) compares it
/// with the received hex in constant time (`transport_core::sign::verify_hex`, either case).
pub trait SignatureScheme: Send + Sync + fmt::Debug {
    /// A short name for logs.
    fn name(&self) -> &str;
    /// Headers that must be present (and non-empty) for this scheme.
    fn required_headers(&self) -> Vec<&str>;
    /// The digest the signature must encode.
    fn expected_digest(&self, parts: &SignedParts<'_>) -> Vec<u8>;
}

/// The project default (ASSUMED: the aggregator's recipe is not published; see
/// `docs/platforms/1688-push.md`), an MD5 over sorted `key=value` pairs with the secret
/// appended:
///
/// 1. take `access-key`, `nonce-str`, `timestamp`, `user-id` (header values) and `body` (the
///    raw body, exactly as received); drop absent and empty values;
/// 2. sort by key (byte order) and join as `key=value` with `&`;
/// 3. append `&key=` and the secret;
/// 4. MD5 over the bytes, upper-case hex (32 digits).
///
/// For example `access-key=58c0201dfdf148eca63cbf6bb5e7cf03&body={"messageType":"ORDER_BUYER_VIEW_ORDER_PRICE_MODIFY"}&nonce-str=n-0001&timestamp=1715669977082&user-id=2100007341207&key=secretXYZ`
/// gives `4E8E4B86DDF3780462FA86A6060E29F1`. The signed header names, the body key and the
/// secret key are configurable.
#[derive(Clone)]
pub struct Md5SortedParams {
    secret: SecretString,
    signed_headers: Vec<String>,
    body_key: String,
    secret_key: String,
}

impl fmt::Debug for Md5SortedParams {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Md5SortedParams")
            .field("signed_headers", &self.signed_headers)
            .field("body_key", &self.body_key)
            .field("secret_key", &self.secret_key)
            .finish_non_exhaustive()
    }
}

impl Md5SortedParams {
    /// The default recipe with `secret`.
    pub fn new(secret: SecretString) -> Self {
        Md5SortedParams {
            secret,
            signed_headers: [
                headers::ACCESS_KEY,
                headers::NONCE_STR,
                headers::TIMESTAMP,
                headers::USER_ID,
            ]
            .map(str::to_owned)
            .to_vec(),
            body_key: SIGNED_BODY_KEY.to_owned(),
            secret_key: SIGN_SECRET_KEY.to_owned(),
        }
    }

    /// Signs these headers instead of the default four.
    pub fn with_signed_headers(mut self, names: &[&str]) -> Self {
        self.signed_headers = names.iter().map(|s| (*s).to_owned()).collect();
        self
    }

    /// Signs the body under `key` instead of `body`.
    pub fn with_body_key(mut self, key: &str) -> Self {
        self.body_key = key.to_owned();
        self
    }

    /// Appends the secret as `&{key}=` instead of `&key=`.
    pub fn with_secret_key(mut self, key: &str) -> Self {
        self.secret_key = key.to_owned();
        self
    }

    /// The string to sign *without* the secret suffix (safe to log).
    pub fn canonical(&self, parts: &SignedParts<'_>) -> Vec<u8> {
        let mut pairs: Vec<(&[u8], &[u8])> = self
            .signed_headers
            .iter()
            .filter_map(|h| parts.header(h).map(|v| (h.as_bytes(), v.as_bytes())))
            .collect();
        pairs.push((self.body_key.as_bytes(), parts.body));
        pairs.retain(|(_, v)| !v.is_empty());
        pairs.sort();
        let mut out = Vec::new();
        for (i, (k, v)) in pairs.iter().enumerate() {
            if i > 0 {
                out.push(b'&');
            }
            out.extend_from_slice(k);
            out.push(b'=');
            out.extend_from_slice(v);
        }
        out
    }
}

impl SignatureScheme for Md5SortedParams {
    fn name(&self) -> &str {
        "md5-sorted-params"
    }

    fn required_headers(&self) -> Vec<&str> {
        self.signed_headers
            .iter()
            .map(String::as_str)
            .filter(|h| !h.eq_ignore_ascii_case(headers::NONCE_STR))
            .collect()
    }

    fn expected_digest(&self, parts: &SignedParts<'_>) -> Vec<u8> {
        let mut s = self.canonical(parts);
        s.push(b'&');
        s.extend_from_slice(self.secret_key.as_bytes());
        s.push(b'=');
        s.extend_from_slice(self.secret.expose_secret().as_bytes());
        md5(&s).to_vec()
    }
}

/// The unambiguous default of `ordermod serve`: MD5 over **length-prefixed** fields, every one
/// required, so no byte can move between two fields (for example from the body into the nonce)
/// and still verify.
///
/// 1. take `access-key`, `body`, `nonce-str`, `timestamp`, `user-id` in this (byte-sorted)
///    order; the headers must all be present and non-empty (a missing one is refused before
///    the signature is computed), the body is the raw body exactly as received;
/// 2. write each as `key=LEN:value`, where `LEN` is the value's length in bytes in decimal,
///    and join them with `&`;
/// 3. append `&key=` and the secret;
/// 4. MD5 over the bytes, upper-case hex (32 digits).
///
/// For example `access-key=32:58c0201dfdf148eca63cbf6bb5e7cf03&body=53:{"messageType":"ORDER_BUYER_VIEW_ORDER_PRICE_MODIFY"}&nonce-str=6:n-0001&timestamp=13:1715669977082&user-id=13:2100007341207&key=secretXYZ`
/// gives `B59A1D2B38CEAD1361D5F30AA3BA04D0`. The signed header names are configurable.
///
/// [`Md5SortedParams`] is the older form: it drops empty values and does not delimit them, so
/// `body=X&nonce-str=N` and a body of `X&nonce-str=N` without the header sign the same string.
#[derive(Clone)]
pub struct Md5LengthPrefixed {
    secret: SecretString,
    signed_headers: Vec<String>,
    body_key: String,
    secret_key: String,
}

impl fmt::Debug for Md5LengthPrefixed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Md5LengthPrefixed")
            .field("signed_headers", &self.signed_headers)
            .field("body_key", &self.body_key)
            .field("secret_key", &self.secret_key)
            .finish_non_exhaustive()
    }
}

impl Md5LengthPrefixed {
    /// The recipe with `secret` and the four default headers.
    pub fn new(secret: SecretString) -> Self {
        Md5LengthPrefixed {
            secret,
            signed_headers: [
                headers::ACCESS_KEY,
                headers::NONCE_STR,
                headers::TIMESTAMP,
                headers::USER_ID,
            ]
            .map(str::to_owned)
            .to_vec(),
            body_key: SIGNED_BODY_KEY.to_owned(),
            secret_key: SIGN_SECRET_KEY.to_owned(),
        }
    }

    /// Signs (and requires) these headers instead of the default four.
    pub fn with_signed_headers(mut self, names: &[&str]) -> Self {
        self.signed_headers = names.iter().map(|s| (*s).to_owned()).collect();
        self
    }

    /// The string to sign *without* the secret suffix (safe to log). A header that is absent
    /// is written as `key=-` (distinct from an empty value, `key=0:`); the verifier refuses
    /// such a request before it gets here.
    pub fn canonical(&self, parts: &SignedParts<'_>) -> Vec<u8> {
        let mut fields: Vec<(&[u8], Option<&[u8]>)> = self
            .signed_headers
            .iter()
            .map(|h| (h.as_bytes(), parts.header(h).map(str::as_bytes)))
            .collect();
        fields.push((self.body_key.as_bytes(), Some(parts.body)));
        fields.sort();
        let mut out = Vec::new();
        for (i, (k, v)) in fields.iter().enumerate() {
            if i > 0 {
                out.push(b'&');
            }
            out.extend_from_slice(k);
            out.push(b'=');
            match v {
                Some(v) => {
                    out.extend_from_slice(v.len().to_string().as_bytes());
                    out.push(b':');
                    out.extend_from_slice(v);
                }
                None => out.push(b'-'),
            }
        }
        out
    }
}

impl SignatureScheme for Md5LengthPrefixed {
    fn name(&self) -> &str {
        "md5-length-prefixed"
    }

    fn required_headers(&self) -> Vec<&str> {
        self.signed_headers.iter().map(String::as_str).collect()
    }

    fn expected_digest(&self, parts: &SignedParts<'_>) -> Vec<u8> {
        let mut s = self.canonical(parts);
        s.push(b'&');
        s.extend_from_slice(self.secret_key.as_bytes());
        s.push(b'=');
        s.extend_from_slice(self.secret.expose_secret().as_bytes());
        md5(&s).to_vec()
    }
}

/// The other aggregator form (from the shared platform facts): one `key + value` string per
/// parameter (no separators), the strings sorted (byte order) and concatenated, HMAC-SHA1 with
/// the secret as key, 40 hex digits. Parameters are the headers `msgId`, `gmtBorn`, `type`,
/// `userInfo` and the raw body as `data` (all configurable).
///
/// Published vector: `msgId=1001`, `gmtBorn=1700000000000`, `type=ORDER_CHANGED`,
/// `userInfo=m1`, `data={"k":"v"}`, secret `secretXYZ` sign
/// `data{"k":"v"}gmtBorn1700000000000msgId1001typeORDER_CHANGEDuserInfom1` as
/// `4B20205134EA09C4C8D29CCAC26F6C179EB72C8E`.
///
/// Use it with a [`PushConfig`] whose `timestamp_header` is `gmtBorn` and `nonce_header` is
/// `msgId`.
#[derive(Clone)]
pub struct HmacSha1SortedKeyValue {
    secret: SecretString,
    signed_headers: Vec<String>,
    body_key: Option<String>,
}

impl fmt::Debug for HmacSha1SortedKeyValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HmacSha1SortedKeyValue")
            .field("signed_headers", &self.signed_headers)
            .field("body_key", &self.body_key)
            .finish_non_exhaustive()
    }
}

impl HmacSha1SortedKeyValue {
    /// The published form with `secret`.
    pub fn new(secret: SecretString) -> Self {
        HmacSha1SortedKeyValue {
            secret,
            signed_headers: ["msgId", "gmtBorn", "type", "userInfo"]
                .map(str::to_owned)
                .to_vec(),
            body_key: Some("data".to_owned()),
        }
    }

    /// Signs these headers instead of the default four.
    pub fn with_signed_headers(mut self, names: &[&str]) -> Self {
        self.signed_headers = names.iter().map(|s| (*s).to_owned()).collect();
        self
    }

    /// Signs the body under `key` (`None`: the body is not signed).
    pub fn with_body_key(mut self, key: Option<&str>) -> Self {
        self.body_key = key.map(str::to_owned);
        self
    }

    /// The string to sign (contains no secret).
    pub fn canonical(&self, parts: &SignedParts<'_>) -> Vec<u8> {
        let mut items: Vec<Vec<u8>> = self
            .signed_headers
            .iter()
            .filter_map(|h| {
                parts
                    .header(h)
                    .map(|v| [h.as_bytes(), v.as_bytes()].concat())
            })
            .collect();
        if let Some(k) = &self.body_key {
            items.push([k.as_bytes(), parts.body].concat());
        }
        items.sort();
        items.concat()
    }
}

impl SignatureScheme for HmacSha1SortedKeyValue {
    fn name(&self) -> &str {
        "hmac-sha1-sorted-key-value"
    }

    fn required_headers(&self) -> Vec<&str> {
        self.signed_headers.iter().map(String::as_str).collect()
    }

    fn expected_digest(&self, parts: &SignedParts<'_>) -> Vec<u8> {
        hmac_sha1(
            self.secret.expose_secret().as_bytes(),
            &self.canonical(parts),
        )
        .to_vec()
    }
}

/// Remembers nonces so a replayed message is refused. Pluggable, so a durable store shared by
/// several receivers can replace the in-memory one.
///
/// Keys are `nonce:{nonce-str}`, or `signature:{SIGNATURE}` (upper-case hex) for a message
/// without a nonce; `expires_at` is the message's signed timestamp plus the freshness window,
/// after which a replay is refused as stale anyway, so the entry may be dropped.
///
/// A store that can fail (a database shared by several receivers) reports it with a
/// [`NonceStoreError`]; [`verify`](order_domain::MessageDecoder::verify) then answers
/// [`MessageError::Unavailable`] and the message is neither refused as a replay nor accepted.
#[async_trait]
pub trait NonceStore: Send + Sync + fmt::Debug {
    /// Records `nonce` as used until `expires_at` and returns `true`, or returns `false` when it
    /// was already recorded and has not expired at `now`. Check and record are one atomic step:
    /// among concurrent calls with one nonce, at most one returns `true`.
    async fn check_and_record(
        &self,
        nonce: &str,
        now: Timestamp,
        expires_at: Timestamp,
    ) -> Result<bool, NonceStoreError>;
}

/// The cause of a [`NonceStoreError`] (the store's own error).
pub type NonceStoreCause = Box<dyn std::error::Error + Send + Sync + 'static>;

/// A [`NonceStore`] could not check or record a nonce. The context and cause name no secret.
#[derive(Debug, thiserror::Error)]
#[error("the nonce store failed: {context}")]
pub struct NonceStoreError {
    context: String,
    #[source]
    source: Option<NonceStoreCause>,
}

impl NonceStoreError {
    /// A failure while doing `context`, caused by `source`.
    pub fn new(context: impl Into<String>, source: impl Into<NonceStoreCause>) -> Self {
        NonceStoreError {
            context: context.into(),
            source: Some(source.into()),
        }
    }

    /// The failure and its causes as one line (for [`MessageError::Unavailable`], which keeps
    /// text only).
    pub fn chain(&self) -> String {
        let mut text = self.to_string();
        let mut cause = std::error::Error::source(self);
        while let Some(c) = cause {
            text.push_str(": ");
            text.push_str(&c.to_string());
            cause = c.source();
        }
        text
    }
}

#[derive(Debug, Default)]
struct Seen {
    by_nonce: HashMap<String, i64>,
    by_expiry: BTreeSet<(i64, String)>,
}

/// A bounded in-memory [`NonceStore`]. Entries expire with the freshness window (a replay
/// after that is refused as stale anyway) and are pruned on every call; when the store is full
/// of unexpired entries, the one expiring first is evicted (and a warning logged).
#[derive(Debug)]
pub struct InMemoryNonceStore {
    seen: Mutex<Seen>,
    capacity: usize,
}

impl InMemoryNonceStore {
    /// A store holding at most `capacity` (at least 1) unexpired nonces.
    pub fn new(capacity: usize) -> Self {
        InMemoryNonceStore {
            seen: Mutex::new(Seen::default()),
            capacity: capacity.max(1),
        }
    }

    /// How many nonces are held now.
    pub fn len(&self) -> usize {
        self.lock().by_nonce.len()
    }

    /// True when no nonce is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Seen> {
        self.seen.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Default for InMemoryNonceStore {
    /// Capacity 100 000.
    fn default() -> Self {
        InMemoryNonceStore::new(100_000)
    }
}

#[async_trait]
impl NonceStore for InMemoryNonceStore {
    async fn check_and_record(
        &self,
        nonce: &str,
        now: Timestamp,
        expires_at: Timestamp,
    ) -> Result<bool, NonceStoreError> {
        let mut seen = self.lock();
        let now = now.as_millis();
        while let Some(first) = seen.by_expiry.first().cloned() {
            if first.0 >= now {
                break;
            }
            seen.by_expiry.remove(&first);
            seen.by_nonce.remove(&first.1);
        }
        if seen.by_nonce.contains_key(nonce) {
            return Ok(false);
        }
        if seen.by_nonce.len() >= self.capacity
            && let Some(first) = seen.by_expiry.pop_first()
        {
            tracing::warn!(
                capacity = self.capacity,
                "nonce store full; evicting the nonce that expires first"
            );
            seen.by_nonce.remove(&first.1);
        }
        let exp = expires_at.as_millis();
        seen.by_nonce.insert(nonce.to_owned(), exp);
        seen.by_expiry.insert((exp, nonce.to_owned()));
        Ok(true)
    }
}

/// Which headers carry the signature, timestamp and nonce, and the freshness window.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PushConfig {
    /// Freshness window around `now` (default 5 minutes).
    pub max_skew_ms: u64,
    /// Header with the signature (default `signature`).
    pub signature_header: String,
    /// Header with the Unix-milliseconds timestamp (default `timestamp`).
    pub timestamp_header: String,
    /// Header with the optional nonce (default `nonce-str`).
    pub nonce_header: String,
}

impl Default for PushConfig {
    fn default() -> Self {
        PushConfig {
            max_skew_ms: DEFAULT_MAX_SKEW_MS,
            signature_header: headers::SIGNATURE.to_owned(),
            timestamp_header: headers::TIMESTAMP.to_owned(),
            nonce_header: headers::NONCE_STR.to_owned(),
        }
    }
}

impl PushConfig {
    /// Sets the freshness window.
    pub fn with_max_skew_ms(mut self, ms: u64) -> Self {
        self.max_skew_ms = ms;
        self
    }

    /// Sets the header names of signature, timestamp and nonce.
    pub fn with_headers(mut self, signature: &str, timestamp: &str, nonce: &str) -> Self {
        self.signature_header = signature.to_owned();
        self.timestamp_header = timestamp.to_owned();
        self.nonce_header = nonce.to_owned();
        self
    }
}

/// Runs the checks in order: required headers, signature (before anything else is trusted),
/// freshness, replay.
pub(crate) async fn verify(
    scheme: &dyn SignatureScheme,
    config: &PushConfig,
    nonces: &Arc<dyn NonceStore>,
    headers: &[(String, String)],
    body: &[u8],
    now: Timestamp,
) -> Result<Verified, MessageError> {
    let parts = SignedParts { headers, body };
    let present = |name: &str| parts.header(name).filter(|v| !v.trim().is_empty());
    let mut required = vec![
        config.signature_header.as_str(),
        config.timestamp_header.as_str(),
    ];
    required.extend(scheme.required_headers());
    for name in required {
        if present(name).is_none() {
            return Err(MessageError::MissingHeader(name.to_owned()));
        }
    }
    let signature = present(&config.signature_header).unwrap_or_default();
    if !verify_hex(signature, &scheme.expected_digest(&parts)) {
        tracing::warn!(scheme = scheme.name(), "1688 push signature does not match");
        return Err(MessageError::BadSignature);
    }
    let ts_text = present(&config.timestamp_header).unwrap_or_default();
    let sent = ts_text
        .trim()
        .parse::<i64>()
        .map(Timestamp::from_millis)
        .map_err(|_| {
            malformed(
                format!("header `{}`", config.timestamp_header),
                format!("`{ts_text}` is not Unix milliseconds"),
            )
        })?;
    let skew_ms = sent.distance_ms(now);
    if skew_ms > config.max_skew_ms {
        return Err(MessageError::Stale {
            sent,
            skew_ms,
            window_ms: config.max_skew_ms,
        });
    }
    let nonce = present(&config.nonce_header);
    // Without a nonce the signature itself is the replay key (it covers timestamp and body).
    let replay_key = match nonce {
        Some(n) => format!("nonce:{n}"),
        None => format!("signature:{}", signature.trim().to_ascii_uppercase()),
    };
    let window = i64::try_from(config.max_skew_ms).unwrap_or(i64::MAX);
    let expires_at = Timestamp::from_millis(sent.as_millis().saturating_add(window));
    let fresh = nonces
        .check_and_record(&replay_key, now, expires_at)
        .await
        .map_err(|e| {
            tracing::error!("cannot check a 1688 push nonce: {}", e.chain());
            MessageError::Unavailable(e.chain())
        })?;
    if !fresh {
        return Err(MessageError::Replayed(
            nonce.map_or(replay_key.clone(), str::to_owned),
        ));
    }
    let dedup_key = match nonce {
        Some(n) => n.to_owned(),
        None => format!("body-md5:{}", hex_upper(&md5(body))),
    };
    Ok(Verified { dedup_key })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A store whose database is down.
    #[derive(Debug)]
    struct Down;

    #[async_trait]
    impl NonceStore for Down {
        async fn check_and_record(
            &self,
            _nonce: &str,
            _now: Timestamp,
            _expires_at: Timestamp,
        ) -> Result<bool, NonceStoreError> {
            Err(NonceStoreError::new(
                "cannot take a nonce",
                std::io::Error::other("connection refused"),
            ))
        }
    }

    #[tokio::test]
    async fn a_failing_nonce_store_makes_the_message_unavailable_not_replayed() {
        let scheme = Md5LengthPrefixed::new(SecretString::from("s3cret"));
        let now = Timestamp::from_millis(1_715_669_977_082);
        let mut headers: Vec<(String, String)> = [
            ("access-key", "ak"),
            ("nonce-str", "n-1"),
            ("timestamp", "1715669977082"),
            ("user-id", "u"),
        ]
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
        let body = b"{}";
        let signature = hex_upper(&scheme.expected_digest(&SignedParts {
            headers: &headers,
            body,
        }));
        headers.push(("signature".to_owned(), signature));
        let down: Arc<dyn NonceStore> = Arc::new(Down);
        let err = verify(&scheme, &PushConfig::default(), &down, &headers, body, now)
            .await
            .unwrap_err();
        assert_eq!(
            err,
            MessageError::Unavailable(
                "the nonce store failed: cannot take a nonce: connection refused".to_owned()
            )
        );
        let fine: Arc<dyn NonceStore> = Arc::new(InMemoryNonceStore::default());
        verify(&scheme, &PushConfig::default(), &fine, &headers, body, now)
            .await
            .unwrap();
    }
}
