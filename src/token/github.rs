//! GitHub token formats (2021 onwards).
//!
//! A classic token is a prefix naming its type and 36 base62 characters: 30 random ones and a
//! 6-character checksum, the CRC32 of those 30 encoded in base62 (alphabet `0-9A-Za-z`,
//! left-padded with `0`). Checking it catches typos and truncated copies without a network call.
//! Fine-grained PATs are `github_pat_` + 22 + `_` + 59 base62 characters; their checksum scheme
//! is not public, so only the shape is checked.

const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// Classic prefixes and what they mean.
const PREFIXES: &[(&str, &str)] = &[
    ("ghp_", "GitHub personal access token (classic)"),
    ("gho_", "GitHub OAuth access token"),
    ("ghu_", "GitHub user-to-server token"),
    ("ghs_", "GitHub server-to-server token"),
    ("ghr_", "GitHub refresh token"),
];

const FINE_GRAINED_PREFIX: &str = "github_pat_";

/// Encodes `n` in base62, left-padded with `0` to 6 characters.
pub fn base62_checksum(n: u32) -> String {
    let mut out = [b'0'; 6];
    let mut v = n;
    for slot in out.iter_mut().rev() {
        *slot = BASE62[(v % 62) as usize];
        v /= 62;
    }
    // 62^6 > 2^32, so six characters always hold a CRC32.
    String::from_utf8_lossy(&out).into_owned()
}

/// The checksum GitHub appends to the 30 random characters of a classic token.
pub fn checksum_of(random_part: &str) -> String {
    base62_checksum(crc32fast::hash(random_part.as_bytes()))
}

/// Checks a GitHub token. `Ok` names what it is; `Err` says why it is not valid, without
/// quoting the token.
pub fn check(token: &str) -> Result<String, String> {
    if let Some(rest) = token.strip_prefix(FINE_GRAINED_PREFIX) {
        return check_fine_grained(rest);
    }
    let Some((prefix, label)) = PREFIXES.iter().find(|(p, _)| token.starts_with(p)) else {
        return Err(unknown_reason(token));
    };
    let body = &token[prefix.len()..];
    if !body.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(format!(
            "{label} with characters outside base62 after {prefix}"
        ));
    }
    let n = body.len();
    if n != 36 {
        return Err(format!(
            "{label} must have 36 base62 characters after {prefix}, found {n} ({})",
            if n < 36 {
                "truncated?"
            } else {
                "extra characters?"
            }
        ));
    }
    let (random, sum) = body.split_at(30);
    if checksum_of(random) != sum {
        return Err(format!(
            "{label} has a bad checksum: the last 6 characters are not the CRC32 of the 30 \
             before them (a typo or a mangled copy)"
        ));
    }
    Ok(format!("{label} ({prefix}), checksum ok"))
}

fn check_fine_grained(rest: &str) -> Result<String, String> {
    let label = "GitHub fine-grained personal access token";
    let parts: Vec<&str> = rest.split('_').collect();
    let shape_ok = parts.len() == 2
        && parts[0].len() == 22
        && parts[1].len() == 59
        && parts
            .iter()
            .all(|p| p.bytes().all(|b| b.is_ascii_alphanumeric()));
    if shape_ok {
        Ok(format!(
            "{label} (github_pat_), format ok (no public checksum to verify)"
        ))
    } else {
        Err(format!(
            "{label} must be github_pat_ + 22 + '_' + 59 base62 characters, found {} characters after the prefix",
            rest.len()
        ))
    }
}

fn unknown_reason(token: &str) -> String {
    let n = token.chars().count();
    if n == 40 && token.bytes().all(|b| b.is_ascii_hexdigit()) {
        return "legacy 40-hex GitHub token: no longer issued and cannot be checked; create a new one"
            .to_string();
    }
    format!(
        "not a GitHub token: expected ghp_/gho_/ghu_/ghs_/ghr_ + 36 characters or github_pat_ (found {n} characters with no known prefix)"
    )
}

/// Builds a checksum-valid classic token from a prefix and 30 base62 characters (tests, docs).
pub fn make_token(prefix: &str, random_part: &str) -> String {
    format!("{prefix}{random_part}{}", checksum_of(random_part))
}

#[cfg(test)]
mod tests {
    use super::*;

    const RANDOM: &str = "aBcDeFgHiJkLmNoPqRsTuVwXyZ0123";

    #[test]
    fn base62_padding_and_alphabet() {
        assert_eq!(base62_checksum(0), "000000");
        assert_eq!(base62_checksum(61), "00000z");
        assert_eq!(base62_checksum(62), "000010");
        assert_eq!(base62_checksum(u32::MAX), "4gfFC3");
    }

    #[test]
    fn crc32_reference_value() {
        // CRC32("123456789") = 0xCBF43926, the standard check value.
        assert_eq!(crc32fast::hash(b"123456789"), 0xCBF4_3926);
        assert_eq!(checksum_of("123456789"), base62_checksum(0xCBF4_3926));
    }

    #[test]
    fn valid_tokens_of_every_prefix() {
        for (p, _) in PREFIXES {
            let t = make_token(p, RANDOM);
            assert_eq!(t.len(), 40);
            let ok = check(&t).expect("valid");
            assert!(ok.contains("checksum ok"), "{ok}");
        }
    }

    #[test]
    fn every_single_character_change_is_caught() {
        let t = make_token("ghp_", RANDOM);
        let alphabet = BASE62;
        for i in 4..t.len() {
            let mut bytes = t.clone().into_bytes();
            let orig = bytes[i];
            let replacement = alphabet
                .iter()
                .copied()
                .find(|&c| c != orig)
                .expect("other char");
            bytes[i] = replacement;
            let mutated = String::from_utf8(bytes).expect("ascii");
            let err = check(&mutated).expect_err("mutation must be caught");
            assert!(err.contains("bad checksum"), "{i}: {err}");
        }
    }

    #[test]
    fn swapped_neighbours_are_caught() {
        let t = make_token("gho_", RANDOM);
        let mut b = t.into_bytes();
        b.swap(10, 11);
        let err = check(&String::from_utf8(b).expect("ascii")).expect_err("swap");
        assert!(err.contains("bad checksum"));
    }

    #[test]
    fn length_and_charset_errors() {
        let t = make_token("ghu_", RANDOM);
        let short = &t[..t.len() - 1];
        assert!(
            check(short)
                .expect_err("short")
                .contains("found 35 (truncated?)")
        );
        let long = format!("{t}x");
        assert!(check(&long).expect_err("long").contains("found 37"));
        let bad = t.replace('a', "-");
        assert!(check(&bad).expect_err("charset").contains("outside base62"));
        assert!(check("").expect_err("empty").contains("not a GitHub token"));
        assert!(
            check("xyz_123")
                .expect_err("prefix")
                .contains("no known prefix")
        );
        assert!(
            check("0123456789abcdef0123456789abcdef01234567")
                .expect_err("legacy")
                .contains("legacy")
        );
    }

    #[test]
    fn errors_never_quote_the_token() {
        let t = make_token("ghp_", RANDOM);
        let mut b = t.into_bytes();
        b[39] = if b[39] == b'A' { b'B' } else { b'A' };
        let err = check(&String::from_utf8(b).expect("ascii")).expect_err("bad");
        assert!(!err.contains(RANDOM));
    }

    #[test]
    fn fine_grained() {
        let t = format!("github_pat_{}_{}", "A".repeat(22), "b".repeat(59));
        assert!(check(&t).expect("ok").contains("fine-grained"));
        let short = format!("github_pat_{}_{}", "A".repeat(22), "b".repeat(58));
        assert!(check(&short).is_err());
        let bad = format!("github_pat_{}-{}", "A".repeat(22), "b".repeat(59));
        assert!(check(&bad).is_err());
    }
}
