//! RFC 8785 (JCS) canonical JSON and the SHA-256 hash every object is known by.

use serde::Serialize;
use sha2::{Digest, Sha256};

use super::bytes::Hash32;
use super::error::LedgerError;

/// The largest integer a hashed object may hold: JCS writes numbers as
/// IEEE-754 doubles, which are exact only up to 2^53.
pub const MAX_SAFE_INTEGER: u64 = (1 << 53) - 1;

/// The RFC 8785 canonical form of `value`.
pub fn canonical_bytes<T: Serialize>(value: &T) -> Result<Vec<u8>, LedgerError> {
    serde_json_canonicalizer::to_vec(value).map_err(|e| LedgerError::Encoding(e.to_string()))
}

/// SHA-256 of raw bytes.
pub fn sha256(data: &[u8]) -> Hash32 {
    Hash32(Sha256::digest(data).into())
}

/// SHA-256 over the canonical form: the hash of a block header, a
/// transaction, the genesis, or any signed message.
pub fn hash_of<T: Serialize>(value: &T) -> Result<Hash32, LedgerError> {
    Ok(sha256(&canonical_bytes(value)?))
}

/// Refuses integers that JCS cannot carry exactly.
pub fn check_safe_integer(field: &'static str, value: u64) -> Result<(), LedgerError> {
    if value > MAX_SAFE_INTEGER {
        return Err(LedgerError::IntegerTooLarge { field });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn jcs(input: &str) -> String {
        let v: Value = serde_json::from_str(input).unwrap();
        String::from_utf8(canonical_bytes(&v).unwrap()).unwrap()
    }

    // RFC 8785 section 3.2.2 (the sample of section 3.2.1 re-serialized).
    #[test]
    fn rfc8785_sample_input() {
        let input = r#"{
          "numbers": [333333333.33333329, 1E30, 4.50,
                      2e-3, 0.000000000000000000000000001],
          "string": "\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/",
          "literals": [null, true, false]
        }"#;
        let expected = r#"{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],"string":"€$\u000f\nA'B\"\\\\\"/"}"#;
        assert_eq!(jcs(input), expected);
    }

    // RFC 8785 section 3.2.3: property sorting by UTF-16 code units.
    #[test]
    fn rfc8785_property_sorting() {
        let input = r#"{
          "\u20ac": "Euro Sign",
          "\r": "Carriage Return",
          "\ufb33": "Hebrew Letter Dalet With Dagesh",
          "1": "One",
          "\ud83d\ude00": "Emoji: Grinning Face",
          "\u0080": "Control",
          "\u00f6": "Latin Small Letter O With Diaeresis"
        }"#;
        let expected = "{\"\\r\":\"Carriage Return\",\"1\":\"One\",\"\u{0080}\":\"Control\",\
                        \"\u{00f6}\":\"Latin Small Letter O With Diaeresis\",\"\u{20ac}\":\"Euro Sign\",\
                        \"\u{1f600}\":\"Emoji: Grinning Face\",\"\u{fb33}\":\"Hebrew Letter Dalet With Dagesh\"}";
        assert_eq!(jcs(input), expected);
    }

    // RFC 8785 Appendix B: number serialization samples (IEEE-754 hex → JCS).
    #[test]
    fn rfc8785_number_samples() {
        let cases: &[(u64, &str)] = &[
            (0x0000000000000000, "0"),
            (0x8000000000000000, "0"),
            (0x0000000000000001, "5e-324"),
            (0x8000000000000001, "-5e-324"),
            (0x7fefffffffffffff, "1.7976931348623157e+308"),
            (0xffefffffffffffff, "-1.7976931348623157e+308"),
            (0x4340000000000000, "9007199254740992"),
            (0xc340000000000000, "-9007199254740992"),
            (0x4430000000000000, "295147905179352830000"),
            (0x44b52d02c7e14af5, "9.999999999999997e+22"),
            (0x44b52d02c7e14af6, "1e+23"),
            (0x44b52d02c7e14af7, "1.0000000000000001e+23"),
            (0x444b1ae4d6e2ef4e, "999999999999999700000"),
            (0x444b1ae4d6e2ef4f, "999999999999999900000"),
            (0x444b1ae4d6e2ef50, "1e+21"),
            (0x3eb0c6f7a0b5ed8c, "9.999999999999997e-7"),
            (0x3eb0c6f7a0b5ed8d, "0.000001"),
            (0x41b3de4355555553, "333333333.3333332"),
            (0x41b3de4355555554, "333333333.33333325"),
            (0x41b3de4355555555, "333333333.3333333"),
            (0x41b3de4355555556, "333333333.3333334"),
            (0x41b3de4355555557, "333333333.33333343"),
            (0xbecbf647612f3696, "-0.0000033333333333333333"),
            (0x43143ff3c1cb0959, "1424953923781206.2"),
        ];
        for (bits, expected) in cases {
            let v = f64::from_bits(*bits);
            let out = String::from_utf8(canonical_bytes(&v).unwrap()).unwrap();
            assert_eq!(&out, expected, "bits {bits:#018x}");
        }
    }

    #[test]
    fn rfc8785_refuses_nan_and_infinity() {
        // serde_json turns non-finite floats into null in a Value; canonicalizing
        // the raw float must not invent a number for them.
        let out = canonical_bytes(&f64::NAN);
        assert!(out.is_err() || out.unwrap() == b"null");
    }

    #[test]
    fn hash_is_over_canonical_form() {
        let a: Value = serde_json::from_str(r#"{"b":1,"a":[true]}"#).unwrap();
        let b: Value = serde_json::from_str(r#"{ "a" : [ true ], "b" : 1 }"#).unwrap();
        assert_eq!(hash_of(&a).unwrap(), hash_of(&b).unwrap());
        assert_eq!(hash_of(&a).unwrap(), sha256(br#"{"a":[true],"b":1}"#));
    }

    #[test]
    fn safe_integer_bound() {
        assert!(check_safe_integer("x", MAX_SAFE_INTEGER).is_ok());
        assert!(check_safe_integer("x", MAX_SAFE_INTEGER + 1).is_err());
    }
}
