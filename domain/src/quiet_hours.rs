//! Quiet hours: a daily window, read in the candidate's local time, in which no SMS goes
//! out; a send that would fall inside it is held until the window ends.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;
use std::sync::OnceLock;

use chrono::{DateTime, NaiveDateTime, NaiveTime, TimeDelta, TimeZone, Timelike, Utc};
use chrono_tz::Tz;

use crate::organization::Timezone;
use crate::validation::Invalid;

/// Why the service, not the sender, chose a message's `send_at`: its `status_reason`
/// while it is `scheduled`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HoldReason {
    /// It would have gone out inside the organization's quiet hours.
    QuietHours,
}

impl HoldReason {
    /// Every reason.
    pub const ALL: [HoldReason; 1] = [HoldReason::QuietHours];

    /// The stored and serialized name.
    pub fn as_str(self) -> &'static str {
        match self {
            HoldReason::QuietHours => "quiet_hours",
        }
    }
}

/// A wall-clock time of day to the minute, written `HH:MM` (00:00 to 23:59).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ClockTime(NaiveTime);

impl ClockTime {
    /// Accepts exactly two digits, a colon and two digits: `07:30`, not `7:30`.
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let refuse = || Invalid::new("must be a time of day written HH:MM, 00:00 to 23:59");
        let bytes = raw.as_bytes();
        if bytes.len() != 5 || bytes[2] != b':' {
            return Err(refuse());
        }
        let number = |digits: &[u8]| -> Option<u32> {
            digits
                .iter()
                .all(u8::is_ascii_digit)
                .then(|| digits.iter().fold(0, |n, d| n * 10 + u32::from(d - b'0')))
        };
        number(&bytes[..2])
            .zip(number(&bytes[3..]))
            .and_then(|(hour, minute)| NaiveTime::from_hms_opt(hour, minute, 0))
            .map(Self)
            .ok_or_else(refuse)
    }

    /// The time of day.
    pub fn time(self) -> NaiveTime {
        self.0
    }
}

impl fmt::Display for ClockTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02}:{:02}", self.0.hour(), self.0.minute())
    }
}

/// The window from `start` up to (not including) `end`, every day. A window whose end
/// comes before its start crosses midnight: 21:00–08:00 holds evenings and early
/// mornings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuietHours {
    start: ClockTime,
    end: ClockTime,
}

impl QuietHours {
    /// A window; `start` and `end` must differ (an empty window and a whole day are both
    /// better said otherwise: no quiet hours, or a send cap of 0).
    pub fn new(start: ClockTime, end: ClockTime) -> Result<Self, Invalid> {
        if start == end {
            return Err(Invalid::new("must differ from start"));
        }
        Ok(Self { start, end })
    }

    /// When the window begins.
    pub fn start(&self) -> ClockTime {
        self.start
    }

    /// When the window ends.
    pub fn end(&self) -> ClockTime {
        self.end
    }

    /// True when the wall-clock time `local` lies inside the window.
    pub fn contains(&self, local: NaiveTime) -> bool {
        let (start, end) = (self.start.0, self.end.0);
        if start < end {
            start <= local && local < end
        } else {
            local >= start || local < end
        }
    }

    /// When a send at `at` may go out if the recipient's clocks follow `zone`: `None`
    /// when `at` is outside the window, else the instant the window ends.
    ///
    /// The window is read on the wall clock. It ends at the first instant after `at`
    /// that the wall clock reads `end`; when a daylight-saving change repeats that
    /// reading, the first repetition after `at` counts, and when the change skips it,
    /// the window ends as the clocks jump past it.
    pub fn held_until(&self, zone: Timezone, at: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let tz = zone.tz();
        let local = at.with_timezone(&tz).naive_local();
        let (time, day) = (local.time(), local.date());
        if !self.contains(time) {
            return None;
        }
        let ends_on = if self.start.0 > self.end.0 && time >= self.start.0 {
            day.succ_opt()?
        } else {
            day
        };
        Some(first_reading_after(tz, ends_on.and_time(self.end.0), at))
    }
}

/// The first instant after `at` at which `tz`'s wall clock reads `wall`, or, when the
/// clocks skip that reading, the first instant after the jump.
fn first_reading_after(tz: Tz, wall: NaiveDateTime, at: DateTime<Utc>) -> DateTime<Utc> {
    let mut reading = wall;
    // A daylight-saving gap lasts at most a few hours; a day of minutes bounds the walk.
    for _ in 0..=24 * 60 {
        let instant = match tz.from_local_datetime(&reading) {
            chrono::LocalResult::Single(instant) => Some(instant),
            chrono::LocalResult::Ambiguous(first, second) => {
                Some(if first.with_timezone(&Utc) > at {
                    first
                } else {
                    second
                })
            }
            chrono::LocalResult::None => None,
        };
        if let Some(instant) = instant {
            return instant.with_timezone(&Utc);
        }
        reading += TimeDelta::minutes(1);
    }
    wall.and_utc()
}

/// The zone a recipient's local time is read in: the zone of the country of the phone
/// number `e164` when tz data's `zone1970.tab` gives that country exactly one zone,
/// else `fallback` (the organization's time zone). A number whose country is unknown
/// also falls back.
pub fn recipient_zone(e164: &str, fallback: Timezone) -> Timezone {
    phonenumber::parse(None, e164)
        .ok()
        .and_then(|number| number.country().id())
        .and_then(|country| single_zone(country.as_ref()))
        .unwrap_or(fallback)
}

/// The only zone of `country` (ISO 3166-1 alpha-2), if it has exactly one.
fn single_zone(country: &str) -> Option<Timezone> {
    static ZONES: OnceLock<HashMap<&'static str, Vec<&'static str>>> = OnceLock::new();
    let zones = ZONES.get_or_init(|| {
        let mut by_country: HashMap<&'static str, Vec<&'static str>> = HashMap::new();
        for name in timezone_data::names() {
            for listed in timezone_data::meta(name)
                .into_iter()
                .flat_map(|meta| meta.countries())
            {
                by_country.entry(listed.code).or_default().push(name);
            }
        }
        by_country
    });
    match zones.get(country).map(Vec::as_slice) {
        // A zone chrono-tz does not know yet (its tz data is older) falls back too.
        Some([only]) => Tz::from_str(only).ok().map(Timezone::from_tz),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(raw: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(raw)
            .map(|at| at.with_timezone(&Utc))
            .expect("an RFC 3339 time")
    }

    fn window(start: &str, end: &str) -> QuietHours {
        QuietHours::new(
            ClockTime::parse(start).expect("a time"),
            ClockTime::parse(end).expect("a time"),
        )
        .expect("a window")
    }

    fn zone(name: &str) -> Timezone {
        Timezone::parse(name).expect("a zone")
    }

    #[test]
    fn times_are_two_digit_hours_and_minutes() {
        assert_eq!(
            ClockTime::parse("07:05").map(|t| t.to_string()),
            Ok("07:05".to_owned())
        );
        assert_eq!(
            ClockTime::parse("23:59").map(|t| t.to_string()),
            Ok("23:59".to_owned())
        );
        for raw in [
            "", "25:00", "24:00", "9:5", "09:5", "9:05", "12:60", "12-00", "12:00:00", " 12:00",
            "+1:00", "１2:00",
        ] {
            assert!(ClockTime::parse(raw).is_err(), "{raw:?} accepted");
        }
    }

    #[test]
    fn a_window_needs_two_different_times() {
        let nine = ClockTime::parse("09:00").expect("a time");
        assert!(QuietHours::new(nine, nine).is_err());
    }

    #[test]
    fn a_window_within_a_day_holds_until_its_end_that_day() {
        let quiet = window("12:00", "14:00");
        assert_eq!(
            quiet.held_until(Timezone::DEFAULT, utc("2027-01-15T12:00:00Z")),
            Some(utc("2027-01-15T14:00:00Z"))
        );
        assert_eq!(
            quiet.held_until(Timezone::DEFAULT, utc("2027-01-15T13:59:59Z")),
            Some(utc("2027-01-15T14:00:00Z"))
        );
        assert_eq!(
            quiet.held_until(Timezone::DEFAULT, utc("2027-01-15T14:00:00Z")),
            None
        );
        assert_eq!(
            quiet.held_until(Timezone::DEFAULT, utc("2027-01-15T11:59:59Z")),
            None
        );
    }

    #[test]
    fn a_window_across_midnight_ends_the_next_morning_when_entered_in_the_evening() {
        let quiet = window("21:00", "08:00");
        let new_york = zone("America/New_York");
        // 22:30 in New York (UTC-5 in January) → 08:00 the next day, 13:00 UTC.
        assert_eq!(
            quiet.held_until(new_york, utc("2027-01-16T03:30:00Z")),
            Some(utc("2027-01-16T13:00:00Z"))
        );
        // 02:00 in New York → 08:00 the same day.
        assert_eq!(
            quiet.held_until(new_york, utc("2027-01-15T07:00:00Z")),
            Some(utc("2027-01-15T13:00:00Z"))
        );
        // 12:00 in New York: outside.
        assert_eq!(
            quiet.held_until(new_york, utc("2027-01-15T17:00:00Z")),
            None
        );
    }

    #[test]
    fn an_end_skipped_by_daylight_saving_ends_the_window_as_the_clocks_jump() {
        // New York skipped 02:00–03:00 on 2027-03-14; 01:30 EST is 06:30 UTC.
        let quiet = window("01:00", "02:30");
        assert_eq!(
            quiet.held_until(zone("America/New_York"), utc("2027-03-14T06:30:00Z")),
            Some(utc("2027-03-14T07:00:00Z"))
        );
    }

    #[test]
    fn an_end_repeated_by_daylight_saving_ends_the_window_at_its_next_reading() {
        // New York read 01:00–02:00 twice on 2027-11-07: first EDT (UTC-4), then EST.
        let quiet = window("00:30", "01:30");
        let new_york = zone("America/New_York");
        // 00:45 EDT → the first 01:30, EDT.
        assert_eq!(
            quiet.held_until(new_york, utc("2027-11-07T04:45:00Z")),
            Some(utc("2027-11-07T05:30:00Z"))
        );
        // 01:10 EST, in the repeated hour → the second 01:30, EST.
        assert_eq!(
            quiet.held_until(new_york, utc("2027-11-07T06:10:00Z")),
            Some(utc("2027-11-07T06:30:00Z"))
        );
    }

    #[test]
    fn a_country_with_one_zone_gives_its_zone_others_fall_back() {
        let fallback = zone("Asia/Tokyo");
        assert_eq!(
            recipient_zone("+447911123456", fallback).as_str(),
            "Europe/London"
        );
        assert_eq!(
            recipient_zone("+33612345678", fallback).as_str(),
            "Europe/Paris"
        );
        // The United States and Australia span several zones.
        assert_eq!(recipient_zone("+12125550123", fallback), fallback);
        assert_eq!(recipient_zone("+61411111111", fallback), fallback);
        assert_eq!(recipient_zone("not a number", fallback), fallback);
    }
}
