//! Times as docker shows them: RFC 3339 with nanoseconds in UTC
//! (`2026-12-01T14:05:06.123456789Z`) and "3 seconds" / "About a minute".

use std::time::Duration;

/// RFC 3339 with up to nine fractional digits, trailing zeros dropped (Go's
/// RFC3339Nano, what docker writes in its json-file logs and `inspect`).
pub fn rfc3339_nano(nanos: u64) -> String {
    if nanos == 0 {
        return "0001-01-01T00:00:00Z".to_string(); // Go's zero time: "never"
    }
    let secs = nanos / 1_000_000_000;
    let fraction = nanos % 1_000_000_000;
    let (year, month, day) = civil_from_days((secs / 86_400) as i64);
    let of_day = secs % 86_400;
    let mut text = format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}",
        of_day / 3600,
        of_day / 60 % 60,
        of_day % 60
    );
    if fraction > 0 {
        let digits = format!("{fraction:09}");
        text.push('.');
        text.push_str(digits.trim_end_matches('0'));
    }
    text.push('Z');
    text
}

/// Days since 1970-01-01 to (year, month, day): Howard Hinnant's algorithm,
/// exact for the proleptic Gregorian calendar without a table.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// docker's `units.HumanDuration`: "Less than a second", "3 seconds",
/// "About a minute", "5 minutes", "About an hour", "3 hours", "2 days"...
pub fn human(elapsed: Duration) -> String {
    let secs = elapsed.as_secs();
    let (minutes, hours) = (secs / 60, secs / 3600);
    match secs {
        0 => "Less than a second".into(),
        1 => "1 second".into(),
        2..60 => format!("{secs} seconds"),
        60..120 => "About a minute".into(),
        120..3600 => format!("{minutes} minutes"),
        3600..7200 => "About an hour".into(),
        _ if hours < 48 => format!("{hours} hours"),
        _ if hours < 24 * 7 * 2 => format!("{} days", hours / 24),
        _ if hours < 24 * 30 * 2 => format!("{} weeks", hours / 24 / 7),
        _ if hours < 24 * 365 * 2 => format!("{} months", hours / 24 / 30),
        _ => format!("{} years", hours / 24 / 365),
    }
}

/// How long ago `nanos` was, in docker's words.
pub fn since(nanos: u64) -> String {
    let elapsed = super::state::now().saturating_sub(nanos);
    human(Duration::from_nanos(elapsed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_matches_known_instants() {
        assert_eq!(rfc3339_nano(1), "1970-01-01T00:00:00.000000001Z");
        // 2000-02-29 12:34:56.5 UTC: a leap day in a century leap year.
        assert_eq!(
            rfc3339_nano(951_827_696_500_000_000),
            "2000-02-29T12:34:56.5Z"
        );
        assert_eq!(
            rfc3339_nano(1_780_000_000_000_000_000),
            "2026-05-28T20:26:40Z"
        );
    }

    #[test]
    fn durations_read_like_dockers() {
        let s = Duration::from_secs;
        assert_eq!(human(s(0)), "Less than a second");
        assert_eq!(human(s(3)), "3 seconds");
        assert_eq!(human(s(90)), "About a minute");
        assert_eq!(human(s(150)), "2 minutes");
        assert_eq!(human(s(3 * 3600)), "3 hours");
        assert_eq!(human(s(3 * 86_400)), "3 days");
    }
}
