//! The string formats the API server checks: `quantity` (resource amounts), `date-time`
//! (RFC 3339), `byte` (base64) and the integer widths.

use base64::Engine as _;

/// Whether `text` is a Kubernetes quantity: a signed decimal number and a suffix, either
/// binary SI (`Ki` … `Ei`), decimal SI (`n`, `u`, `m`, ``, `k`, `M`, `G`, `T`, `P`, `E`) or a
/// decimal exponent (`e3`, `E-2`).
#[must_use]
pub fn is_quantity(text: &str) -> bool {
    let rest = text.strip_prefix(['+', '-']).unwrap_or(text);
    let number_len = rest
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(rest.len());
    let (number, suffix) = rest.split_at(number_len);
    let digits = number.chars().filter(char::is_ascii_digit).count();
    if digits == 0 || number.matches('.').count() > 1 {
        return false;
    }
    match suffix {
        "" | "n" | "u" | "m" | "k" | "M" | "G" | "T" | "P" | "E" => true,
        "Ki" | "Mi" | "Gi" | "Ti" | "Pi" | "Ei" => true,
        exponent => exponent
            .strip_prefix(['e', 'E'])
            .map(|e| e.strip_prefix(['+', '-']).unwrap_or(e))
            .is_some_and(|e| !e.is_empty() && e.bytes().all(|b| b.is_ascii_digit())),
    }
}

/// Whether `text` is an RFC 3339 date-time (`2024-05-01T12:00:00Z`, fractions and offsets
/// allowed), as Go's `time.RFC3339` parses it.
#[must_use]
pub fn is_date_time(text: &str) -> bool {
    let bytes = text.as_bytes();
    let digits = |range: std::ops::Range<usize>| {
        bytes
            .get(range.clone())
            .filter(|b| b.len() == range.len())
            .and_then(|b| std::str::from_utf8(b).ok())
            .filter(|s| s.bytes().all(|c| c.is_ascii_digit()))
            .and_then(|s| s.parse::<u32>().ok())
    };
    let (Some(_year), Some(month), Some(day), Some(hour), Some(minute), Some(second)) = (
        digits(0..4),
        digits(5..7),
        digits(8..10),
        digits(11..13),
        digits(14..16),
        digits(17..19),
    ) else {
        return false;
    };
    let separators = bytes.get(4) == Some(&b'-')
        && bytes.get(7) == Some(&b'-')
        && matches!(bytes.get(10), Some(b'T' | b't'))
        && bytes.get(13) == Some(&b':')
        && bytes.get(16) == Some(&b':');
    let ranges = (1..=12).contains(&month)
        && (1..=31).contains(&day)
        && hour < 24
        && minute < 60
        && second < 61;
    if !separators || !ranges {
        return false;
    }
    let mut rest = &text[19..];
    if let Some(fraction) = rest.strip_prefix('.') {
        let len = fraction
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(fraction.len());
        if len == 0 {
            return false;
        }
        rest = &fraction[len..];
    }
    match rest {
        "Z" | "z" => true,
        offset => {
            let b = offset.as_bytes();
            b.len() == 6
                && matches!(b[0], b'+' | b'-')
                && b[3] == b':'
                && offset[1..3].parse::<u32>().is_ok_and(|h| h < 24)
                && offset[4..6].parse::<u32>().is_ok_and(|m| m < 60)
        }
    }
}

/// Whether `text` is standard base64 with padding (the `byte` format: Secret `data`,
/// ConfigMap `binaryData`).
#[must_use]
pub fn is_base64(text: &str) -> bool {
    // A value the render decrypted is carried as a stand-in until the secrets stage puts the
    // value back; it is base64 by then.
    if crate::render::is_stand_in(text) {
        return true;
    }
    // As the API server decodes it: Go's decoder skips line breaks (Kustomize folds long
    // values) and accepts non-canonical trailing bits.
    const GO_STD: base64::engine::GeneralPurpose = base64::engine::GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        base64::engine::GeneralPurposeConfig::new().with_decode_allow_trailing_bits(true),
    );
    if text.contains(['\r', '\n']) {
        let compact: String = text.chars().filter(|c| !matches!(c, '\r' | '\n')).collect();
        return GO_STD.decode(compact).is_ok();
    }
    GO_STD.decode(text).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_is_read_as_the_api_server_reads_it() {
        assert!(is_base64("aHVudGVy\nMg=="), "folded by Kustomize");
        assert!(
            is_base64(&crate::render::stand_in("abc")),
            "a decrypted value's stand-in"
        );
        assert!(!is_base64("not base64!"));
    }

    #[test]
    fn quantities_are_accepted_as_the_api_server_parses_them() {
        for good in [
            "1", "100m", "0.5", "1.5Gi", "128Mi", "2k", "1e3", "1E-2", "+3", "-1", ".5", "5.",
            "10Ei", "250n",
        ] {
            assert!(is_quantity(good), "{good}");
        }
        for bad in [
            "", "Gi", "1GB", "1gi", "1.2.3", "one", "1 Gi", "1e", "1ki", "--1", "1mi",
        ] {
            assert!(!is_quantity(bad), "{bad}");
        }
    }

    #[test]
    fn date_times_follow_rfc_3339() {
        for good in [
            "2024-05-01T12:00:00Z",
            "2024-05-01T12:00:00.123456Z",
            "2024-05-01T12:00:00+02:00",
            "2024-05-01t12:00:00z",
        ] {
            assert!(is_date_time(good), "{good}");
        }
        for bad in [
            "2024-05-01",
            "2024-05-01 12:00:00Z",
            "2024-13-01T12:00:00Z",
            "2024-05-01T12:00:00",
            "2024-05-01T12:00:00.Z",
            "2024-05-01T12:00:00+0200",
            "yesterday",
        ] {
            assert!(!is_date_time(bad), "{bad}");
        }
    }

    #[test]
    fn byte_values_are_padded_standard_base64() {
        assert!(is_base64("aGVsbG8="));
        assert!(is_base64(""));
        assert!(!is_base64("hello!"));
        assert!(!is_base64("aGVsbG8"));
    }
}
