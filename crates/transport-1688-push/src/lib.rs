//! # transport-1688-push
//!
//! Verifies and decodes the 1688 order message an aggregator pushes when an order's price was
//! changed (`ORDER_BUYER_VIEW_ORDER_PRICE_MODIFY`, `docs/platforms/1688-push.md`), into the
//! domain's [`InboundEvent`] carrying the [`Order`](order_domain::Order) snapshot and the
//! platform's stated total (`baseInfo.totalAmount`, in [`InboundEvent::reported_total`]; it can
//! differ from the snapshot's computed total, as in the seed sample: 6.15 against 6.40).
//!
//! - [`PushDecoder`] implements the domain's [`MessageDecoder`] port (source `1688-push`).
//! - **Verification** ([`MessageDecoder::verify`]): required headers (names matched
//!   case-insensitively), the signature through a pluggable [`SignatureScheme`] compared in
//!   constant time in either case, freshness against the `now` passed in (default window 5
//!   minutes, [`PushConfig`]), and replay refusal through a pluggable [`NonceStore`] (default
//!   [`InMemoryNonceStore`], bounded and pruned with the window). The [`Verified`] dedup key is
//!   the nonce, or `body-md5:{MD5 of the body}` when the optional `nonce-str` is absent.
//! - **Signature schemes.** The seed aggregator's recipe is not published: the default,
//!   [`Md5LengthPrefixed`] (the one `ordermod serve` uses), is an ASSUMED, configurable recipe
//!   (MD5 over the four headers and the raw body, sorted by key, each written `key=LEN:value`
//!   so no bytes can move between fields, `&key=SECRET` appended; every header required).
//!   [`Md5SortedParams`] is the older, ambiguous form (empty values dropped, values not
//!   delimited), kept for an aggregator that signs that way; [`HmacSha1SortedKeyValue`] is the
//!   other documented aggregator form. All three are pinned by golden tests.
//! - **Decoding** ([`decode_message`]): strict JSON first; on failure one documented repair
//!   (raw control characters inside string literals are escaped) and a second parse. Every
//!   tolerance is a recorded [`Repair`] in [`DecodedMessage::repairs`] and a `tracing` warning,
//!   never a silent guess. Amounts are exact (yuan decimals from their literal text, fen
//!   integers through `Money::from_minor`), ids are exact text (the string twin wins over a
//!   corrupted number), 1688 times keep their offset ([`PlatformTime`]) or their raw text.
//!   Unknown fields are ignored; what cannot be decoded is
//!   [`MessageError::Malformed`] naming a JSON path or `line L, column C`.
//! - **Line amounts.** A line's current total is `itemAmount`; `entryDiscount` is read as the
//!   signed fen discount already applied to the entry (negative lowers), so its original total
//!   is `itemAmount − entryDiscount`. Freight (`shippingFee`) is both original and current: the
//!   message does not carry the freight before the change.
//! - Wire names come from [`generated`] (`cargo xtask codegen` from the platform page).
//!
//! ```no_run
//! use order_domain::{MessageDecoder, Timestamp};
//! use transport_1688_push::{PushDecoder, decode_message};
//!
//! # async fn demo(headers: Vec<(String, String)>, body: Vec<u8>) -> Result<(), order_domain::MessageError> {
//! let decoder = PushDecoder::with_secret("app-secret".into());
//! let now = Timestamp::from_millis(1_715_669_977_082);
//! let verified = decoder.verify(&headers, &body, now).await?;
//! let event = decoder.decode(&body)?;
//! println!("{} {} -> {}", verified.dedup_key, event.order.id(), event.order.total().is_ok());
//!
//! // The richer, typed reading with every repair listed:
//! let decoded = decode_message(&body)?;
//! println!("total {} with {} repair(s)", decoded.message.base_info.total_amount, decoded.repairs.len());
//! # Ok(())
//! # }
//! ```
#![warn(missing_docs)]
#![cfg_attr(
    not(test),
    warn(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

mod decode;
pub mod generated;
mod message;
mod repair;
mod time;
mod verify;
mod walk;

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use order_domain::{InboundEvent, MessageDecoder, MessageError, Timestamp, Verified};
use secrecy::SecretString;

pub use decode::{DecodedMessage, decode_message, map_status};
pub use message::{
    BaseInfo, Contact, LogisticsItem, NativeLogistics, OrderRateInfo, PriceModifiedMessage,
    ProductItem, ReceiverInfo, SkuInfo, TradeTerm,
};
pub use repair::{Repair, RepairKind};
pub use time::PlatformTime;
pub use verify::{
    DEFAULT_MAX_SKEW_MS, HmacSha1SortedKeyValue, InMemoryNonceStore, Md5LengthPrefixed,
    Md5SortedParams, NonceStore, NonceStoreCause, NonceStoreError, PushConfig, SignatureScheme,
    SignedParts, headers,
};

/// The source name stored with messages.
pub const SOURCE: &str = "1688-push";

pub use generated::params::PRICE_MODIFY_MESSAGE_TYPE;

/// Verifies and decodes 1688 push messages; the [`MessageDecoder`] of source `1688-push`.
#[derive(Clone)]
pub struct PushDecoder {
    scheme: Arc<dyn SignatureScheme>,
    config: PushConfig,
    nonces: Arc<dyn NonceStore>,
}

impl fmt::Debug for PushDecoder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PushDecoder")
            .field("scheme", &self.scheme.name())
            .field("config", &self.config)
            .field("nonces", &self.nonces)
            .finish()
    }
}

impl PushDecoder {
    /// A decoder with `scheme`, the default [`PushConfig`] and an [`InMemoryNonceStore`].
    pub fn new(scheme: Arc<dyn SignatureScheme>) -> Self {
        PushDecoder {
            scheme,
            config: PushConfig::default(),
            nonces: Arc::new(InMemoryNonceStore::default()),
        }
    }

    /// A decoder with the default (assumed) [`Md5LengthPrefixed`] recipe and `secret`: the
    /// recipe `ordermod serve` uses. For another recipe (the older [`Md5SortedParams`], or
    /// your aggregator's own) use [`PushDecoder::new`].
    pub fn with_secret(secret: SecretString) -> Self {
        PushDecoder::new(Arc::new(Md5LengthPrefixed::new(secret)))
    }

    /// Replaces the configuration (window, header names).
    pub fn with_config(mut self, config: PushConfig) -> Self {
        self.config = config;
        self
    }

    /// Replaces the nonce store (for example with a durable, shared one).
    pub fn with_nonce_store(mut self, nonces: Arc<dyn NonceStore>) -> Self {
        self.nonces = nonces;
        self
    }

    /// The configuration.
    pub fn config(&self) -> &PushConfig {
        &self.config
    }

    /// Decodes with every repair listed (see [`decode_message`]).
    pub fn decode_message(&self, body: &[u8]) -> Result<DecodedMessage, MessageError> {
        decode_message(body)
    }
}

#[async_trait]
impl MessageDecoder for PushDecoder {
    fn source(&self) -> &str {
        SOURCE
    }

    async fn verify(
        &self,
        headers: &[(String, String)],
        body: &[u8],
        now: Timestamp,
    ) -> Result<Verified, MessageError> {
        verify::verify(
            self.scheme.as_ref(),
            &self.config,
            &self.nonces,
            headers,
            body,
            now,
        )
        .await
    }

    fn decode(&self, body: &[u8]) -> Result<InboundEvent, MessageError> {
        let decoded = decode_message(body)?;
        let raw = String::from_utf8_lossy(body).into_owned();
        Ok(InboundEvent::new(
            decoded.message.message_type,
            decoded.message.timestamp,
            decoded.order,
            raw,
        )
        .with_reported_total(decoded.message.base_info.total_amount))
    }
}
