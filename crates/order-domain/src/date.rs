//! Calendar dates (`yyyy-MM-dd`) without a time zone, checked to be real days.
//!
//! This is the domain's one civil date, and it stays hand-written rather than wrapping
//! `jiff::civil::Date`: the adapters use `jiff` with its default features (the system
//! time-zone database is read from the file system), a member cannot switch off features the
//! workspace entry turns on, and features unify across the build, so order-domain would carry
//! jiff's IO code (architecture invariant 1). The domain needs only a checked
//! `yyyy-MM-dd` day; timestamps and time zones belong to the adapters, which may use jiff.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A real calendar day, written `yyyy-MM-dd` (e.g. EM's `deliverydate`).
///
/// ```
/// use order_domain::CalendarDate;
/// assert!("2024-02-29".parse::<CalendarDate>().is_ok());
/// assert!("2023-02-29".parse::<CalendarDate>().is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct CalendarDate {
    year: u16,
    month: u8,
    day: u8,
}

/// Why a text is not a real `yyyy-MM-dd` date.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a real date in the form yyyy-MM-dd")]
pub struct DateError(pub String);

impl CalendarDate {
    /// Checks and builds a date.
    pub fn new(year: u16, month: u8, day: u8) -> Result<Self, DateError> {
        let bad = || DateError(format!("{year:04}-{month:02}-{day:02}"));
        if !(1..=9999).contains(&year) || !(1..=12).contains(&month) || day == 0 {
            return Err(bad());
        }
        if day > days_in_month(year, month) {
            return Err(bad());
        }
        Ok(CalendarDate { year, month, day })
    }

    /// Year.
    pub fn year(&self) -> u16 {
        self.year
    }
    /// Month, 1 to 12.
    pub fn month(&self) -> u8 {
        self.month
    }
    /// Day of the month.
    pub fn day(&self) -> u8 {
        self.day
    }
}

fn days_in_month(year: u16, month: u8) -> u8 {
    match month {
        2 if (year.is_multiple_of(4) && !year.is_multiple_of(100)) || year.is_multiple_of(400) => {
            29
        }
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

impl FromStr for CalendarDate {
    type Err = DateError;
    fn from_str(s: &str) -> Result<Self, DateError> {
        let bad = || DateError(s.to_owned());
        let b = s.as_bytes();
        if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
            return Err(bad());
        }
        let num = |r: std::ops::Range<usize>| -> Result<u16, DateError> {
            let part = &s[r];
            if part.bytes().all(|c| c.is_ascii_digit()) {
                part.parse().map_err(|_| bad())
            } else {
                Err(bad())
            }
        };
        let (y, m, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
        CalendarDate::new(
            y,
            u8::try_from(m).map_err(|_| bad())?,
            u8::try_from(d).map_err(|_| bad())?,
        )
        .map_err(|_| bad())
    }
}

impl fmt::Display for CalendarDate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

impl TryFrom<String> for CalendarDate {
    type Error = DateError;
    fn try_from(s: String) -> Result<Self, DateError> {
        s.parse()
    }
}

impl From<CalendarDate> for String {
    fn from(d: CalendarDate) -> String {
        d.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn real_dates_only() {
        for ok in ["2024-09-28", "2000-02-29", "1999-12-31"] {
            assert_eq!(ok.parse::<CalendarDate>().unwrap().to_string(), ok);
        }
        for bad in [
            "2024-9-28",
            "2024-13-01",
            "1900-02-29",
            "2024-04-31",
            "2024/09/28",
            "abcd-ef-gh",
            "2024-00-10",
        ] {
            assert!(bad.parse::<CalendarDate>().is_err(), "{bad}");
        }
    }
}
