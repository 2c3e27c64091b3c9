//! Feeds arbitrary bytes to the 1688 push decoder: it must never panic, and whatever it
//! accepts must be a consistent order snapshot.
#![no_main]

use libfuzzer_sys::fuzz_target;
use order_domain::MessageDecoder;
use transport_1688_push::{PushDecoder, decode_message};

fuzz_target!(|data: &[u8]| {
    if let Ok(decoded) = decode_message(data) {
        // Every accepted order's amounts are exact CNY and add up without overflow panics.
        let _ = decoded.order.total();
        for line in decoded.order.lines() {
            assert!(!line.current_total().is_negative());
            assert!(!line.original_total().is_negative());
        }
    }
    let decoder = PushDecoder::with_secret("fuzz".into());
    let _ = decoder.decode(data);
});
