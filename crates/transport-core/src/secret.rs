//! Secrets: credentials live in [`SecretString`], whose `Debug` prints `[REDACTED]` and which
//! has no `Display`. Read the value only at the point of use with [`ExposeSecret::expose_secret`].
//!
//! ```
//! use transport_core::{ExposeSecret, SecretString};
//! let s = SecretString::from("app-secret");
//! assert!(!format!("{s:?}").contains("app-secret"));
//! assert_eq!(s.expose_secret(), "app-secret");
//! ```

pub use secrecy::{ExposeSecret, SecretString};
