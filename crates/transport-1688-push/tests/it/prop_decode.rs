//! Property tests: the decoder never panics, and amounts survive a message exactly.

use order_domain::{Currency, Money};
use proptest::prelude::*;
use transport_1688_push::{RepairKind, decode_message};

const SEED: &[u8] = include_bytes!("fixtures/seed_002.json");

/// One edit of a byte string.
#[derive(Debug, Clone)]
enum Edit {
    Flip(usize, u8),
    Delete(usize),
    Insert(usize, u8),
    Truncate(usize),
}

fn edit() -> impl Strategy<Value = Edit> {
    let special = prop::sample::select(vec![
        b'"', b'\\', b'{', b'}', b'[', b']', b',', b':', b'\n', b'0', b'-', b'.', b'e', 0xff, 0x00,
    ]);
    let byte = prop_oneof![any::<u8>(), special];
    prop_oneof![
        (any::<usize>(), byte.clone()).prop_map(|(i, b)| Edit::Flip(i, b)),
        any::<usize>().prop_map(Edit::Delete),
        (any::<usize>(), byte).prop_map(|(i, b)| Edit::Insert(i, b)),
        any::<usize>().prop_map(Edit::Truncate),
    ]
}

fn apply(mut bytes: Vec<u8>, edits: &[Edit]) -> Vec<u8> {
    for e in edits {
        let n = bytes.len().max(1);
        match *e {
            Edit::Flip(i, b) if !bytes.is_empty() => bytes[i % n] = b,
            Edit::Delete(i) if !bytes.is_empty() => {
                bytes.remove(i % n);
            }
            Edit::Insert(i, b) => bytes.insert(i % (bytes.len() + 1), b),
            Edit::Truncate(i) => bytes.truncate(i % (bytes.len() + 1)),
            _ => {}
        }
    }
    bytes
}

/// Yuan as decimal text with up to 2 decimals, e.g. `0`, `6.1`, `123.45`.
fn yuan_text() -> impl Strategy<Value = String> {
    (0u64..10_000_000_000, 0u8..3, 0u32..100).prop_map(|(int, decimals, frac)| match decimals {
        0 => int.to_string(),
        1 => format!("{int}.{}", frac % 10),
        _ => format!("{int}.{frac:02}"),
    })
}

fn cny(text: &str) -> Money {
    Money::parse(text, Currency::Cny).unwrap()
}

#[derive(Debug, Clone)]
struct Line {
    id: u64,
    price: String,
    amount: String,
    /// Signed fen, chosen so that the original (amount − discount) stays non-negative.
    discount: i64,
    quantity: u32,
}

fn line() -> impl Strategy<Value = Line> {
    (
        any::<u64>(),
        yuan_text(),
        yuan_text(),
        1u32..1000,
        any::<i64>(),
    )
        .prop_map(|(id, price, amount, quantity, raw)| {
            let amount_fen = cny(&amount).to_minor().unwrap();
            // discount in [-10^9, amount_fen]
            let span = i128::from(amount_fen) + 1_000_000_001;
            let discount = i64::try_from(i128::from(raw).rem_euclid(span) - 1_000_000_000).unwrap();
            Line {
                id,
                price,
                amount,
                discount,
                quantity,
            }
        })
}

proptest! {
    #![proptest_config(ProptestConfig::default())]

    #[test]
    fn prop_never_panics_on_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = decode_message(&bytes);
    }

    #[test]
    fn prop_never_panics_on_seed_mutations(edits in prop::collection::vec(edit(), 1..8)) {
        let bytes = apply(SEED.to_vec(), &edits);
        let _ = decode_message(&bytes);
    }

    #[test]
    fn prop_amounts_survive_exactly(
        total in yuan_text(),
        freight in yuan_text(),
        order_discount in any::<i32>(),
        refund_payment in 0i64..i64::MAX / 1000,
        order_id in any::<u64>(),
        lines in prop::collection::vec(line(), 0..5),
        ids_as_text in any::<bool>(),
    ) {
        let items: Vec<String> = lines
            .iter()
            .enumerate()
            .map(|(i, l)| {
                // Distinct line ids (the index keeps them unique), no leading zero, beyond 2^53.
                let id = format!("1{i}{}", l.id);
                let id_field = if ids_as_text {
                    format!(r#""subItemID":1,"subItemIDString":"{id}""#)
                } else {
                    format!(r#""subItemID":{id}"#)
                };
                format!(
                    r#"{{{id_field},"price":{},"itemAmount":{},"entryDiscount":{},"quantity":{}}}"#,
                    l.price, l.amount, l.discount, l.quantity
                )
            })
            .collect();
        let body = format!(
            r#"{{"messageType":"ORDER_BUYER_VIEW_ORDER_PRICE_MODIFY","timestamp":"1","messageBody":{{"baseInfo":{{"id":{order_id},"status":"waitbuyerpay","totalAmount":{total},"shippingFee":{freight},"discount":{order_discount},"refundPayment":{refund_payment}}},"productItems":[{}]}}}}"#,
            items.join(",")
        );
        let d = decode_message(body.as_bytes()).unwrap();
        let b = &d.message.base_info;
        prop_assert_eq!(b.total_amount, cny(&total));
        prop_assert_eq!(b.total_amount.to_string(), cny(&total).to_string());
        prop_assert_eq!(b.shipping_fee, cny(&freight));
        prop_assert_eq!(b.discount, Some(Money::from_minor(i64::from(order_discount), Currency::Cny)));
        prop_assert_eq!(b.refund_payment, Some(Money::from_minor(refund_payment, Currency::Cny)));
        prop_assert_eq!(d.order.id().as_str(), order_id.to_string());
        prop_assert_eq!(d.order.freight_current(), cny(&freight));
        prop_assert_eq!(d.order.lines().len(), lines.len());
        for (i, (got, want)) in d.order.lines().iter().zip(&lines).enumerate() {
            prop_assert_eq!(got.id().as_str(), format!("1{i}{}", want.id));
            prop_assert_eq!(got.unit_price(), Some(cny(&want.price)));
            prop_assert_eq!(got.current_total(), cny(&want.amount));
            let original = cny(&want.amount)
                .checked_sub(Money::from_minor(want.discount, Currency::Cny))
                .unwrap();
            prop_assert_eq!(got.original_total(), original);
            prop_assert_eq!(got.original_total().to_minor().unwrap(),
                cny(&want.amount).to_minor().unwrap() - want.discount);
            prop_assert_eq!(got.quantity().value(), want.quantity.into());
        }
        // The only repairs: the deliberately corrupted numeric twins (the text form won), or,
        // with numeric ids alone, every id a double cannot hold exactly, flagged unreliable.
        let (kind, count) = if ids_as_text {
            (RepairKind::IdDisagreement, lines.len())
        } else {
            let above_2_53 = (0..lines.len())
                .filter(|&i| {
                    format!("1{i}{}", lines[i].id)
                        .parse::<u64>()
                        .map_or(true, |n| n > 1 << 53)
                })
                .count();
            (RepairKind::UnreliableId, above_2_53)
        };
        prop_assert!(d.repairs.iter().all(|r| r.kind == kind));
        prop_assert_eq!(d.repairs.len(), count);
    }
}
