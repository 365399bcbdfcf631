//! Calendar arithmetic without a date library: exports carry naive local times,
//! and the trainer only needs to order them and count days.
//!
//! Times are minutes since 1970-01-01 00:00 in the export's own clock (no zone).

/// Minutes in a day.
pub const MINUTES_PER_DAY: i64 = 24 * 60;

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
/// `days_from_civil`).
pub fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month = month as i64;
    let day_of_year =
        (153 * (if month > 2 { month - 3 } else { month + 9 }) + 2) / 5 + day as i64 - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// The date `(year, month, day)` of a day number (inverse of [`days_from_civil`]).
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let mp = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        _ => 28,
    }
}

fn checked_date(year: i64, month: u32, day: u32) -> Option<i64> {
    if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
        return None;
    }
    Some(days_from_civil(year, month, day))
}

fn parse_time(text: &str) -> Option<i64> {
    // A trailing `Z` (ISO's UTC mark) is dropped: times are the export's own
    // clock either way.
    let text = text.strip_suffix('Z').unwrap_or(text);
    let mut parts = text.split(':');
    let hour: i64 = parts.next()?.parse().ok()?;
    let minute: i64 = parts.next()?.parse().ok()?;
    let second: i64 = match parts.next() {
        // Fractions of a second (`08:26:00.123`) are dropped with the seconds.
        Some(s) => s
            .split_once('.')
            .map_or(s, |(whole, _)| whole)
            .parse()
            .ok()?,
        None => 0,
    };
    if parts.next().is_some() || hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    Some(hour * 60 + minute)
}

/// Parses `YYYY-MM-DD` into a day number.
pub fn parse_day(text: &str) -> Option<i64> {
    let mut parts = text.trim().split('-');
    let year: i64 = parts.next()?.parse().ok()?;
    let month: u32 = parts.next()?.parse().ok()?;
    let day: u32 = parts.next()?.parse().ok()?;
    if parts.next().is_some() {
        return None;
    }
    checked_date(year, month, day)
}

/// Parses `YYYY-MM-DD HH:MM[:SS]` (ISO, the default export; also with `T`
/// between date and time) or `M/D/YYYY H:MM` (the original UCI spreadsheet)
/// into minutes since the epoch. Seconds are dropped. A date without a time
/// (`2017-01-28`, `11/1/2000`) is that day's midnight.
pub fn parse_minutes(text: &str) -> Option<i64> {
    let text = text.trim();
    let (date, minutes) = match text.split_once([' ', 'T']) {
        Some((date, time)) => (date, parse_time(time.trim())?),
        None => (text, 0),
    };
    let day = if date.contains('/') {
        let mut parts = date.split('/');
        let month: u32 = parts.next()?.parse().ok()?;
        let day: u32 = parts.next()?.parse().ok()?;
        let year: i64 = parts.next()?.parse().ok()?;
        if parts.next().is_some() {
            return None;
        }
        checked_date(year, month, day)?
    } else {
        parse_day(date)?
    };
    Some(day * MINUTES_PER_DAY + minutes)
}

/// Formats a day number as `YYYY-MM-DD`.
pub fn format_day(day: i64) -> String {
    let (year, month, day) = civil_from_days(day);
    format!("{year:04}-{month:02}-{day:02}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_dates() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(parse_day("2011-11-09"), Some(15_287));
        assert_eq!(format_day(15_287), "2011-11-09");
        for day in [-1000, 0, 59, 60, 11_016, 15_287, 20_000] {
            let (y, m, d) = civil_from_days(day);
            assert_eq!(days_from_civil(y, m, d), day);
        }
    }

    #[test]
    fn both_export_formats() {
        let iso = parse_minutes("2010-12-01 08:26:00").unwrap();
        assert_eq!(parse_minutes("12/1/2010 8:26"), Some(iso));
        assert_eq!(parse_minutes("2010-12-01 08:26"), Some(iso));
        assert_eq!(iso % MINUTES_PER_DAY, 8 * 60 + 26);
        for bad in ["", "2010-13-01 08:00", "2011-02-29 08:00", "x y"] {
            assert_eq!(parse_minutes(bad), None, "{bad}");
        }
    }

    #[test]
    fn dates_without_a_time_are_midnight() {
        let day = parse_day("2017-01-28").unwrap();
        assert_eq!(parse_minutes("2017-01-28"), Some(day * MINUTES_PER_DAY));
        assert_eq!(parse_minutes(" 1/28/2017 "), Some(day * MINUTES_PER_DAY));
        let day = parse_day("2000-11-01").unwrap();
        assert_eq!(parse_minutes("11/1/2000"), Some(day * MINUTES_PER_DAY));
        // ISO with `T`, fractional seconds and `Z`.
        let iso = parse_minutes("2010-12-01 08:26:00").unwrap();
        for same in [
            "2010-12-01T08:26:00",
            "2010-12-01T08:26:00Z",
            "2010-12-01T08:26:00.250Z",
            "2010-12-01 08:26:59.9",
        ] {
            assert_eq!(parse_minutes(same), Some(iso), "{same}");
        }
        for bad in [
            "2017-01-32",
            "2017-01",
            "13/1/2000",
            "2017-01-28T",
            "2017-01-28 25:00",
        ] {
            assert_eq!(parse_minutes(bad), None, "{bad}");
        }
    }
}
