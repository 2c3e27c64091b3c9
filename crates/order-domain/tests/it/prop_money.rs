//! Properties of money: exact round trips and currencies that never mix.

use order_domain::{Currency, Money, MoneyError};
use proptest::prelude::*;

fn currency() -> impl Strategy<Value = Currency> {
    prop::sample::select(Currency::ALL.to_vec())
}

proptest! {
    #[test]
    fn prop_minor_units_round_trip(minor in any::<i64>(), cur in currency()) {
        let m = Money::from_minor(minor, cur);
        prop_assert_eq!(m.to_minor(), Ok(minor));
    }

    #[test]
    fn prop_text_round_trips(minor in -10_i64.pow(15)..10_i64.pow(15), cur in currency()) {
        let m = Money::from_minor(minor, cur);
        let text = m.to_string();
        let back = Money::parse(&text, cur).unwrap();
        prop_assert_eq!(back, m);
        prop_assert_eq!(back.to_minor(), Ok(minor));
        // The text always shows exactly the currency's decimals.
        let decimals = text.split_once('.').map_or(0, |(_, f)| f.len());
        prop_assert_eq!(decimals as u32, cur.exponent());
    }

    #[test]
    fn prop_text_is_decimals_own_text_rescaled(mantissa in any::<i64>(), scale in 0_u32..=28, cur in currency()) {
        let m = Money::parse(&rust_decimal::Decimal::new(mantissa, scale).to_string(), cur).unwrap();
        let mut reference = m.amount();
        if reference.scale() < cur.exponent() {
            reference.rescale(cur.exponent());
        }
        prop_assert_eq!(m.to_string(), reference.to_string());
        // `to_minor` is exact decimal arithmetic: scale up, refuse a fraction or overflow.
        let scaled = m.amount().checked_mul(rust_decimal::Decimal::from(10_i64.pow(cur.exponent())));
        let expected = scaled.and_then(|s| s.fract().is_zero().then(|| i64::try_from(s.trunc()).ok()).flatten());
        prop_assert_eq!(m.to_minor().ok(), expected);
    }

    #[test]
    fn prop_sub_minor_text_is_refused_not_rounded(whole in 0_u32..1_000_000, extra in 1_u32..10, cur in currency()) {
        // One more decimal than the currency allows, with a non-zero last digit.
        let decimals = "0".repeat(cur.exponent() as usize);
        let text = format!("{whole}.{decimals}{extra}");
        let m = Money::parse(&text, cur).unwrap();
        let is_sub_minor = matches!(m.to_minor(), Err(MoneyError::SubMinorPrecision { .. }));
        prop_assert!(is_sub_minor);
    }

    #[test]
    fn prop_arithmetic_never_mixes_currencies(a in any::<i32>(), b in any::<i32>(), x in currency(), y in currency()) {
        let (ma, mb) = (Money::from_minor(a.into(), x), Money::from_minor(b.into(), y));
        let sum = ma.checked_add(mb);
        let diff = ma.checked_sub(mb);
        if x == y {
            prop_assert_eq!(sum.unwrap().to_minor(), Ok(i64::from(a) + i64::from(b)));
            prop_assert_eq!(diff.unwrap().to_minor(), Ok(i64::from(a) - i64::from(b)));
        } else {
            let mismatch = MoneyError::CurrencyMismatch { left: x, right: y };
            prop_assert_eq!(sum, Err(mismatch.clone()));
            prop_assert_eq!(diff, Err(mismatch));
            prop_assert!(ma.checked_cmp(&mb).is_err());
        }
    }

    #[test]
    fn prop_addition_is_exact(parts in prop::collection::vec(0_i64..10_000_000_000, 0..50)) {
        let total = Money::sum(Currency::Cny, parts.iter().map(|&p| Money::from_minor(p, Currency::Cny))).unwrap();
        prop_assert_eq!(total.to_minor(), Ok(parts.iter().sum::<i64>()));
    }
}
