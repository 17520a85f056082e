use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// An instant as nanoseconds since the Unix epoch (UTC).
///
/// All of kdr's time logic (windows, baselines, throttles) runs on this event time, never on
/// the wall clock, so a replay gives the same alerts as live. Serialized as RFC 3339.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(pub i64);

/// A span of event time in nanoseconds.
pub type Nanos = i64;

pub const NANOS_PER_SEC: i64 = 1_000_000_000;

#[derive(Debug, thiserror::Error)]
#[error("invalid timestamp {value:?}: expected RFC 3339 (e.g. 2024-05-01T12:00:00.123456Z)")]
pub struct TimestampError {
    pub value: String,
}

impl Timestamp {
    pub const fn from_secs(secs: i64) -> Self {
        Timestamp(secs * NANOS_PER_SEC)
    }

    pub fn parse_rfc3339(text: &str) -> Result<Self, TimestampError> {
        let parsed = chrono::DateTime::parse_from_rfc3339(text).map_err(|_| TimestampError {
            value: text.chars().take(64).collect(),
        })?;
        parsed
            .timestamp_nanos_opt()
            .map(Timestamp)
            .ok_or_else(|| TimestampError {
                value: text.chars().take(64).collect(),
            })
    }

    pub fn secs(self) -> i64 {
        self.0.div_euclid(NANOS_PER_SEC)
    }

    pub fn saturating_add(self, span: Nanos) -> Self {
        Timestamp(self.0.saturating_add(span))
    }
}

/// Writes `value` as `digits` decimal digits, zero-padded, at `out[at..]`.
fn put_digits(out: &mut [u8], at: usize, digits: usize, mut value: u32) {
    for i in (at..at + digits).rev() {
        out[i] = b'0' + (value % 10) as u8;
        value /= 10;
    }
}

/// A timestamp's RFC 3339 text, on the stack (see [`Timestamp::rfc3339`]).
#[derive(Clone, Copy, Debug)]
pub struct Rfc3339 {
    text: [u8; 30],
    len: usize,
}

impl Rfc3339 {
    /// ASCII digits and separators only, so JSON needs no escaping of it.
    pub fn as_bytes(&self) -> &[u8] {
        &self.text[..self.len]
    }
}

impl Timestamp {
    /// RFC 3339 in UTC, fractional seconds in 0, 3, 6 or 9 digits as needed (chrono's
    /// `AutoSi`). Written by hand, calendar included: every event carries one or two, and
    /// chrono's date arithmetic and the formatting machinery cost more than the rest of their
    /// JSON. Nanoseconds in an i64 span the years 1677-2262, so the year always has four
    /// digits.
    pub fn rfc3339(self) -> Rfc3339 {
        let secs = self.0.div_euclid(NANOS_PER_SEC);
        let nanos = self.0.rem_euclid(NANOS_PER_SEC) as u32;
        let (year, month, day) = civil_date(secs.div_euclid(86_400));
        let second_of_day = secs.rem_euclid(86_400) as u32;
        let mut text = *b"0000-00-00T00:00:00.000000000Z";
        put_digits(&mut text, 0, 4, year.unsigned_abs() as u32);
        put_digits(&mut text, 5, 2, month);
        put_digits(&mut text, 8, 2, day);
        put_digits(&mut text, 11, 2, second_of_day / 3600);
        put_digits(&mut text, 14, 2, second_of_day / 60 % 60);
        put_digits(&mut text, 17, 2, second_of_day % 60);
        put_digits(&mut text, 20, 9, nanos);
        // Where the 'Z' goes: no fraction, or 3, 6 or 9 digits after the dot.
        let len = match nanos {
            0 => 19,
            n if n % 1_000_000 == 0 => 23,
            n if n % 1_000 == 0 => 26,
            _ => 29,
        };
        text[len] = b'Z';
        Rfc3339 { text, len: len + 1 }
    }
}

/// (year, month, day) of the proleptic Gregorian calendar, `days` after 1970-01-01. Counted
/// in 400-year eras (146,097 days each) of years that start on March 1st, so that the leap
/// day ends a year: the day of such a year gives the month with one linear formula.
fn civil_date(days: i64) -> (i64, u32, u32) {
    // Days since 0000-03-01.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    // Months from March: 0..=11.
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * month_from_march + 2) / 5 + 1) as u32;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Only ASCII digits and separators were written.
        f.write_str(std::str::from_utf8(self.rfc3339().as_bytes()).map_err(|_| fmt::Error)?)
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Timestamp::parse_rfc3339(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_round_trip_keeps_nanoseconds() {
        let ts = Timestamp::parse_rfc3339("2024-05-01T12:00:00.123456789Z").unwrap();
        assert_eq!(ts.to_string(), "2024-05-01T12:00:00.123456789Z");
        let offset = Timestamp::parse_rfc3339("2024-05-01T14:00:00+02:00").unwrap();
        assert_eq!(offset.to_string(), "2024-05-01T12:00:00Z");
    }

    #[test]
    fn display_matches_chrono_rfc3339() {
        let chrono_text = |ns: i64| {
            chrono::DateTime::from_timestamp_nanos(ns)
                .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
        };
        let base = 1_714_560_000 * NANOS_PER_SEC;
        for ns in [
            0,
            -1,
            -NANOS_PER_SEC,
            base,
            base + 1,
            base + 120_000_000,
            base + 123_456_000,
            base + 123_456_789,
            base + 999_999_999,
            i64::MAX,
            i64::MIN,
        ] {
            assert_eq!(Timestamp(ns).to_string(), chrono_text(ns), "{ns}");
        }
        // Leap-day and month boundaries.
        for day in 0..2000 {
            let ns = base + day * 86_399 * NANOS_PER_SEC + day * 7_000;
            assert_eq!(Timestamp(ns).to_string(), chrono_text(ns));
        }
        // Every month and leap rule (1700, 1900 and 2100 are not leap years, 2000 is) across
        // all the years nanoseconds reach, and the last and first second of each day stepped on.
        let step = 7 * 86_400 * NANOS_PER_SEC / 2 + 1_000_001;
        let mut ns = i64::MIN;
        while let Some(next) = ns.checked_add(step) {
            let midnight = ns.checked_sub(ns.rem_euclid(86_400 * NANOS_PER_SEC));
            for at in [Some(ns), midnight, midnight.and_then(|m| m.checked_sub(1))] {
                let Some(at) = at else { continue };
                assert_eq!(Timestamp(at).to_string(), chrono_text(at), "{at}");
            }
            ns = next;
        }
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(Timestamp::parse_rfc3339("yesterday").is_err());
        assert!(Timestamp::parse_rfc3339("").is_err());
    }
}
