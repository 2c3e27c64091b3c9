//! Exact money: a decimal amount in a currency that knows its minor unit.
//!
//! There is no way to build a [`Money`] from a floating-point number. Amounts come from minor
//! units (`from_minor`) or from decimal text (`parse`), and leave as minor units (`to_minor`,
//! which refuses to round) or as canonical text (`Display`).

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// A currency the toolkit knows, with its minor-unit exponent (ISO 4217).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
#[non_exhaustive]
pub enum Currency {
    /// Chinese yuan renminbi: 2 decimals (fen).
    Cny,
    /// US dollar: 2 decimals (cents).
    Usd,
    /// Euro: 2 decimals.
    Eur,
    /// Hong Kong dollar: 2 decimals.
    Hkd,
    /// Pound sterling: 2 decimals.
    Gbp,
    /// Japanese yen: no minor unit.
    Jpy,
    /// South Korean won: no minor unit.
    Krw,
    /// Kuwaiti dinar: 3 decimals.
    Kwd,
}

impl Currency {
    /// Every supported currency, for generators and listings.
    pub const ALL: [Currency; 8] = [
        Currency::Cny,
        Currency::Usd,
        Currency::Eur,
        Currency::Hkd,
        Currency::Gbp,
        Currency::Jpy,
        Currency::Krw,
        Currency::Kwd,
    ];

    /// The ISO 4217 alphabetic code, e.g. `"CNY"`.
    pub const fn code(self) -> &'static str {
        match self {
            Currency::Cny => "CNY",
            Currency::Usd => "USD",
            Currency::Eur => "EUR",
            Currency::Hkd => "HKD",
            Currency::Gbp => "GBP",
            Currency::Jpy => "JPY",
            Currency::Krw => "KRW",
            Currency::Kwd => "KWD",
        }
    }

    /// How many decimal places the minor unit has (CNY 2, JPY 0, KWD 3).
    pub const fn exponent(self) -> u32 {
        match self {
            Currency::Jpy | Currency::Krw => 0,
            Currency::Kwd => 3,
            _ => 2,
        }
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl FromStr for Currency {
    type Err = MoneyError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Currency::ALL
            .into_iter()
            .find(|c| c.code().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| MoneyError::UnknownCurrency(s.to_owned()))
    }
}

impl TryFrom<String> for Currency {
    type Error = MoneyError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<Currency> for String {
    fn from(c: Currency) -> String {
        c.code().to_owned()
    }
}

/// Why an amount of money could not be built or computed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MoneyError {
    /// The currency code is not one the toolkit knows.
    #[error("unknown currency `{0}`")]
    UnknownCurrency(String),
    /// The text is not a plain decimal number such as `12.50`.
    #[error("`{0}` is not a decimal amount (expected digits with an optional `.` and decimals)")]
    NotADecimal(String),
    /// The amount has more decimals than the currency's minor unit.
    #[error("{amount} has more decimals than {currency} allows ({exponent})")]
    SubMinorPrecision {
        /// The offending amount, as text.
        amount: String,
        /// Its currency.
        currency: Currency,
        /// The currency's number of decimals.
        exponent: u32,
    },
    /// Two amounts in different currencies were combined.
    #[error("cannot combine {left} with {right}")]
    CurrencyMismatch {
        /// Currency of the left operand.
        left: Currency,
        /// Currency of the right operand.
        right: Currency,
    },
    /// The result does not fit the representation (decimal or 64-bit minor units).
    #[error("amount out of range")]
    Overflow,
    /// A negative amount where only zero or more makes sense.
    #[error("amount {0} is negative")]
    Negative(String),
}

/// An exact amount of money in one currency.
///
/// ```
/// use order_domain::{Currency, Money};
///
/// let price = Money::parse("12.50", Currency::Cny)?;
/// assert_eq!(price.to_minor()?, 1250);
/// let fen = Money::from_minor(5, Currency::Cny);
/// assert_eq!(price.checked_sub(fen)?.to_string(), "12.45");
/// // Sub-fen precision is refused, never rounded:
/// assert!(Money::parse("0.005", Currency::Cny)?.to_minor().is_err());
/// // Currencies never mix:
/// assert!(price.checked_add(Money::from_minor(1, Currency::Usd)).is_err());
/// # Ok::<(), order_domain::MoneyError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "MoneyRepr", into = "MoneyRepr")]
pub struct Money {
    amount: Decimal,
    currency: Currency,
}

impl Money {
    /// Zero in `currency`.
    pub fn zero(currency: Currency) -> Self {
        Money {
            amount: Decimal::ZERO,
            currency,
        }
    }

    /// From an integer count of minor units (fen, cents).
    pub fn from_minor(minor: i64, currency: Currency) -> Self {
        Money {
            amount: Decimal::new(minor, currency.exponent()),
            currency,
        }
    }

    /// From a decimal amount already parsed exactly (for example by [`Amount`]).
    pub fn from_decimal(amount: Decimal, currency: Currency) -> Self {
        Money {
            amount: amount.normalize(),
            currency,
        }
    }

    /// From decimal text such as `"12.50"`, `"-3"` or `"0.3"`. Scientific notation, spaces,
    /// thousands separators and floats in disguise are refused.
    pub fn parse(text: &str, currency: Currency) -> Result<Self, MoneyError> {
        Ok(Money {
            amount: parse_decimal(text)?,
            currency,
        })
    }

    /// The currency.
    pub fn currency(&self) -> Currency {
        self.currency
    }

    /// The exact decimal amount in major units.
    pub fn amount(&self) -> Decimal {
        self.amount
    }

    /// The amount in minor units, exactly; fails on sub-minor precision instead of rounding.
    pub fn to_minor(&self) -> Result<i64, MoneyError> {
        let exponent = self.currency.exponent();
        let scaled = self
            .amount
            .checked_mul(Decimal::from(10_i64.pow(exponent)))
            .ok_or(MoneyError::Overflow)?;
        if !scaled.fract().is_zero() {
            return Err(MoneyError::SubMinorPrecision {
                amount: self.to_string(),
                currency: self.currency,
                exponent,
            });
        }
        i64::try_from(scaled.trunc()).map_err(|_| MoneyError::Overflow)
    }

    /// `self + other`, refusing mixed currencies and overflow.
    pub fn checked_add(self, other: Money) -> Result<Money, MoneyError> {
        self.same_currency(other)?;
        let amount = self
            .amount
            .checked_add(other.amount)
            .ok_or(MoneyError::Overflow)?;
        Ok(Money {
            amount,
            currency: self.currency,
        })
    }

    /// `self - other`, refusing mixed currencies and overflow.
    pub fn checked_sub(self, other: Money) -> Result<Money, MoneyError> {
        self.same_currency(other)?;
        let amount = self
            .amount
            .checked_sub(other.amount)
            .ok_or(MoneyError::Overflow)?;
        Ok(Money {
            amount,
            currency: self.currency,
        })
    }

    /// `self × factor` (a quantity), refusing overflow.
    pub fn checked_mul(self, factor: Decimal) -> Result<Money, MoneyError> {
        let amount = self
            .amount
            .checked_mul(factor)
            .ok_or(MoneyError::Overflow)?;
        Ok(Money {
            amount,
            currency: self.currency,
        })
    }

    /// Compares two amounts of the same currency.
    pub fn checked_cmp(&self, other: &Money) -> Result<Ordering, MoneyError> {
        self.same_currency(*other)?;
        Ok(self.amount.cmp(&other.amount))
    }

    /// Sums amounts that must all be in `currency`.
    pub fn sum<I: IntoIterator<Item = Money>>(
        currency: Currency,
        items: I,
    ) -> Result<Money, MoneyError> {
        // `try_fold(Money::zero(currency), Money::checked_add)`, without a `Result` per step.
        let mut total = Decimal::ZERO;
        for m in items {
            if m.currency != currency {
                return Err(MoneyError::CurrencyMismatch {
                    left: currency,
                    right: m.currency,
                });
            }
            total = total.checked_add(m.amount).ok_or(MoneyError::Overflow)?;
        }
        Ok(Money {
            amount: total,
            currency,
        })
    }

    /// True when the amount is exactly zero.
    pub fn is_zero(&self) -> bool {
        self.amount.is_zero()
    }

    /// True when the amount is below zero.
    pub fn is_negative(&self) -> bool {
        self.amount.is_sign_negative() && !self.amount.is_zero()
    }

    fn same_currency(&self, other: Money) -> Result<(), MoneyError> {
        if self.currency == other.currency {
            Ok(())
        } else {
            Err(MoneyError::CurrencyMismatch {
                left: self.currency,
                right: other.currency,
            })
        }
    }
}

impl fmt::Display for Money {
    /// Canonical text in major units with exactly the currency's decimals when representable
    /// (`12.50`), or all significant decimals when the amount is finer than the minor unit:
    /// `Decimal`'s own text after rescaling to at least the currency's decimals (a value too
    /// large for that many decimals keeps as many as fit).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut shown = self.amount;
        let decimals = self.currency.exponent();
        if shown.scale() < decimals {
            shown.rescale(decimals);
        }
        write!(f, "{shown}")
    }
}

/// The serde form of [`Money`]: `{"amount": "12.50", "currency": "CNY"}`.
#[derive(Serialize, Deserialize)]
struct MoneyRepr {
    amount: String,
    currency: Currency,
}

impl From<Money> for MoneyRepr {
    fn from(m: Money) -> Self {
        MoneyRepr {
            amount: m.to_string(),
            currency: m.currency,
        }
    }
}

impl TryFrom<MoneyRepr> for Money {
    type Error = MoneyError;
    fn try_from(r: MoneyRepr) -> Result<Self, MoneyError> {
        Money::parse(&r.amount, r.currency)
    }
}

/// A non-negative exact decimal amount without a currency, as written in an amendment.
///
/// Amendments name amounts in the order's currency; planning turns an `Amount` into [`Money`]
/// and reports sub-minor precision as a violation naming the field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(into = "String")]
pub struct Amount(Decimal);

impl Amount {
    /// Zero.
    pub const ZERO: Amount = Amount(Decimal::ZERO);

    /// Parses non-negative decimal text such as `"12.50"`.
    pub fn parse(text: &str) -> Result<Self, MoneyError> {
        let d = parse_decimal(text)?;
        Amount::new(d)
    }

    /// From an exact decimal; refuses negative values.
    pub fn new(d: Decimal) -> Result<Self, MoneyError> {
        if d.is_sign_negative() && !d.is_zero() {
            return Err(MoneyError::Negative(d.to_string()));
        }
        Ok(Amount(d.normalize()))
    }

    /// The value.
    pub fn value(&self) -> Decimal {
        self.0
    }

    /// The same amount as money in `currency`.
    pub fn in_currency(self, currency: Currency) -> Money {
        // Every constructor normalizes, so this is `Money::from_decimal` without normalizing
        // again.
        debug_assert_eq!(self.0.normalize().scale(), self.0.scale());
        Money {
            amount: self.0,
            currency,
        }
    }
}

impl fmt::Display for Amount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl From<Amount> for String {
    fn from(a: Amount) -> String {
        a.to_string()
    }
}

/// Reads a decimal written as text (`"12.50"`, preferred) or as a number whose literal is read
/// exactly: integers directly, decimals through serde_json's `arbitrary_precision` form (which
/// the workspace enables). A number that reaches us as `f64` is refused, never rounded.
pub(crate) struct ExactDecimalVisitor;

/// The private key serde_json uses for a number kept as text under `arbitrary_precision`.
const SERDE_JSON_NUMBER_KEY: &str = "$serde_json::private::Number";

impl<'de> serde::de::Visitor<'de> for ExactDecimalVisitor {
    type Value = Decimal;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a decimal amount as a string such as \"12.50\" or an exact JSON number")
    }

    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Decimal, E> {
        parse_decimal(v).map_err(E::custom)
    }

    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Decimal, E> {
        Ok(Decimal::from(v))
    }

    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Decimal, E> {
        Ok(Decimal::from(v))
    }

    fn visit_f64<E: serde::de::Error>(self, _: f64) -> Result<Decimal, E> {
        Err(E::custom(
            "amounts must be written as decimal strings such as \"12.50\"",
        ))
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Decimal, A::Error> {
        match map.next_key::<String>()? {
            Some(k) if k == SERDE_JSON_NUMBER_KEY => {
                let text: String = map.next_value()?;
                parse_decimal(&text).map_err(serde::de::Error::custom)
            }
            _ => Err(serde::de::Error::custom(
                "expected a decimal amount, found an object",
            )),
        }
    }
}

/// Deserializes a [`Decimal`] exactly with [`ExactDecimalVisitor`].
pub(crate) fn deserialize_exact_decimal<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Decimal, D::Error> {
    d.deserialize_any(ExactDecimalVisitor)
}

impl<'de> Deserialize<'de> for Amount {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Amount::new(deserialize_exact_decimal(d)?).map_err(serde::de::Error::custom)
    }
}

/// Parses plain decimal text exactly: optional sign, digits, optional `.` and digits.
pub(crate) fn parse_decimal(text: &str) -> Result<Decimal, MoneyError> {
    let bad = || MoneyError::NotADecimal(text.to_owned());
    let body = text
        .strip_prefix('-')
        .or_else(|| text.strip_prefix('+'))
        .unwrap_or(text);
    let (int, frac) = body.split_once('.').unwrap_or((body, ""));
    let digits_ok = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if int.is_empty()
        || !digits_ok(int)
        || !digits_ok(frac)
        || (body.contains('.') && frac.is_empty())
    {
        return Err(bad());
    }
    Decimal::from_str_exact(text.strip_prefix('+').unwrap_or(text)).map_err(|_| {
        if int.len() + frac.len() > 28 {
            MoneyError::Overflow
        } else {
            bad()
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_round_trips_with_currency_decimals() {
        let m = Money::parse("12.5", Currency::Cny).unwrap();
        assert_eq!(m.to_string(), "12.50");
        assert_eq!(m.to_minor().unwrap(), 1250);
        assert_eq!(Money::from_minor(1250, Currency::Cny), m);
        assert_eq!(
            Money::parse("300", Currency::Jpy)
                .unwrap()
                .to_minor()
                .unwrap(),
            300
        );
        assert_eq!(Money::from_minor(1, Currency::Kwd).to_string(), "0.001");
    }

    #[test]
    fn refuses_bad_text() {
        for bad in [
            "", "1e3", "1,000", " 1", "1.", ".5", "--1", "NaN", "0x10", "1.2.3",
        ] {
            assert!(
                Money::parse(bad, Currency::Cny).is_err(),
                "{bad:?} must be refused"
            );
        }
    }

    #[test]
    fn sub_minor_precision_is_an_error_not_a_rounding() {
        let m = Money::parse("0.305", Currency::Cny).unwrap();
        assert!(matches!(
            m.to_minor(),
            Err(MoneyError::SubMinorPrecision { .. })
        ));
        assert!(
            Money::parse("1.5", Currency::Jpy)
                .unwrap()
                .to_minor()
                .is_err()
        );
    }

    #[test]
    fn mixed_currencies_are_refused() {
        let a = Money::from_minor(1, Currency::Cny);
        let b = Money::from_minor(1, Currency::Usd);
        assert_eq!(
            a.checked_add(b),
            Err(MoneyError::CurrencyMismatch {
                left: Currency::Cny,
                right: Currency::Usd
            })
        );
        assert!(a.checked_cmp(&b).is_err());
    }

    #[test]
    fn amounts_read_json_numbers_exactly() {
        let a: Amount = serde_json::from_str("0.3").unwrap();
        assert_eq!(a.to_string(), "0.3");
        let b: Amount = serde_json::from_str("\"12.50\"").unwrap();
        assert_eq!(b.in_currency(Currency::Cny).to_minor().unwrap(), 1250);
        assert!(serde_json::from_str::<Amount>("\"-1\"").is_err());
    }

    #[test]
    fn display_pads_to_the_currency_decimals_and_keeps_finer_ones() {
        let cases = [
            (Decimal::ZERO, Currency::Cny, "0.00"),
            (Decimal::new(5, 0), Currency::Cny, "5.00"),
            (Decimal::new(125, 1), Currency::Cny, "12.50"),
            (Decimal::new(-1250, 2), Currency::Usd, "-12.50"),
            (Decimal::new(305, 3), Currency::Cny, "0.305"),
            (Decimal::new(300, 0), Currency::Jpy, "300"),
            (Decimal::new(15, 1), Currency::Jpy, "1.5"),
            (Decimal::new(1, 3), Currency::Kwd, "0.001"),
            (
                Decimal::new(1, 28),
                Currency::Cny,
                "0.0000000000000000000000000001",
            ),
            (Decimal::MAX, Currency::Cny, "79228162514264337593543950335"),
            (
                Decimal::MIN,
                Currency::Jpy,
                "-79228162514264337593543950335",
            ),
        ];
        for (amount, currency, text) in cases {
            let m = Money { amount, currency };
            assert_eq!(m.to_string(), text, "{amount:?} {currency}");
            assert_eq!(
                Money::parse(text, currency).unwrap(),
                m,
                "{text} reads back"
            );
        }
    }

    #[test]
    fn to_minor_is_exact_and_checked() {
        let cases: [(Decimal, Currency, Result<i64, ()>); 9] = [
            (Decimal::new(1250, 2), Currency::Cny, Ok(1250)),
            (Decimal::new(125, 1), Currency::Cny, Ok(1250)),
            (Decimal::new(-5, 0), Currency::Cny, Ok(-500)),
            (Decimal::new(300, 0), Currency::Jpy, Ok(300)),
            (Decimal::new(1, 3), Currency::Kwd, Ok(1)),
            (Decimal::new(i64::MAX, 2), Currency::Cny, Ok(i64::MAX)),
            (Decimal::new(i64::MIN, 2), Currency::Usd, Ok(i64::MIN)),
            (Decimal::new(i64::MAX, 0), Currency::Cny, Err(())),
            (Decimal::MAX, Currency::Jpy, Err(())),
        ];
        for (amount, currency, minor) in cases {
            let m = Money { amount, currency };
            assert_eq!(m.to_minor().map_err(|_| ()), minor, "{amount:?} {currency}");
        }
        let fine = Money {
            amount: Decimal::new(1, 28),
            currency: Currency::Cny,
        };
        assert!(matches!(
            fine.to_minor(),
            Err(MoneyError::SubMinorPrecision { exponent: 2, .. })
        ));
    }

    #[test]
    fn overflow_is_reported() {
        let big = Money::parse("99999999999999999999", Currency::Cny).unwrap();
        assert_eq!(big.to_minor(), Err(MoneyError::Overflow));
    }
}
