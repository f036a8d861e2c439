//! Kubernetes resource quantities (`500m`, `1Gi`, `1e3`, `1.5`), parsed as the API server
//! parses them and compared exactly.
//!
//! Grammar (`k8s.io/apimachinery/pkg/api/resource`, `Quantity`):
//!
//! ```text
//! quantity     ::= signedNumber suffix
//! signedNumber ::= [ "+" | "-" ] number
//! number       ::= digits | digits "." digits | digits "." | "." digits
//! suffix       ::= "" | binarySI | decimalSI | decimalExponent
//! binarySI     ::= Ki | Mi | Gi | Ti | Pi | Ei                  (powers of 1024)
//! decimalSI    ::= n | u | m | k | M | G | T | P | E            (powers of 1000)
//! decimalExponent ::= ( "e" | "E" ) [ "+" | "-" ] digits         (a power of 10)
//! ```
//!
//! Like the API server, a value is kept as a whole number of nano-units (10⁻⁹): a
//! non-zero value finer than that is rounded up, away from zero (`0.1n` is `1n`), and a
//! binary-suffixed value is capped at 2⁶³−1. Values are never floating point: they are
//! scaled integers in `i128`, so `1Gi == 1024Mi` and `1 == 1000m` exactly.
//!
//! Where this parser is stricter than Go's scanner, it says why in the error: a number
//! with no digit at all (`.`, `-`), which Go lets through as zero; more than
//! [`MAX_SIGNIFICANT_DIGITS`] significant digits; a decimal value beyond about 10²⁹.
//! Surrounding whitespace is ignored, as the API server's JSON decoding trims it.

use serde::de::{self, Deserialize, Deserializer, Visitor};
use std::cmp::Ordering;
use std::fmt;

/// Nano-units per unit.
const NANOS_PER_UNIT: i128 = 1_000_000_000;

/// The most significant digits (leading and trailing zeros aside) a quantity may have.
/// Real quantities have a handful; the API server's own fast path takes 18.
pub const MAX_SIGNIFICANT_DIGITS: usize = 20;

/// The cap of binary-suffixed values, in units (the API server's `maxAllowed`).
const BINARY_CAP_UNITS: i128 = i64::MAX as i128;

/// A parsed quantity: its exact value, and the text it was written as (for messages).
#[derive(Clone, Debug)]
pub struct Quantity {
    nanos: i128,
    text: String,
}

/// Why a string is not a quantity.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QuantityError {
    pub text: String,
    pub reason: String,
}

impl fmt::Display for QuantityError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:?} is not a Kubernetes quantity: {}",
            self.text, self.reason
        )
    }
}

impl std::error::Error for QuantityError {}

/// What a suffix multiplies the number by: 10^`exp10` × 2^`exp2`.
struct Suffix {
    exp10: i64,
    exp2: u32,
}

fn suffix(s: &str) -> Option<Suffix> {
    let (exp10, exp2) = match s {
        "" => (0, 0),
        "n" => (-9, 0),
        "u" => (-6, 0),
        "m" => (-3, 0),
        "k" => (3, 0),
        "M" => (6, 0),
        "G" => (9, 0),
        "T" => (12, 0),
        "P" => (15, 0),
        "E" => (18, 0),
        "Ki" => (0, 10),
        "Mi" => (0, 20),
        "Gi" => (0, 30),
        "Ti" => (0, 40),
        "Pi" => (0, 50),
        "Ei" => (0, 60),
        _ => {
            // An exponent: e or E, then a signed 32-bit integer (Go's strconv.ParseInt).
            let rest = s.strip_prefix(['e', 'E'])?;
            let digits = rest.strip_prefix(['+', '-']).unwrap_or(rest);
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            (i64::from(rest.parse::<i32>().ok()?), 0)
        }
    };
    Some(Suffix { exp10, exp2 })
}

fn pow10(exp: u32) -> Option<i128> {
    10i128.checked_pow(exp)
}

impl Quantity {
    /// Parses a quantity as the API server does (see the module documentation).
    pub fn parse(text: &str) -> Result<Quantity, QuantityError> {
        let fail = |reason: &str| QuantityError {
            text: text.to_string(),
            reason: reason.to_string(),
        };
        let s = text.trim();
        if s.is_empty() {
            return Err(fail("it is empty"));
        }
        let (negative, unsigned) = match s.as_bytes()[0] {
            b'-' => (true, &s[1..]),
            b'+' => (false, &s[1..]),
            _ => (false, s),
        };
        let int_len = unsigned.bytes().take_while(u8::is_ascii_digit).count();
        let int_digits = &unsigned[..int_len];
        let mut rest = &unsigned[int_len..];
        let mut frac_digits = "";
        if let Some(after_dot) = rest.strip_prefix('.') {
            let frac_len = after_dot.bytes().take_while(u8::is_ascii_digit).count();
            frac_digits = &after_dot[..frac_len];
            rest = &after_dot[frac_len..];
        }
        if int_digits.is_empty() && frac_digits.is_empty() {
            return Err(fail(
                "it has no digits (write a number such as 500m, 1Gi or 1.5)",
            ));
        }
        let Some(Suffix { exp10, exp2 }) = suffix(rest) else {
            return Err(fail(&format!(
                "unknown suffix {rest:?} (use n, u, m, k, M, G, T, P, E, Ki, Mi, Gi, Ti, Pi, Ei or an exponent such as e3)"
            )));
        };

        // The significant digits of int_digits followed by frac_digits (without copying
        // them: quantities are parsed for every container), and the power of ten of the
        // last one.
        let all = || int_digits.bytes().chain(frac_digits.bytes());
        let total = int_digits.len() + frac_digits.len();
        let leading_zeros = all().take_while(|&b| b == b'0').count();
        if leading_zeros == total {
            return Ok(Quantity {
                nanos: 0,
                text: text.to_string(),
            });
        }
        let trailing_zeros = all().rev().take_while(|&b| b == b'0').count();
        let significant = total - leading_zeros - trailing_zeros;
        let mut scale = exp10 - frac_digits.len() as i64 + trailing_zeros as i64;
        if significant > MAX_SIGNIFICANT_DIGITS {
            return Err(fail(&format!(
                "it has more than {MAX_SIGNIFICANT_DIGITS} significant digits, too many to compare exactly"
            )));
        }
        // At most 20 decimal digits: below 10^20 < 2^67, no overflow of i128.
        let digits: i128 = all()
            .skip(leading_zeros)
            .take(significant)
            .fold(0, |n, b| n * 10 + i128::from(b - b'0'));
        // digits < 10^20 < 2^67 and exp2 <= 60, so this cannot overflow i128 (< 2^127).
        let mut magnitude = digits << exp2;
        scale += 9; // to nano-units
        let too_large = || {
            fail(
                "it is too large (more than about 10^29) to compare exactly; no resource is that large",
            )
        };
        let mut capped = false;
        if scale >= 0 {
            let factor = u32::try_from(scale)
                .ok()
                .and_then(pow10)
                .ok_or_else(too_large);
            match factor.and_then(|f| magnitude.checked_mul(f).ok_or_else(too_large)) {
                Ok(m) => magnitude = m,
                Err(_) if exp2 > 0 => capped = true,
                Err(e) => return Err(e),
            }
        } else {
            // Round up to a whole nano-unit, as the API server does.
            magnitude = match u32::try_from(-scale).ok().and_then(pow10) {
                Some(divisor) => {
                    let whole = magnitude / divisor;
                    if magnitude % divisor == 0 {
                        whole
                    } else {
                        whole + 1
                    }
                }
                // 10^39 exceeds any magnitude here (< 2^127): a non-zero sliver, so 1n.
                None => 1,
            };
        }
        if exp2 > 0 && (capped || magnitude > BINARY_CAP_UNITS * NANOS_PER_UNIT) {
            magnitude = BINARY_CAP_UNITS * NANOS_PER_UNIT;
        }
        Ok(Quantity {
            nanos: if negative { -magnitude } else { magnitude },
            text: text.to_string(),
        })
    }

    /// The value in nano-units (10⁻⁹).
    pub fn nanos(&self) -> i128 {
        self.nanos
    }

    /// The text the quantity was written as.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    pub fn is_negative(&self) -> bool {
        self.nanos < 0
    }
}

/// Quantities are equal when their values are: `1Gi == 1024Mi`.
impl PartialEq for Quantity {
    fn eq(&self, other: &Self) -> bool {
        self.nanos == other.nanos
    }
}

impl Eq for Quantity {}

impl PartialOrd for Quantity {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Quantity {
    fn cmp(&self, other: &Self) -> Ordering {
        self.nanos.cmp(&other.nanos)
    }
}

impl fmt::Display for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl std::str::FromStr for Quantity {
    type Err = QuantityError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Quantity::parse(s)
    }
}

/// Settings may write a quantity as a string (`"1.5Gi"`) or a bare number (`2`), as
/// Kubernetes objects may.
impl<'de> Deserialize<'de> for Quantity {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct QuantityVisitor;

        impl Visitor<'_> for QuantityVisitor {
            type Value = Quantity;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a quantity such as \"500m\", \"1Gi\" or 2")
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<Quantity, E> {
                Quantity::parse(v).map_err(E::custom)
            }

            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Quantity, E> {
                self.visit_str(&v.to_string())
            }

            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Quantity, E> {
                self.visit_str(&v.to_string())
            }

            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Quantity, E> {
                self.visit_str(&v.to_string())
            }
        }

        deserializer.deserialize_any(QuantityVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nanos(s: &str) -> i128 {
        Quantity::parse(s).unwrap_or_else(|e| panic!("{e}")).nanos()
    }

    fn q(s: &str) -> Quantity {
        Quantity::parse(s).unwrap_or_else(|e| panic!("{e}"))
    }

    const UNIT: i128 = NANOS_PER_UNIT;

    #[test]
    fn parses_every_suffix() {
        let cases: &[(&str, i128)] = &[
            ("0", 0),
            ("1", UNIT),
            ("500m", UNIT / 2),
            ("1.5", 3 * UNIT / 2),
            ("2n", 2),
            ("3u", 3_000),
            ("1k", 1_000 * UNIT),
            ("1M", 1_000_000 * UNIT),
            ("1G", 1_000_000_000 * UNIT),
            ("1T", 10i128.pow(12) * UNIT),
            ("1P", 10i128.pow(15) * UNIT),
            ("1E", 10i128.pow(18) * UNIT),
            ("1Ki", 1024 * UNIT),
            ("1Mi", (1 << 20) * UNIT),
            ("1Gi", (1 << 30) * UNIT),
            ("1Ti", (1 << 40) * UNIT),
            ("1Pi", (1 << 50) * UNIT),
            ("1Ei", (1 << 60) * UNIT),
            ("1e3", 1_000 * UNIT),
            ("1E3", 1_000 * UNIT),
            ("1e+3", 1_000 * UNIT),
            ("25e-3", 25 * UNIT / 1_000),
            ("1.5Gi", 1_610_612_736 * UNIT),
            ("0.5Ki", 512 * UNIT),
            (".5", UNIT / 2),
            ("1.", UNIT),
            ("+2", 2 * UNIT),
            ("-2", -2 * UNIT),
            ("007", 7 * UNIT),
            ("1.000", UNIT),
            ("100.00m", UNIT / 10),
            (" 1Gi ", (1 << 30) * UNIT),
            ("0.0", 0),
            ("-0", 0),
            ("0e9", 0),
            ("0010.0100", 10_010_000_000),
            ("12345678901234567890", 12_345_678_901_234_567_890 * UNIT),
            ("1234567890.1234567890", 1_234_567_890_123_456_789),
        ];
        for (text, expected) in cases {
            assert_eq!(nanos(text), *expected, "{text}");
        }
    }

    #[test]
    fn compares_exactly_across_notations() {
        assert_eq!(q("1Gi"), q("1024Mi"));
        assert_eq!(q("1"), q("1000m"));
        assert_eq!(q("1e3"), q("1k"));
        assert_eq!(q("1.5"), q("1500m"));
        assert_eq!(q("0.5Gi"), q("512Mi"));
        assert!(q("1G") < q("1Gi"));
        assert!(q("999m") < q("1"));
        assert!(q("1n") > q("0"));
        assert!(q("-1") < q("0"));
        // Go's float64 pitfall: 0.1 + 0.2 is exactly 0.3 here.
        assert_eq!(q("300m"), q("0.3"));
        assert_ne!(q("0.30000000000000004"), q("0.3"));
        assert_eq!(q("2Gi").to_string(), "2Gi");
    }

    #[test]
    fn rounds_up_below_a_nano_unit_as_the_api_server_does() {
        assert_eq!(nanos("0.1n"), 1);
        assert_eq!(nanos("1.5n"), 2);
        assert_eq!(nanos("-1.5n"), -2);
        assert_eq!(nanos("1e-30"), 1);
        assert_eq!(nanos("0.30000000000000004"), 300_000_001);
        assert_eq!(nanos("0.1m"), 100_000);
    }

    #[test]
    fn caps_binary_values_at_2_pow_63_minus_1() {
        let cap = i128::from(i64::MAX) * UNIT;
        assert_eq!(nanos("8Ei"), cap);
        assert_eq!(nanos("100000000000000000000Ei"), cap);
        assert_eq!(nanos("-8Ei"), -cap);
        assert_eq!(nanos("7Ei"), 7 * (1 << 60) * UNIT);
        // Decimal values are not capped.
        assert_eq!(nanos("9E"), 9 * 10i128.pow(18) * UNIT);
    }

    #[test]
    fn refuses_malformed_quantities_with_a_reason() {
        let cases: &[(&str, &str)] = &[
            ("", "empty"),
            ("   ", "empty"),
            ("Gi", "no digits"),
            (".", "no digits"),
            ("-", "no digits"),
            ("+.", "no digits"),
            ("2Gb", "unknown suffix \"Gb\""),
            ("1K", "unknown suffix \"K\""),
            ("1gi", "unknown suffix \"gi\""),
            ("1.2.3", "unknown suffix \".3\""),
            ("1e", "unknown suffix \"e\""),
            ("1e3.5", "unknown suffix"),
            ("1e3k", "unknown suffix"),
            ("1ke3", "unknown suffix"),
            ("1Ki3", "unknown suffix"),
            ("1 Gi", "unknown suffix \" Gi\""),
            ("1e99999999999", "unknown suffix"),
            ("1,5", "unknown suffix"),
            ("--1", "no digits"),
            ("0x10", "unknown suffix"),
            ("123456789012345678901", "significant digits"),
            ("1e40", "too large"),
        ];
        for (text, reason) in cases {
            let err = Quantity::parse(text).expect_err(text);
            assert!(err.reason.contains(reason), "{text:?}: {err}");
            assert_eq!(err.text, *text);
        }
        assert_eq!(
            Quantity::parse("2Gb").unwrap_err().to_string(),
            "\"2Gb\" is not a Kubernetes quantity: unknown suffix \"Gb\" (use n, u, m, k, M, G, T, P, E, Ki, Mi, Gi, Ti, Pi, Ei or an exponent such as e3)"
        );
        // Many digits are fine when most of them are zeros.
        assert_eq!(
            nanos("000000000000000000000000001.000000000000000000000"),
            UNIT
        );
    }

    #[test]
    fn deserializes_from_strings_and_numbers() {
        let q: Quantity = serde_json::from_value(serde_json::json!("1Gi")).unwrap();
        assert_eq!(q.nanos(), (1 << 30) * UNIT);
        let q: Quantity = serde_json::from_value(serde_json::json!(2)).unwrap();
        assert_eq!(q.nanos(), 2 * UNIT);
        let q: Quantity = serde_json::from_value(serde_json::json!(0.5)).unwrap();
        assert_eq!(q.nanos(), UNIT / 2);
        let err = serde_json::from_value::<Quantity>(serde_json::json!("2Gb")).unwrap_err();
        assert!(err.to_string().contains("unknown suffix"), "{err}");
        assert!(serde_json::from_value::<Quantity>(serde_json::json!(true)).is_err());
    }
}
