//! Timestamps as go-yaml v3 reads them and Go's `time.MarshalText` writes them.

use std::time::{SystemTime, UNIX_EPOCH};

/// A calendar timestamp with a fixed UTC offset.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Timestamp {
    year: i64,
    month: u32,
    day: u32,
    hour: u32,
    minute: u32,
    second: u32,
    nanos: u32,
    /// Offset from UTC in seconds.
    offset: i32,
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        _ => 28,
    }
}

struct Cursor<'a> {
    s: &'a [u8],
    i: usize,
}

impl Cursor<'_> {
    /// Reads between `min` and `max` ASCII digits.
    fn num(&mut self, min: usize, max: usize) -> Option<u32> {
        let start = self.i;
        while self.i < self.s.len() && self.i - start < max && self.s[self.i].is_ascii_digit() {
            self.i += 1;
        }
        if self.i - start < min {
            return None;
        }
        std::str::from_utf8(&self.s[start..self.i])
            .ok()?
            .parse()
            .ok()
    }
    fn eat(&mut self, c: u8) -> bool {
        if self.s.get(self.i) == Some(&c) {
            self.i += 1;
            true
        } else {
            false
        }
    }
    fn done(&self) -> bool {
        self.i == self.s.len()
    }
}

impl Timestamp {
    /// Parses a plain YAML scalar the way go-yaml v3 resolves timestamps: `2006-1-2`,
    /// `2006-1-2T15:4:5.999999999Z07:00` (also with a lower-case `t`), and
    /// `2006-1-2 15:4:5.999999999` (UTC). `None` when it is not a timestamp.
    pub fn parse_yaml(s: &str) -> Option<Self> {
        let b = s.as_bytes();
        if b.len() < 5 || !b[..4].iter().all(u8::is_ascii_digit) || b[4] != b'-' {
            return None;
        }
        let mut c = Cursor { s: b, i: 0 };
        let year = i64::from(c.num(4, 4)?);
        c.eat(b'-');
        let month = c.num(1, 2)?;
        if !c.eat(b'-') {
            return None;
        }
        let day = c.num(1, 2)?;
        let mut ts = Timestamp {
            year,
            month,
            day,
            hour: 0,
            minute: 0,
            second: 0,
            nanos: 0,
            offset: 0,
        };
        if c.done() {
            return ts.validate();
        }
        let zoned = if c.eat(b'T') || c.eat(b't') {
            true
        } else if c.eat(b' ') {
            false
        } else {
            return None;
        };
        ts.hour = c.num(1, 2)?;
        if !c.eat(b':') {
            return None;
        }
        ts.minute = c.num(1, 2)?;
        if !c.eat(b':') {
            return None;
        }
        ts.second = c.num(1, 2)?;
        ts.nanos = Self::fraction(&mut c)?;
        if zoned {
            ts.offset = Self::zone(&mut c)?;
        }
        if !c.done() {
            return None;
        }
        ts.validate()
    }

    /// Parses RFC 3339 as Go's `time.UnmarshalText` does (two-digit fields, a zone).
    pub fn parse_rfc3339(s: &str) -> Option<Self> {
        let mut c = Cursor {
            s: s.as_bytes(),
            i: 0,
        };
        let year = i64::from(c.num(4, 4)?);
        let two = |c: &mut Cursor, sep: Option<u8>| -> Option<u32> {
            let v = c.num(2, 2)?;
            if let Some(sep) = sep
                && !c.eat(sep)
            {
                return None;
            }
            Some(v)
        };
        if !c.eat(b'-') {
            return None;
        }
        let month = two(&mut c, Some(b'-'))?;
        let day = c.num(2, 2)?;
        if !(c.eat(b'T') || c.eat(b't')) {
            return None;
        }
        let hour = two(&mut c, Some(b':'))?;
        let minute = two(&mut c, Some(b':'))?;
        let second = two(&mut c, None)?;
        let nanos = Self::fraction(&mut c)?;
        let offset = Self::zone(&mut c)?;
        if !c.done() {
            return None;
        }
        Timestamp {
            year,
            month,
            day,
            hour,
            minute,
            second,
            nanos,
            offset,
        }
        .validate()
    }

    fn fraction(c: &mut Cursor) -> Option<u32> {
        if c.s.get(c.i) == Some(&b'.') && c.s.get(c.i + 1).is_some_and(u8::is_ascii_digit) {
            c.i += 1;
            let start = c.i;
            while c.i < c.s.len() && c.s[c.i].is_ascii_digit() {
                c.i += 1;
            }
            let digits = &c.s[start..c.i];
            if digits.len() > 9 {
                return None;
            }
            let mut n: u32 = std::str::from_utf8(digits).ok()?.parse().ok()?;
            for _ in digits.len()..9 {
                n *= 10;
            }
            Some(n)
        } else {
            Some(0)
        }
    }

    fn zone(c: &mut Cursor) -> Option<i32> {
        if c.eat(b'Z') {
            return Some(0);
        }
        let sign = if c.eat(b'+') {
            1
        } else if c.eat(b'-') {
            -1
        } else {
            return None;
        };
        let h = c.num(2, 2)?;
        if !c.eat(b':') {
            return None;
        }
        let m = c.num(2, 2)?;
        if h > 23 || m > 59 {
            return None;
        }
        Some(sign * (h * 3600 + m * 60) as i32)
    }

    fn validate(self) -> Option<Self> {
        let ok = (1..=12).contains(&self.month)
            && self.day >= 1
            && self.day <= days_in_month(self.year, self.month)
            && self.hour < 24
            && self.minute < 60
            && self.second < 60;
        ok.then_some(self)
    }

    /// Go's `time.RFC3339Nano` layout: trailing zeros of the fraction dropped, `Z` for UTC.
    pub fn to_rfc3339_nano(&self) -> String {
        let mut out = format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
            self.year, self.month, self.day, self.hour, self.minute, self.second
        );
        if self.nanos > 0 {
            let frac = format!("{:09}", self.nanos);
            out.push('.');
            out.push_str(frac.trim_end_matches('0'));
        }
        if self.offset == 0 {
            out.push('Z');
        } else {
            let sign = if self.offset < 0 { '-' } else { '+' };
            let abs = self.offset.unsigned_abs();
            out.push_str(&format!("{sign}{:02}:{:02}", abs / 3600, (abs % 3600) / 60));
        }
        out
    }

    /// The current time in UTC, to the second.
    pub fn now_utc() -> Self {
        let secs = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0) as i64;
        let days = secs.div_euclid(86_400);
        let rem = secs.rem_euclid(86_400) as u32;
        // Civil-from-days (proleptic Gregorian), after Howard Hinnant's algorithm.
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z.rem_euclid(146_097);
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
        let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
        let year = yoe + era * 400 + i64::from(month <= 2);
        Timestamp {
            year,
            month,
            day,
            hour: rem / 3600,
            minute: (rem % 3600) / 60,
            second: rem % 60,
            nanos: 0,
            offset: 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml_timestamps_resolve_like_go_yaml() {
        let f = |s: &str| Timestamp::parse_yaml(s).map(|t| t.to_rfc3339_nano());
        assert_eq!(
            f("2024-01-02T03:04:05Z").as_deref(),
            Some("2024-01-02T03:04:05Z")
        );
        assert_eq!(f("2024-01-02").as_deref(), Some("2024-01-02T00:00:00Z"));
        assert_eq!(
            f("2024-1-2 3:4:5.500").as_deref(),
            Some("2024-01-02T03:04:05.5Z")
        );
        assert_eq!(
            f("2024-01-02T03:04:05+02:00").as_deref(),
            Some("2024-01-02T03:04:05+02:00")
        );
        assert_eq!(
            f("2024-01-02T03:04:05+00:00").as_deref(),
            Some("2024-01-02T03:04:05Z")
        );
        assert_eq!(f("2024-01-02 03:04:05.123+02:00"), None);
        assert_eq!(f("2024-02-30"), None);
        assert_eq!(f("20240102"), None);
    }

    #[test]
    fn now_is_a_valid_rfc3339_time() {
        let now = Timestamp::now_utc().to_rfc3339_nano();
        assert!(Timestamp::parse_rfc3339(&now).is_some(), "{now}");
    }
}
