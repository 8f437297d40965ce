//! Time as the upgrade records and prints it: seconds since the Unix epoch
//! (journal records, watcher pause ends, backup names), RFC 3339 in UTC for
//! `--status` and the JSON events, and Ganeti's own log-line format for
//! commands.log, in local time as Ganeti writes its own lines there
//! (Python logging's `asctime`: `time.localtime`, `TZ` or `/etc/localtime`).

use std::time::{SystemTime, UNIX_EPOCH};

/// Now, in whole seconds since the Unix epoch (UTC); 0 if the clock is set
/// before 1970.
pub fn epoch_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// `2026-11-30 06:14:46,123`: the time format of Ganeti's own log lines
/// (Python logging's `asctime`), in local time as theirs, so that our lines
/// and Ganeti's sort together in commands.log. Where the local zone cannot
/// be read (a `TZ` rule string, no zone file), UTC, said: `... UTC`.
pub fn format_log_time(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs();
    match local_offset(secs as i64) {
        Some(offset) => {
            let (date, time) = civil(secs.saturating_add_signed(i64::from(offset)));
            format!("{date} {time},{:03}", d.subsec_millis())
        }
        None => {
            let (date, time) = civil(secs);
            format!("{date} {time},{:03} UTC", d.subsec_millis())
        }
    }
}

/// The local zone's offset from UTC, in seconds, at `epoch`: from the zone
/// file `TZ` names (`Europe/Berlin`, `:Europe/Berlin`, an absolute path;
/// `UTC` and an empty `TZ` are UTC), else `/etc/localtime`, as the C
/// library finds it. `None` when that cannot be read (a POSIX rule string
/// in `TZ`, no zone file).
pub fn local_offset(epoch: i64) -> Option<i32> {
    let file = match std::env::var("TZ") {
        Ok(tz) => {
            let tz = tz.strip_prefix(':').unwrap_or(&tz).to_string();
            match tz.as_str() {
                "" | "UTC" | "UTC0" | "GMT" | "GMT0" | "Etc/UTC" => return Some(0),
                abs if abs.starts_with('/') => std::path::PathBuf::from(abs),
                name if !name.contains("..") => {
                    std::path::Path::new("/usr/share/zoneinfo").join(name)
                }
                _ => return None,
            }
        }
        Err(_) => std::path::PathBuf::from("/etc/localtime"),
    };
    tzif_offset(&fs_err::read(file).ok()?, epoch)
}

/// The offset a TZif zone file (version 2 or later, RFC 8536) gives at
/// `epoch`: that of the last transition at or before it (the first local
/// time type before the first transition).
pub fn tzif_offset(data: &[u8], epoch: i64) -> Option<i32> {
    let be32 = |at: usize| -> Option<u32> {
        Some(u32::from_be_bytes(data.get(at..at + 4)?.try_into().ok()?))
    };
    let counts = |at: usize| -> Option<[usize; 6]> {
        if data.get(at..at + 4)? != b"TZif" {
            return None;
        }
        let mut c = [0usize; 6];
        for (i, v) in c.iter_mut().enumerate() {
            *v = be32(at + 20 + 4 * i)? as usize;
        }
        Some(c)
    };
    // isutcnt, isstdcnt, leapcnt, timecnt, typecnt, charcnt
    let [isut, isstd, leap, time, types, chars] = counts(0)?;
    if data.get(4).copied().unwrap_or(0) < b'2' {
        return None;
    }
    let v1 = time * 4 + time + types * 6 + chars + leap * 8 + isstd + isut;
    let head = 44 + v1;
    let [_, _, _, time, types, _] = counts(head)?;
    let times = head + 44;
    let indices = times + time * 8;
    let infos = indices + time;
    let offset_of = |t: usize| -> Option<i32> {
        if t >= types {
            return None;
        }
        Some(be32(infos + t * 6)? as i32)
    };
    let mut chosen = None;
    for i in 0..time {
        let at = i64::from_be_bytes(
            data.get(times + i * 8..times + i * 8 + 8)?
                .try_into()
                .ok()?,
        );
        if at > epoch {
            break;
        }
        chosen = Some(*data.get(indices + i)? as usize);
    }
    offset_of(chosen.unwrap_or(0))
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

/// The instant `wait` from now; a wait too long for the clock to hold (an
/// admin's `--node-wait 18446744073709551615`) is as good as forever: a
/// century.
pub fn deadline_after(wait: std::time::Duration) -> std::time::Instant {
    let now = std::time::Instant::now();
    now.checked_add(wait)
        .or_else(|| now.checked_add(std::time::Duration::from_secs(100 * 365 * 86_400)))
        .unwrap_or(now)
}

#[cfg(test)]
mod tests {

    #[test]
    fn a_wait_too_long_for_the_clock_does_not_panic() {
        let far = deadline_after(std::time::Duration::MAX);
        assert!(far > std::time::Instant::now());
    }

    use super::*;

    #[test]
    fn local_time_from_the_zone_file() {
        // A winter and a summer instant in Berlin (when the zone file is
        // there: Debian's tzdata).
        let Ok(berlin) = fs_err::read("/usr/share/zoneinfo/Europe/Berlin") else {
            eprintln!("SKIPPED local_time_from_the_zone_file: no tzdata");
            return;
        };
        assert_eq!(tzif_offset(&berlin, 1_796_015_686), Some(3600)); // 2026-11-30
        assert_eq!(tzif_offset(&berlin, 1_782_800_000), Some(7200)); // 2026-06-30
        assert_eq!(tzif_offset(b"not a zone file", 0), None);
    }

    #[test]
    fn dates_are_civil_utc() {
        assert_eq!(format_date(0), "1970-01-01T00:00:00Z");
        assert_eq!(format_date(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(format_date(1_796_015_686), "2026-11-30T05:14:46Z");
    }
}
