//! Datetime and timespan text forms. Datetimes are nanoseconds since the Unix epoch (UTC).

use chrono::{DateTime, NaiveDate, NaiveDateTime, SecondsFormat, Utc};

pub const NANOS_PER_SECOND: i64 = 1_000_000_000;

/// Parses the forms analysts write inside `datetime(...)`: a date, or a date and time with
/// `T` or a space, optional fractional seconds, and an optional `Z` or UTC offset.
pub fn parse_datetime(text: &str) -> Option<i64> {
    let text = text.trim();
    if let Ok(parsed) = DateTime::parse_from_rfc3339(text) {
        return parsed.timestamp_nanos_opt();
    }
    let without_zone = text.strip_suffix('Z').unwrap_or(text);
    for format in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M",
    ] {
        if let Ok(parsed) = NaiveDateTime::parse_from_str(without_zone, format) {
            return parsed.and_utc().timestamp_nanos_opt();
        }
    }
    let date = NaiveDate::parse_from_str(without_zone, "%Y-%m-%d").ok()?;
    date.and_hms_opt(0, 0, 0)?.and_utc().timestamp_nanos_opt()
}

/// ISO 8601 in UTC with as many fractional digits as needed, as KQL prints datetimes.
pub fn format_datetime(nanos: i64) -> String {
    let seconds = nanos.div_euclid(NANOS_PER_SECOND);
    let subsec = nanos.rem_euclid(NANOS_PER_SECOND) as u32;
    match DateTime::<Utc>::from_timestamp(seconds, subsec) {
        Some(time) => time.to_rfc3339_opts(SecondsFormat::AutoSi, true),
        None => nanos.to_string(),
    }
}

/// KQL's timespan form: `[-][d.]hh:mm:ss[.fffffff]` (fractions in 100 ns ticks).
pub fn format_timespan(nanos: i64) -> String {
    let sign = if nanos < 0 { "-" } else { "" };
    let magnitude = nanos.unsigned_abs();
    let ticks = magnitude / 100;
    let total_seconds = magnitude / 1_000_000_000;
    let fraction = ticks % 10_000_000;
    let days = total_seconds / 86_400;
    let hours = total_seconds / 3_600 % 24;
    let minutes = total_seconds / 60 % 60;
    let seconds = total_seconds % 60;
    let mut text = String::from(sign);
    if days > 0 {
        text.push_str(&format!("{days}."));
    }
    text.push_str(&format!("{hours:02}:{minutes:02}:{seconds:02}"));
    if fraction > 0 {
        text.push_str(&format!(".{fraction:07}"));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_common_forms() {
        assert_eq!(parse_datetime("1970-01-01"), Some(0));
        assert_eq!(
            parse_datetime("1970-01-01T00:00:01Z"),
            Some(NANOS_PER_SECOND)
        );
        assert_eq!(
            parse_datetime("1970-01-01 00:01"),
            Some(60 * NANOS_PER_SECOND)
        );
        assert_eq!(
            parse_datetime("1970-01-01T00:00:00.5"),
            Some(NANOS_PER_SECOND / 2)
        );
        assert_eq!(parse_datetime("1970-01-01T01:00:00+01:00"), Some(0));
        assert_eq!(parse_datetime("yesterday"), None);
    }

    #[test]
    fn formats() {
        assert_eq!(format_datetime(0), "1970-01-01T00:00:00Z");
        assert_eq!(format_timespan(90 * 60 * NANOS_PER_SECOND), "01:30:00");
        assert_eq!(
            format_timespan(-(86_400 * NANOS_PER_SECOND + 100)),
            "-1.00:00:00.0000001"
        );
    }
}
