//! 1688 times: `yyyyMMddHHmmssSSS` followed by a UTC offset, e.g. `20170913231708000-0700`.

use std::fmt;

use order_domain::Timestamp;

/// A 1688 time as written on the wire, with its UTC offset kept.
///
/// The platform writes local times with their offset (`%Y%m%d%H%M%S%3f%z`). A value that does
/// not follow that format (the seed sample has `"2018-02-07 15: 27: 58"`) is not an error: its
/// raw text is kept and [`PlatformTime::utc_millis`] is `None`.
///
/// ```
/// use transport_1688_push::PlatformTime;
/// let t = PlatformTime::parse("20170913231708000-0700");
/// assert_eq!(t.offset_minutes(), Some(-420));
/// assert_eq!(t.utc_millis(), Some(1_505_369_828_000)); // 2017-09-14T06:17:08Z
/// assert_eq!(PlatformTime::parse("2018-02-07 15: 27: 58").utc_millis(), None);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PlatformTime {
    raw: String,
    parsed: Option<(i64, i16)>,
}

impl PlatformTime {
    /// Parses `raw`; never fails (an unparseable value keeps only its raw text).
    pub fn parse(raw: &str) -> PlatformTime {
        PlatformTime {
            raw: raw.to_owned(),
            parsed: parse_1688(raw),
        }
    }

    /// The text exactly as received.
    pub fn raw(&self) -> &str {
        &self.raw
    }

    /// Milliseconds since the Unix epoch (UTC), when the text parsed.
    pub fn utc_millis(&self) -> Option<i64> {
        self.parsed.map(|(ms, _)| ms)
    }

    /// The UTC offset the platform wrote, in minutes (`-0700` is `-420`), when the text parsed.
    pub fn offset_minutes(&self) -> Option<i16> {
        self.parsed.map(|(_, off)| off)
    }

    /// The instant as a domain [`Timestamp`], when the text parsed.
    pub fn timestamp(&self) -> Option<Timestamp> {
        self.utc_millis().map(Timestamp::from_millis)
    }

    /// True when the text followed the 1688 format.
    pub fn is_parsed(&self) -> bool {
        self.parsed.is_some()
    }
}

impl fmt::Display for PlatformTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.raw)
    }
}

/// A run of ASCII digits (no sign, no space) as a number.
fn digits(s: &[u8]) -> Option<i64> {
    if s.is_empty() || !s.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(s).ok()?.parse().ok()
}

/// `yyyyMMddHHmmssSSS` + `+HHMM`/`-HHMM`: exactly 22 ASCII bytes.
fn parse_1688(raw: &str) -> Option<(i64, i16)> {
    let b = raw.as_bytes();
    if b.len() != 22 {
        return None;
    }
    let year = digits(&b[0..4])?;
    let month = digits(&b[4..6])?;
    let day = digits(&b[6..8])?;
    let hour = digits(&b[8..10])?;
    let minute = digits(&b[10..12])?;
    let second = digits(&b[12..14])?;
    let milli = digits(&b[14..17])?;
    let sign = match b[17] {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let off_h = digits(&b[18..20])?;
    let off_m = digits(&b[20..22])?;
    if off_h > 23 || off_m > 59 {
        return None;
    }
    let offset = sign * (off_h * 60 + off_m);
    let local = jiff::civil::DateTime::new(
        i16::try_from(year).ok()?,
        i8::try_from(month).ok()?,
        i8::try_from(day).ok()?,
        i8::try_from(hour).ok()?,
        i8::try_from(minute).ok()?,
        i8::try_from(second).ok()?,
        i32::try_from(milli * 1_000_000).ok()?,
    )
    .ok()?;
    let utc = jiff::tz::Offset::from_seconds(i32::try_from(offset * 60).ok()?)
        .ok()?
        .to_timestamp(local)
        .ok()?;
    Some((utc.as_millisecond(), i16::try_from(offset).ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epoch_and_offsets() {
        assert_eq!(
            PlatformTime::parse("19700101000000000+0000").utc_millis(),
            Some(0)
        );
        assert_eq!(
            PlatformTime::parse("19700101080000000+0800").utc_millis(),
            Some(0)
        );
        // python3: datetime(2018,2,6,15,27,58,tzinfo=timezone(timedelta(hours=8))).timestamp()
        let t = PlatformTime::parse("20180206152758000+0800");
        assert_eq!(t.utc_millis(), Some(1_517_902_078_000));
        assert_eq!(t.offset_minutes(), Some(480));
        assert_eq!(
            PlatformTime::parse("20240229120000123+0000").utc_millis(),
            Some(1_709_208_000_123)
        );
    }

    #[test]
    fn bad_values_keep_raw() {
        for bad in [
            "2018-02-07 15: 27: 58",
            "",
            "20230229120000000+0000",
            "20230431120000000+0000",
            "20230101240000000+0000",
            "20230101126000000+0000",
            "20230101120060000+0000",
            "20230101120000000+2400",
            "20171313231708000-0700",
            "20170913231708000 0700",
            "2017091323170800-07000",
            "２0170913231708000-0700",
        ] {
            let t = PlatformTime::parse(bad);
            assert!(!t.is_parsed(), "{bad}");
            assert_eq!(t.raw(), bad);
        }
    }
}
