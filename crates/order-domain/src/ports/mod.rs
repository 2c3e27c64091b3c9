//! Ports: the traits the domain declares and adapters implement.
//!
//! All are object-safe so that `order-app` can hold `Arc<dyn ...>`; each documents its error
//! contract.

pub mod clock;
pub mod journal;
pub mod message;
pub mod platform;
pub mod source;
