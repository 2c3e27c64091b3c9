//! The system clock, for adapters that stamp requests (EM's Unix seconds, TOP's GMT+8 time).
//!
//! The domain only knows the `Clock` port; this is its one implementation on `SystemTime`.
//! Tests pass a `FixedClock` instead.

use std::time::{SystemTime, UNIX_EPOCH};

use order_domain::{Clock, Timestamp};

/// The system clock (UTC milliseconds from `SystemTime`).
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        let ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
        Timestamp::from_millis(ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_time_after_2024() {
        // 2024-01-01T00:00:00Z; any machine running this is later.
        assert!(SystemClock.now().as_millis() > 1_704_067_200_000);
    }
}
