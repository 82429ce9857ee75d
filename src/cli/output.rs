//! Text formatting shared by the commands: times, sizes, counts and damage messages.

use tfevents::record::Damage;
use tfevents::run::FileReport;
use tfevents::value::ValueIssues;

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian calendar.
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

/// A Unix time as `YYYY-MM-DD HH:MM:SS` UTC, or the raw number if it is out of range.
pub fn utc(secs: f64) -> String {
    if !secs.is_finite() || secs.abs() > 1e13 {
        return format!("{secs}");
    }
    let whole = secs.floor() as i64;
    let (y, mo, d) = civil_from_days(whole.div_euclid(86_400));
    let s = whole.rem_euclid(86_400);
    format!(
        "{y:04}-{mo:02}-{d:02} {:02}:{:02}:{:02}",
        s / 3600,
        (s / 60) % 60,
        s % 60
    )
}

/// A duration in seconds, short and readable.
pub fn duration(secs: f64) -> String {
    if !secs.is_finite() {
        return "?".into();
    }
    if secs < 60.0 {
        format!("{secs:.1} s")
    } else if secs < 3600.0 {
        format!("{:.1} min", secs / 60.0)
    } else if secs < 86_400.0 {
        format!("{:.1} h", secs / 3600.0)
    } else {
        format!("{:.1} d", secs / 86_400.0)
    }
}

/// An integer with thousands separators.
pub fn count(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A byte size with a binary unit.
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

fn plural(n: u64, one: &str, many: &str) -> String {
    format!("{} {}", count(n), if n == 1 { one } else { many })
}

/// Human descriptions of what went wrong in a file; empty when it is clean.
pub fn problems(damage: &Damage, issues: &ValueIssues, error: Option<&str>) -> Vec<String> {
    let mut out = Vec::new();
    if damage.bad_data_crc > 0 {
        out.push(format!(
            "{} skipped (bad data checksum)",
            plural(damage.bad_data_crc, "record", "records")
        ));
    }
    if damage.bad_length_crc > 0 || damage.resync_bytes > 0 {
        out.push(format!(
            "{} skipped while resyncing after {}",
            plural(damage.resync_bytes, "byte", "bytes"),
            plural(
                damage.bad_length_crc,
                "bad record header",
                "bad record headers"
            )
        ));
    }
    if damage.truncated_bytes > 0 {
        out.push(format!(
            "truncated: {} of an incomplete last record",
            plural(damage.truncated_bytes, "byte", "bytes")
        ));
    }
    if issues.undecodable_events > 0 {
        out.push(format!(
            "{} not decodable as events",
            plural(issues.undecodable_events, "record", "records")
        ));
    }
    if issues.undecodable_values > 0 {
        out.push(format!(
            "{} not decodable (skipped)",
            plural(issues.undecodable_values, "summary value", "summary values")
        ));
    }
    if issues.invalid_utf8 > 0 {
        out.push(format!(
            "{} not valid UTF-8 (decoded with U+FFFD)",
            plural(issues.invalid_utf8, "tag or string", "tags or strings")
        ));
    }
    if let Some(e) = error {
        out.push(format!("read error: {e}"));
    }
    out
}

/// Prints one warning line per damaged file to stderr.
pub fn warn_damage(run: &str, files: &[FileReport]) {
    for f in files {
        let p = problems(&f.damage, &f.issues, f.error.as_deref());
        if !p.is_empty() {
            eprintln!(
                "tfevents: warning: run {run}: {}: {}",
                f.path.display(),
                p.join("; ")
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert_eq!(utc(0.0), "1970-01-01 00:00:00");
        assert_eq!(utc(1_796_325_831.5), "2026-12-03 19:23:51");
        assert_eq!(utc(951_782_400.0), "2000-02-29 00:00:00");
        assert_eq!(count(1234567), "1,234,567");
        assert_eq!(count(12), "12");
        assert_eq!(bytes(1536), "1.5 KiB");
    }
}
