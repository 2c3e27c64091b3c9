//! The 1688 price-change policy this transport enforces before anything is sent.
//!
//! vv-tool and the open platform reach the same 1688 operation and share one policy (lower
//! only, before payment, trade types 6, 8, 9 and 10, closed entries left out, signed deltas
//! against the original). This is the one place this crate names it.

use order_domain::Policy;

/// The 1688 policy.
pub fn policy() -> Policy {
    Policy::vvtool_1688()
}
