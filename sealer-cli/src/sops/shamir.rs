//! Shamir's secret sharing of the data key across key groups: HashiCorp Vault's scheme over
//! GF(2^8) with the AES polynomial, as sops uses it (a share is the y-bytes followed by its x
//! coordinate).

use rand::RngCore;
use zeroize::Zeroizing;

// GF(2^8) arithmetic with the AES reduction polynomial x^8 + x^4 + x^3 + x + 1.
fn gf_mul(a: u8, b: u8) -> u8 {
    let (mut a, mut b, mut p) = (a, b, 0u8);
    while b != 0 {
        if b & 1 != 0 {
            p ^= a;
        }
        let carry = a & 0x80;
        a <<= 1;
        if carry != 0 {
            a ^= 0x1b;
        }
        b >>= 1;
    }
    p
}

fn gf_inv(a: u8) -> u8 {
    // a^254 = a^-1 in GF(2^8).
    let mut result = 1u8;
    let mut base = a;
    let mut e = 254u32;
    while e > 0 {
        if e & 1 == 1 {
            result = gf_mul(result, base);
        }
        base = gf_mul(base, base);
        e >>= 1;
    }
    result
}

/// Splits a secret into `parts` shares, any `threshold` of which recover it. Each share is
/// the evaluations for every byte followed by the share's x coordinate (1..=parts).
pub fn shamir_split(
    secret: &[u8],
    parts: usize,
    threshold: usize,
) -> Result<Vec<Zeroizing<Vec<u8>>>, String> {
    if parts < threshold || threshold < 2 || parts > 255 || secret.is_empty() {
        return Err(format!(
            "cannot split into {parts} parts with threshold {threshold}"
        ));
    }
    let mut shares: Vec<Zeroizing<Vec<u8>>> = (1..=parts)
        .map(|x| {
            let mut v = Zeroizing::new(vec![0u8; secret.len() + 1]);
            v[secret.len()] = x as u8;
            v
        })
        .collect();
    let mut coeffs = Zeroizing::new(vec![0u8; threshold]);
    for (idx, &byte) in secret.iter().enumerate() {
        coeffs[0] = byte;
        rand::thread_rng().fill_bytes(&mut coeffs[1..]);
        for share in shares.iter_mut() {
            let x = share[secret.len()];
            // Horner's rule from the highest coefficient.
            let y = coeffs.iter().rev().fold(0u8, |acc, &c| gf_mul(acc, x) ^ c);
            share[idx] = y;
        }
    }
    Ok(shares)
}

/// Recovers a secret from Shamir shares (Lagrange interpolation at x = 0).
pub fn shamir_combine(parts: &[Zeroizing<Vec<u8>>]) -> Result<Zeroizing<Vec<u8>>, String> {
    if parts.len() < 2 {
        return Err("less than two parts cannot be used to reconstruct the secret".into());
    }
    let len = parts[0].len();
    if len < 2 || parts.iter().any(|p| p.len() != len) {
        return Err("the key group parts differ in length".into());
    }
    let xs: Vec<u8> = parts.iter().map(|p| p[len - 1]).collect();
    for (i, x) in xs.iter().enumerate() {
        if xs[..i].contains(x) || *x == 0 {
            return Err("duplicate or invalid part detected".into());
        }
    }
    let mut secret = Zeroizing::new(vec![0u8; len - 1]);
    for (idx, out) in secret.iter_mut().enumerate() {
        let mut acc = 0u8;
        for (i, part) in parts.iter().enumerate() {
            let mut basis = 1u8;
            for (j, &xj) in xs.iter().enumerate() {
                if i != j {
                    // (0 - xj) / (xi - xj) in characteristic 2 is xj / (xi ^ xj).
                    basis = gf_mul(basis, gf_mul(xj, gf_inv(xs[i] ^ xj)));
                }
            }
            acc ^= gf_mul(part[idx], basis);
        }
        *out = acc;
    }
    Ok(secret)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gf_inverse_is_an_inverse() {
        for a in 1..=255u8 {
            assert_eq!(gf_mul(a, gf_inv(a)), 1, "inverse of {a}");
        }
    }

    #[test]
    fn shamir_any_threshold_subset_recovers_the_secret() {
        let secret = [0x42u8; 32];
        let shares = shamir_split(&secret, 3, 2).expect("splits");
        for (a, b) in [(0, 1), (0, 2), (1, 2)] {
            let pair = vec![
                Zeroizing::new(shares[a].to_vec()),
                Zeroizing::new(shares[b].to_vec()),
            ];
            assert_eq!(&shamir_combine(&pair).expect("combines")[..], &secret[..]);
        }
        let one = vec![Zeroizing::new(shares[0].to_vec())];
        assert!(shamir_combine(&one).is_err());
    }
}
