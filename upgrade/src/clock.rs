//! Time as the upgrade records and prints it: seconds since the Unix epoch
//! (journal records, watcher pause ends, backup names), RFC 3339 in UTC for
//! `--status` and the JSON events, and Ganeti's own log-line format for
//! commands.log.

use std::time::{SystemTime, UNIX_EPOCH};

/// Now, in whole seconds since the Unix epoch (UTC); 0 if the clock is set
/// before 1970.
pub fn epoch_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// `2026-11-30 05:14:46,123`: the time format of Ganeti's own log lines
/// (Python logging's `asctime`), in UTC.
pub fn format_log_time(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let (date, time) = civil(d.as_secs());
    format!("{date} {time},{:03}", d.subsec_millis())
}

/// RFC 3339 in UTC, `2026-11-30T05:14:46Z`, of `epoch` seconds.
pub fn format_date(epoch: u64) -> String {
    let (date, time) = civil(epoch);
    format!("{date}T{time}Z")
}

/// (`YYYY-MM-DD`, `HH:MM:SS`) of a Unix time, UTC (the days-to-civil
/// algorithm of H. Hinnant's date library).
fn civil(epoch: u64) -> (String, String) {
    let days = (epoch / 86_400) as i64;
    let secs = epoch % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (
        format!("{year:04}-{month:02}-{day:02}"),
        format!(
            "{:02}:{:02}:{:02}",
            secs / 3600,
            (secs % 3600) / 60,
            secs % 60
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_civil_utc() {
        assert_eq!(format_date(0), "1970-01-01T00:00:00Z");
        assert_eq!(format_date(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(format_date(1_796_015_686), "2026-11-30T05:14:46Z");
    }
}
