//! Calendar arithmetic: exports carry naive local times, and the trainer only
//! needs to order them and count days.
//!
//! Times are minutes since 1970-01-01 00:00 in the export's own clock (no zone).
//! The automatic formats ([`parse_minutes`]) are split here (a hot path: one
//! call per row) and their dates checked and counted by chrono; a shop's own
//! format ([`DateFormat`], `--date-format`) goes through chrono's strftime
//! parser.

use chrono::format::{Item, Parsed, StrftimeItems};

/// Minutes in a day.
pub const MINUTES_PER_DAY: i64 = 24 * 60;

/// Day 0: 1970-01-01, as days from the common era's first day (chrono's count).
const EPOCH_DAYS_FROM_CE: i64 = 719_163;

/// Days since 1970-01-01 of a date the code names (a default, a fixture).
///
/// # Panics
/// When the date does not exist: a programming error, not an input's.
pub fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    checked_date(year, month, day)
        .unwrap_or_else(|| panic!("{year:04}-{month:02}-{day:02} is not a date"))
}

/// The date `(year, month, day)` of a day number (inverse of [`days_from_civil`]).
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let date = i32::try_from(days + EPOCH_DAYS_FROM_CE)
        .ok()
        .and_then(chrono::NaiveDate::from_num_days_from_ce_opt)
        .unwrap_or(chrono::NaiveDate::MIN);
    (
        i64::from(chrono::Datelike::year(&date)),
        chrono::Datelike::month(&date),
        chrono::Datelike::day(&date),
    )
}

/// The day number of a valid date, `None` for a month or day that does not exist.
fn checked_date(year: i64, month: u32, day: u32) -> Option<i64> {
    let date = chrono::NaiveDate::from_ymd_opt(i32::try_from(year).ok()?, month, day)?;
    Some(day_number(date))
}

/// Days since 1970-01-01 of a chrono date.
fn day_number(date: chrono::NaiveDate) -> i64 {
    i64::from(chrono::Datelike::num_days_from_ce(&date)) - EPOCH_DAYS_FROM_CE
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

/// How the date column's text is read.
#[derive(Debug, Clone, Default)]
pub enum DateFormat {
    /// [`parse_minutes`]: ISO `YYYY-MM-DD[ HH:MM[:SS]]` (or with `T`) and
    /// `M/D/YYYY[ H:MM]`.
    #[default]
    Automatic,
    /// A strftime-style format (`%d/%m/%Y %H:%M`, `%d.%m.%Y`), for exports
    /// whose dates are day-first or otherwise not automatic.
    Strftime {
        /// The format as the user gave it, for messages.
        text: String,
        /// Its items, parsed once. Every item is valid (checked in [`DateFormat::strftime`]).
        items: Vec<Item<'static>>,
    },
}

impl DateFormat {
    /// A strftime-style format, refused when it has an unknown `%`
    /// specifier or names no day of the year (a year, and a month and day
    /// or a day of the year or a week); an offset (`%z`) is read and
    /// ignored, as times are the export's own clock.
    pub fn strftime(text: &str) -> Result<DateFormat, String> {
        let items = StrftimeItems::new(text).parse_to_owned().map_err(|_| {
            format!("'{text}' is not a date format: it has an unknown % specifier (see chrono's strftime list: %d %m %Y %H %M %S ...)")
        })?;
        let format = DateFormat::Strftime {
            text: text.to_owned(),
            items,
        };
        // A format from which no date can be made would leave every row bad:
        // try it on a date written in it.
        // (With an offset, so that `%z` can be written too.)
        let mut probe = String::new();
        let written = chrono::NaiveDate::from_ymd_opt(2011, 12, 9)
            .and_then(|day| day.and_hms_opt(8, 26, 0))
            .and_then(|time| {
                chrono::TimeZone::from_local_datetime(&chrono::FixedOffset::east_opt(0)?, &time)
                    .single()
            })
            .is_some_and(|time| {
                std::fmt::Write::write_fmt(&mut probe, format_args!("{}", time.format(text)))
                    .is_ok()
            });
        if !written || format.parse(&probe).is_none() {
            return Err(format!(
                "'{text}' is not a date format: it does not name a whole date (a year, month \
                 and day, such as %d/%m/%Y)"
            ));
        }
        Ok(format)
    }

    /// Minutes since the epoch of `text` (trimmed), or `None` when it does
    /// not match. A format without a time of day gives midnight.
    pub fn parse(&self, text: &str) -> Option<i64> {
        let items = match self {
            DateFormat::Automatic => return parse_minutes(text),
            DateFormat::Strftime { items, .. } => items,
        };
        let mut parsed = Parsed::new();
        chrono::format::parse(&mut parsed, text.trim(), items.iter()).ok()?;
        let day = day_number(parsed.to_naive_date().ok()?);
        let has_time = parsed.hour_div_12().is_some()
            || parsed.hour_mod_12().is_some()
            || parsed.minute().is_some();
        let minutes = if has_time {
            let time = parsed.to_naive_time().ok()?;
            i64::from(chrono::Timelike::hour(&time)) * 60
                + i64::from(chrono::Timelike::minute(&time))
        } else {
            0
        };
        Some(day * MINUTES_PER_DAY + minutes)
    }

    /// What a value of the column must look like, for a bad row's reason.
    pub fn expected(&self) -> &'static str {
        match self {
            DateFormat::Automatic => "a date 'YYYY-MM-DD[ HH:MM[:SS]]' or 'M/D/YYYY[ H:MM]'",
            DateFormat::Strftime { .. } => "a date in the --date-format",
        }
    }

    /// The user's format, when one was given.
    pub fn text(&self) -> Option<&str> {
        match self {
            DateFormat::Automatic => None,
            DateFormat::Strftime { text, .. } => Some(text),
        }
    }
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

    /// Issue 24: `--date-format` reads day-first dates; a value that does not
    /// match is `None`; a format naming no date, or with an unknown
    /// specifier, is refused.
    #[test]
    fn issue_24_a_strftime_date_format() {
        let format = DateFormat::strftime("%d/%m/%Y %H:%M").unwrap();
        let iso = parse_minutes("2011-03-04 10:30").unwrap();
        assert_eq!(format.parse("04/03/2011 10:30"), Some(iso));
        assert_eq!(format.parse(" 4/3/2011 10:30 "), Some(iso));
        // The automatic formats read the same text month-first.
        assert_eq!(
            parse_minutes("04/03/2011 10:30"),
            Some(parse_minutes("2011-04-03 10:30").unwrap())
        );
        for bad in [
            "2011-03-04 10:30",
            "13/13/2011 10:30",
            "04/03/2011",
            "31/02/2011 10:00",
            "",
        ] {
            assert_eq!(format.parse(bad), None, "{bad}");
        }
        let day_only = DateFormat::strftime("%d.%m.%Y").unwrap();
        assert_eq!(
            day_only.parse("28.01.2017"),
            Some(parse_day("2017-01-28").unwrap() * MINUTES_PER_DAY)
        );
        // Seconds and an offset are read and dropped.
        let with_zone = DateFormat::strftime("%Y-%m-%dT%H:%M:%S%z").unwrap();
        assert_eq!(with_zone.parse("2011-03-04T10:30:59+0100"), Some(iso));
        for refused in ["%H:%M", "%d/%m", "%Q/%m/%Y", "day"] {
            let err = DateFormat::strftime(refused).unwrap_err();
            assert!(err.contains(refused), "{refused}: {err}");
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
