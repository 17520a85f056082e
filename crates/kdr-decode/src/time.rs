//! Timestamp parsing for the hot path.
//!
//! Every audit event carries RFC 3339 timestamps in one fixed shape
//! (`2024-05-01T12:00:00.123456Z`). Parsing that shape by hand is several times cheaper than a
//! general parser; anything else (offsets with seconds, lowercase `t`, leap seconds, years
//! outside the nanosecond range) falls back to the model's own parser, so the accepted
//! language and the results are exactly the model's.

use kdr_model::{Timestamp, NANOS_PER_SEC};

use crate::DecodeError;

/// Parses an RFC 3339 timestamp found in `field`, naming the field when it is invalid.
pub(crate) fn parse_field(text: &str, field: &str) -> Result<Timestamp, DecodeError> {
    if let Some(ts) = fast(text.as_bytes()) {
        return Ok(ts);
    }
    Timestamp::parse_rfc3339(text).map_err(|error| DecodeError::at(field, error.to_string()))
}

fn digits(bytes: &[u8], start: usize, len: usize) -> Option<i64> {
    let mut value = 0i64;
    for &byte in bytes.get(start..start + len)? {
        if !byte.is_ascii_digit() {
            return None;
        }
        value = value * 10 + i64::from(byte - b'0');
    }
    Some(value)
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        _ => 28,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (the usual era-based computation).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month_index = (month + 9) % 12; // March = 0
    let day_of_year = (153 * month_index + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// `YYYY-MM-DDTHH:MM:SS[.f{1,9}](Z|±HH:MM)`, years 1700..=2200 (well inside the i64
/// nanosecond range), or `None` to let the general parser decide.
pub(crate) fn fast(bytes: &[u8]) -> Option<Timestamp> {
    if bytes.len() < 20
        || bytes[4] != b'-'
        || bytes[7] != b'-'
        || bytes[10] != b'T'
        || bytes[13] != b':'
        || bytes[16] != b':'
    {
        return None;
    }
    let year = digits(bytes, 0, 4)?;
    let month = digits(bytes, 5, 2)?;
    let day = digits(bytes, 8, 2)?;
    let hour = digits(bytes, 11, 2)?;
    let minute = digits(bytes, 14, 2)?;
    let second = digits(bytes, 17, 2)?;
    if !(1700..=2200).contains(&year)
        || !(1..=12).contains(&month)
        || day < 1
        || day > days_in_month(year, month)
        || hour > 23
        || minute > 59
        || second > 59
    {
        return None;
    }
    let mut pos = 19;
    let mut nanos = 0i64;
    if bytes.get(pos) == Some(&b'.') {
        pos += 1;
        let start = pos;
        while pos < bytes.len() && bytes[pos].is_ascii_digit() {
            pos += 1;
        }
        let count = pos - start;
        if count == 0 || count > 9 {
            return None;
        }
        nanos = digits(bytes, start, count)? * 10i64.pow(9 - count as u32);
    }
    let offset_secs = match bytes.get(pos..)? {
        b"Z" => 0,
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
            let hours = digits(&[*h1, *h2], 0, 2)?;
            let minutes = digits(&[*m1, *m2], 0, 2)?;
            if hours > 23 || minutes > 59 {
                return None;
            }
            let secs = hours * 3600 + minutes * 60;
            if *sign == b'-' {
                -secs
            } else {
                secs
            }
        }
        _ => return None,
    };
    let secs = days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second
        - offset_secs;
    Some(Timestamp(secs * NANOS_PER_SEC + nanos))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn fast_matches_examples() {
        let ts = fast(b"2024-05-01T12:00:00.123456Z").unwrap();
        assert_eq!(ts.to_string(), "2024-05-01T12:00:00.123456Z");
        assert_eq!(fast(b"1970-01-01T00:00:00Z"), Some(Timestamp(0)));
        assert_eq!(
            fast(b"2024-05-01T14:00:00+02:00").unwrap().to_string(),
            "2024-05-01T12:00:00Z"
        );
        assert_eq!(fast(b"2024-02-30T00:00:00Z"), None);
        assert_eq!(fast(b"2024-05-01T12:00:00.Z"), None);
        assert_eq!(fast(b"2024-05-01T12:00:00.1234567890Z"), None);
    }

    #[test]
    fn invalid_names_the_field() {
        let error = parse_field("yesterday", "stageTimestamp").unwrap_err();
        assert_eq!(error.field.as_deref(), Some("stageTimestamp"));
        assert!(error.message.contains("invalid timestamp"), "{error}");
    }

    proptest! {
        /// The fast path must agree with the model's parser wherever it answers at all.
        #[test]
        fn fast_agrees_with_model(
            year in 1690i64..2210, month in 0i64..14, day in 0i64..33, hour in 0i64..25,
            minute in 0i64..61, second in 0i64..61, frac in proptest::option::of("[0-9]{0,10}"),
            zone in prop_oneof![Just("Z".to_owned()), "[+-][0-2][0-9]:[0-6][0-9]"],
        ) {
            let mut text = format!("{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}");
            if let Some(frac) = frac {
                text.push('.');
                text.push_str(&frac);
            }
            text.push_str(&zone);
            let slow = Timestamp::parse_rfc3339(&text).ok();
            if let Some(quick) = fast(text.as_bytes()) {
                prop_assert_eq!(Some(quick), slow, "{}", text);
            }
            prop_assert_eq!(parse_field(&text, "t").ok(), slow);
        }
    }
}
