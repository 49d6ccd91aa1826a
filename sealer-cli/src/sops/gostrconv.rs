//! Go's `strconv` number reading and writing, as sops (a Go program) types and prints the
//! values it decrypts: `Atoi`, `ParseBool`, `ParseFloat`, and `FormatFloat` with the `f`,
//! YAML and JSON spellings.

/// Go's `strconv.Atoi`: optional sign, decimal digits.
pub fn parse_go_atoi(s: &str) -> Option<i64> {
    let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse::<i64>().ok()
}

/// Go's `strconv.ParseBool`.
pub fn parse_go_bool(s: &str) -> Option<bool> {
    match s {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// Go's `strconv.ParseFloat(s, 64)` for decimal input (also `Inf`, `NaN`, with a sign).
pub fn parse_go_float(s: &str) -> Option<f64> {
    let body = s.strip_prefix(['+', '-']).unwrap_or(s);
    let lower = body.to_ascii_lowercase();
    if lower == "inf" || lower == "infinity" || lower == "nan" {
        return s.parse::<f64>().ok();
    }
    if body.is_empty()
        || !body
            .bytes()
            .all(|b| b.is_ascii_digit() || b"._eE+-".contains(&b))
    {
        return None;
    }
    let clean: String = if body.contains('_') {
        s.replace('_', "")
    } else {
        s.to_owned()
    };
    clean.parse::<f64>().ok()
}

/// Shortest decimal digits of a finite float: (negative, digits, decimal point position).
fn shortest_digits(f: f64) -> (bool, String, i32) {
    let neg = f.is_sign_negative();
    let s = format!("{:e}", f.abs());
    let (mant, exp) = s.split_once('e').unwrap_or((&s, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let digits: String = mant.chars().filter(|c| c.is_ascii_digit()).collect();
    let digits = if digits.chars().all(|c| c == '0') {
        "0".to_owned()
    } else {
        digits
    };
    (neg, digits, exp + 1)
}

fn special(f: f64, inf: &str, neg_inf: &str, nan: &str) -> Option<String> {
    if f.is_nan() {
        Some(nan.to_owned())
    } else if f.is_infinite() {
        Some(if f > 0.0 {
            inf.to_owned()
        } else {
            neg_inf.to_owned()
        })
    } else {
        None
    }
}

fn fmt_f(neg: bool, digits: &str, dp: i32) -> String {
    let mut out = String::new();
    if neg {
        out.push('-');
    }
    let nd = digits.len() as i32;
    if digits == "0" {
        out.push('0');
    } else if dp <= 0 {
        out.push_str("0.");
        out.extend(std::iter::repeat_n('0', (-dp) as usize));
        out.push_str(digits);
    } else if dp >= nd {
        out.push_str(digits);
        out.extend(std::iter::repeat_n('0', (dp - nd) as usize));
    } else {
        out.push_str(&digits[..dp as usize]);
        out.push('.');
        out.push_str(&digits[dp as usize..]);
    }
    out
}

fn fmt_e(neg: bool, digits: &str, dp: i32) -> String {
    let mut out = String::new();
    if neg {
        out.push('-');
    }
    out.push_str(&digits[..1]);
    if digits.len() > 1 {
        out.push('.');
        out.push_str(&digits[1..]);
    }
    let exp = if digits == "0" { 0 } else { dp - 1 };
    out.push('e');
    out.push(if exp < 0 { '-' } else { '+' });
    let abs = exp.unsigned_abs();
    if abs < 10 {
        out.push('0');
    }
    out.push_str(&abs.to_string());
    out
}

/// Go's `strconv.FormatFloat(f, 'f', -1, 64)`: shortest digits, never an exponent.
pub fn go_format_f(f: f64) -> String {
    if let Some(s) = special(f, "+Inf", "-Inf", "NaN") {
        return s;
    }
    let (neg, digits, dp) = shortest_digits(f);
    fmt_f(neg, &digits, dp)
}

/// Go's `strconv.FormatFloat(f, 'g', -1, 64)` as go-yaml v3 writes floats (`.inf`, `.nan`).
pub fn go_format_yaml_float(f: f64) -> String {
    if let Some(s) = special(f, ".inf", "-.inf", ".nan") {
        return s;
    }
    let (neg, digits, dp) = shortest_digits(f);
    let exp = dp - 1;
    if digits != "0" && !(-4..6).contains(&exp) {
        fmt_e(neg, &digits, dp)
    } else {
        fmt_f(neg, &digits, dp)
    }
}

/// Go's `encoding/json` float notation (`'f'`, or `'e'` below 1e-6 and from 1e21).
pub fn go_format_json_float(f: f64) -> Option<String> {
    if !f.is_finite() {
        return None;
    }
    let (neg, digits, dp) = shortest_digits(f);
    let abs = f.abs();
    if abs != 0.0 && !(1e-6..1e21).contains(&abs) {
        let e = fmt_e(neg, &digits, dp);
        // Go trims a leading zero of a negative two-digit exponent: e-07 becomes e-7.
        Some(match e.rsplit_once("e-0") {
            Some((m, d)) if d.len() == 1 => format!("{m}e-{d}"),
            _ => e,
        })
    } else {
        Some(fmt_f(neg, &digits, dp))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_float_formatting_matches_strconv() {
        let cases = [
            (1e21, "1000000000000000000000", "1e+21"),
            (1.5, "1.5", "1.5"),
            (0.1, "0.1", "0.1"),
            (1234.56789, "1234.56789", "1234.56789"),
            (1234567.0, "1234567", "1.234567e+06"),
            (100000.0, "100000", "100000"),
            (0.0001, "0.0001", "0.0001"),
            (0.00001, "0.00001", "1e-05"),
            (-0.0, "-0", "-0"),
            (0.0, "0", "0"),
            (5432.0, "5432", "5432"),
            (1e23, "100000000000000000000000", "1e+23"),
            (f64::INFINITY, "+Inf", ".inf"),
            (f64::NEG_INFINITY, "-Inf", "-.inf"),
        ];
        for (f, fixed, yaml) in cases {
            assert_eq!(go_format_f(f), fixed, "'f' of {f}");
            assert_eq!(go_format_yaml_float(f), yaml, "'g' of {f}");
        }
        assert_eq!(go_format_f(f64::NAN), "NaN");
        assert_eq!(go_format_json_float(1e-7).as_deref(), Some("1e-7"));
        assert_eq!(go_format_json_float(1e21).as_deref(), Some("1e+21"));
        assert_eq!(go_format_json_float(5432.0).as_deref(), Some("5432"));
        assert_eq!(
            go_format_json_float(-1.25e-10).as_deref(),
            Some("-1.25e-10")
        );
    }
}
