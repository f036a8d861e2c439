//! Kubernetes resource quantities (`500m`, `1Gi`, `1e3`, `1.5`), accepted and valued
//! exactly as the API server accepts and values them, and compared exactly.
//!
//! Grammar (`k8s.io/apimachinery/pkg/api/resource`, `Quantity` and `ParseQuantity`):
//!
//! ```text
//! quantity     ::= signedNumber suffix
//! signedNumber ::= [ "+" | "-" ] number
//! number       ::= digits | digits "." digits | digits "." | "." digits | "." | ""
//! suffix       ::= "" | binarySI | decimalSI | decimalExponent
//! binarySI     ::= Ki | Mi | Gi | Ti | Pi | Ei                  (powers of 1024)
//! decimalSI    ::= n | u | m | k | M | G | T | P | E            (powers of 1000)
//! decimalExponent ::= ( "e" | "E" ) [ "+" | "-" ] digits         (a power of 10)
//! ```
//!
//! What the API server's scanner does beyond the documented grammar, and this parser
//! with it (each case is a row of the table test below, checked against `ParseQuantity`):
//!
//! - A number may have no digit at all: `.`, `-`, `+`, `Gi`, `m`, `e3` are zero. Only
//!   where Go's slow path must read the number does it refuse one without digits: after
//!   `Pi` or `Ei`, or with an exponent below −9 (`e-10`).
//! - Any number of digits (`123456789012345678901234567890`) and any exponent Go's
//!   `strconv.ParseInt` reads as an int64 (`1e30`, `1e-1000`) are accepted. The exponent is
//!   then converted to Go's int32 as Go converts it, keeping the low 32 bits:
//!   `1e4294967296` is 1, `1e99999999999` is 10^1215752191.
//!
//! A value is exact: ±digits × 10^exponent with as many digits as written, never floating
//! point, so `1Gi == 1024Mi`, `1 == 1000m` and `1e30 < 1e30 + 1n` hold. As in the API
//! server, a non-zero value finer than a nano-unit (10⁻⁹) is rounded up, away from zero
//! (`0.1n` is `1n`, `1e-1000` is `1n`), and a binary-suffixed value is capped at
//! 2⁶³−1 in magnitude (`9Ei`). Comparison is exact too (`Quantity.Cmp` falls back to
//! `inf.Dec`, arbitrary precision), and costs time in the number of digits only, whatever
//! the exponents. One divergence, documented: Go keeps a quantity's scale in an int32, so
//! for exponents within the length of the text of −2³¹ its scale arithmetic overflows (a
//! tiny `1.5e-2147483648` becomes a huge number) or its rounding to nano-units does not
//! finish; here such values are what they say, tiny, and round up to `1n`.
//!
//! Surrounding whitespace is ignored, as the API server's JSON decoding
//! (`Quantity.UnmarshalJSON`) trims it before `ParseQuantity`, which itself refuses it
//! ([`Quantity::parse_untrimmed`]).

use serde::de::{self, Deserialize, Deserializer, Visitor};
use std::cmp::Ordering;
use std::fmt;

/// The finest value the API server keeps: 10⁻⁹ (`resource.Nano`).
const NANO_EXPONENT: i64 = -9;

/// 2⁶³−1, the cap of binary-suffixed values (the API server's `maxAllowed`).
const BINARY_CAP: &[u8] = b"9223372036854775807";

/// The characters Go's scanner lets into a suffix before its optional sign and digits.
const SUFFIX_CHARACTERS: &[u8] = b"eEinumkKMGTP";

/// An exact value: ±`digits` × 10^`exponent`.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Decimal {
    /// Never set for zero.
    negative: bool,
    /// Decimal digits (0 to 9), most significant first, with neither leading nor trailing
    /// zeros: empty for zero.
    digits: Vec<u8>,
    exponent: i64,
}

impl Decimal {
    /// ±`digits` × 10^`exponent`, normalized: any leading or trailing zeros in `digits`
    /// are dropped (trailing ones raise the exponent).
    fn new(negative: bool, digits: impl IntoIterator<Item = u8>, exponent: i64) -> Decimal {
        let mut digits: Vec<u8> = digits.into_iter().skip_while(|&d| d == 0).collect();
        let trailing = digits.iter().rev().take_while(|&&d| d == 0).count();
        digits.truncate(digits.len() - trailing);
        Decimal {
            negative: negative && !digits.is_empty(),
            exponent: if digits.is_empty() {
                0
            } else {
                exponent + trailing as i64
            },
            digits,
        }
    }

    fn is_zero(&self) -> bool {
        self.digits.is_empty()
    }

    /// Multiplies by 2^`power` (`power` ≤ 60), exactly.
    fn multiply_by_power_of_two(&mut self, power: u32) {
        let factor = 1u128 << power;
        let mut carry = 0u128;
        let mut product: Vec<u8> = Vec::with_capacity(self.digits.len() + 19);
        for &digit in self.digits.iter().rev() {
            let value = u128::from(digit) * factor + carry;
            product.push((value % 10) as u8);
            carry = value / 10;
        }
        while carry > 0 {
            product.push((carry % 10) as u8);
            carry /= 10;
        }
        product.reverse();
        *self = Decimal::new(self.negative, product, self.exponent);
    }

    /// Rounds a value finer than a nano-unit up to the next nano-unit, away from zero, as
    /// the API server does (`inf.RoundUp` at scale 9).
    fn round_up_to_nanos(&mut self) {
        if self.is_zero() || self.exponent >= NANO_EXPONENT {
            return;
        }
        // Digits below 10⁻⁹; the last digit is not zero, so what is dropped is not zero.
        let below = u64::try_from(NANO_EXPONENT - self.exponent).unwrap_or(u64::MAX);
        let kept = u64::try_from(self.digits.len())
            .unwrap_or(u64::MAX)
            .saturating_sub(below);
        let mut digits = self.digits.clone();
        digits.truncate(usize::try_from(kept).unwrap_or(0));
        // Add one nano-unit.
        let mut carry = true;
        for digit in digits.iter_mut().rev() {
            if *digit == 9 {
                *digit = 0;
            } else {
                *digit += 1;
                carry = false;
                break;
            }
        }
        if carry {
            digits.insert(0, 1);
        }
        *self = Decimal::new(self.negative, digits, NANO_EXPONENT);
    }

    /// Compares the magnitudes (absolute values) exactly, in time linear in the digits.
    fn cmp_magnitude(&self, other: &Decimal) -> Ordering {
        match (self.is_zero(), other.is_zero()) {
            (true, true) => return Ordering::Equal,
            (true, false) => return Ordering::Less,
            (false, true) => return Ordering::Greater,
            (false, false) => {}
        }
        // The power of ten just above the most significant digit decides, then the digits
        // (neither has trailing zeros, so a longer run with the same start is larger).
        let top = |d: &Decimal| d.exponent + d.digits.len() as i64;
        top(self)
            .cmp(&top(other))
            .then_with(|| self.digits.cmp(&other.digits))
    }

    /// The value in nano-units, when it is a whole number of them that fits an `i128`.
    fn nanos(&self) -> Option<i128> {
        let shift = u32::try_from(self.exponent - NANO_EXPONENT).ok()?;
        let mut value: i128 = 0;
        for &digit in &self.digits {
            value = value.checked_mul(10)?.checked_add(i128::from(digit))?;
        }
        value = value.checked_mul(10i128.checked_pow(shift)?)?;
        Some(if self.negative { -value } else { value })
    }
}

impl Ord for Decimal {
    fn cmp(&self, other: &Self) -> Ordering {
        match (self.negative, other.negative) {
            (false, false) => self.cmp_magnitude(other),
            (true, true) => other.cmp_magnitude(self),
            (false, true) => Ordering::Greater,
            (true, false) => Ordering::Less,
        }
    }
}

impl PartialOrd for Decimal {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// An exact value, in one canonical form so that equal values are equal: whole
/// nano-units when they fit an `i128` (every resource anyone writes: machine arithmetic,
/// no allocation), else the digits.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Value {
    Nanos(i128),
    /// Beyond an `i128` of nano-units, so larger in magnitude than any `Nanos`.
    Beyond(Decimal),
}

impl Value {
    fn of(decimal: Decimal) -> Value {
        match decimal.nanos() {
            Some(nanos) => Value::Nanos(nanos),
            None => Value::Beyond(decimal),
        }
    }

    fn is_negative(&self) -> bool {
        match self {
            Value::Nanos(n) => *n < 0,
            Value::Beyond(d) => d.negative,
        }
    }
}

impl Ord for Value {
    fn cmp(&self, other: &Self) -> Ordering {
        match (self, other) {
            (Value::Nanos(a), Value::Nanos(b)) => a.cmp(b),
            (Value::Beyond(a), Value::Beyond(b)) => a.cmp(b),
            (Value::Nanos(_), Value::Beyond(b)) if b.negative => Ordering::Greater,
            (Value::Nanos(_), Value::Beyond(_)) => Ordering::Less,
            (Value::Beyond(a), Value::Nanos(_)) if a.negative => Ordering::Less,
            (Value::Beyond(_), Value::Nanos(_)) => Ordering::Greater,
        }
    }
}

impl PartialOrd for Value {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// 10^`power`, when it fits a `u128` (`power` ≤ 38).
fn power_of_ten(power: u32) -> Option<u128> {
    10u128.checked_pow(power)
}

/// The value in nano-units by machine arithmetic, the same as the exact path gives
/// (digits × 2^exp2 × 10^(exp10 + 9 − fraction length), rounded up away from zero,
/// binary values capped), or `None` where that leaves a `u128` or an `i128`: the exact
/// path then decides.
fn machine_nanos(
    negative: bool,
    int_digits: &str,
    frac_digits: &str,
    suffix: Suffix,
) -> Option<i128> {
    if let Some(magnitude) = small_nanos(int_digits, frac_digits, suffix) {
        let magnitude = i128::from(magnitude);
        return Some(if negative { -magnitude } else { magnitude });
    }
    let digits = int_digits.bytes().chain(frac_digits.bytes());
    let mut mantissa: u128 = 0;
    for digit in digits {
        mantissa = mantissa
            .checked_mul(10)?
            .checked_add(u128::from(digit - b'0'))?;
    }
    let mantissa = mantissa.checked_mul(1u128.checked_shl(suffix.exp2)?)?;
    let scale = suffix.exp10 + 9 - i64::try_from(frac_digits.len()).ok()?;
    let magnitude = if mantissa == 0 {
        0
    } else if scale >= 0 {
        mantissa.checked_mul(power_of_ten(u32::try_from(scale).ok()?)?)?
    } else {
        match u32::try_from(-scale).ok().and_then(power_of_ten) {
            Some(divisor) => mantissa.div_ceil(divisor),
            // Below 10^-38 of a nano-unit times a u128: rounds up to one nano-unit.
            None => 1,
        }
    };
    let magnitude = if suffix.is_binary() {
        magnitude.min(BINARY_CAP_NANOS)
    } else {
        magnitude
    };
    let magnitude = i128::try_from(magnitude).ok()?;
    Some(if negative { -magnitude } else { magnitude })
}

/// [`machine_nanos`]' magnitude in 64 bits, where the number has at most 19 digits and
/// the value fits: what resources are written as (`500m`, `2Gi`). 128-bit arithmetic is
/// a library call in wasm32. No binary value below 2^64 nano-units reaches the cap.
fn small_nanos(int_digits: &str, frac_digits: &str, suffix: Suffix) -> Option<u64> {
    if int_digits.len() + frac_digits.len() > 19 {
        return None;
    }
    let mut mantissa: u64 = 0;
    for digit in int_digits.bytes().chain(frac_digits.bytes()) {
        // At most 19 digits: below 10^19, within a u64.
        mantissa = mantissa * 10 + u64::from(digit - b'0');
    }
    let mantissa = mantissa.checked_mul(1u64.checked_shl(suffix.exp2)?)?;
    let scale = suffix.exp10 + 9 - i64::try_from(frac_digits.len()).ok()?;
    if scale >= 0 {
        return mantissa.checked_mul(10u64.checked_pow(u32::try_from(scale).ok()?)?);
    }
    Some(
        match u32::try_from(-scale)
            .ok()
            .and_then(|k| 10u64.checked_pow(k))
        {
            Some(divisor) => mantissa.div_ceil(divisor),
            // 10^20 and beyond exceed any u64 mantissa: a non-zero value rounds up to 1.
            None => u64::from(mantissa != 0),
        },
    )
}

/// [`BINARY_CAP`] in nano-units.
const BINARY_CAP_NANOS: u128 = (i64::MAX as u128) * 1_000_000_000;

/// A parsed quantity: its exact value, and the text it was written as (for messages).
#[derive(Clone, Debug)]
pub struct Quantity {
    value: Value,
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
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Suffix {
    exp10: i64,
    exp2: u32,
}

impl Suffix {
    fn is_binary(self) -> bool {
        self.exp2 > 0
    }
}

/// Reads a suffix as `ParseQuantity` does: its scanner takes any run of
/// [`SUFFIX_CHARACTERS`], an optional sign and digits, up to the end; then the suffix must
/// be one of the SI or binary suffixes, or `e`/`E` and an integer that Go's
/// `strconv.ParseInt` reads as an int64, which Go then converts to an int32.
fn suffix(s: &str) -> Option<Suffix> {
    let letters = s
        .bytes()
        .take_while(|b| SUFFIX_CHARACTERS.contains(b))
        .count();
    let rest = &s[letters..];
    let digits = rest.strip_prefix(['+', '-']).unwrap_or(rest);
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
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
            let exponent = s.strip_prefix(['e', 'E']).and_then(go_parse_int64)?;
            // Go's int32(parsed): the low 32 bits, as `as` keeps them.
            (i64::from(exponent as i32), 0)
        }
    };
    Some(Suffix { exp10, exp2 })
}

/// `strconv.ParseInt(s, 10, 64)`: an optional sign, at least one ASCII digit, nothing
/// else, within the int64 range.
fn go_parse_int64(s: &str) -> Option<i64> {
    let (negative, digits) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let significant = digits.trim_start_matches('0');
    if significant.len() > 19 {
        return None;
    }
    let magnitude: u64 = if significant.is_empty() {
        0
    } else {
        significant.parse().ok()?
    };
    if negative {
        0i64.checked_sub_unsigned(magnitude)
    } else {
        i64::try_from(magnitude).ok()
    }
}

/// The value by exact decimal arithmetic, for any number of digits and any exponent:
/// ±digits × 10^exp10 × 2^exp2, rounded up to nano-units, binary values capped.
fn exact_value(negative: bool, int_digits: &str, frac_digits: &str, suffix: Suffix) -> Decimal {
    let digits = int_digits
        .bytes()
        .chain(frac_digits.bytes())
        .map(|b| b - b'0');
    // exp10 is an int32 and the fraction at most as long as the text: no overflow.
    let mut value = Decimal::new(negative, digits, suffix.exp10 - frac_digits.len() as i64);
    if suffix.is_binary() {
        value.multiply_by_power_of_two(suffix.exp2);
    }
    value.round_up_to_nanos();
    if suffix.is_binary() {
        let cap = Decimal::new(false, BINARY_CAP.iter().map(|b| b - b'0'), 0);
        if value.cmp_magnitude(&cap) == Ordering::Greater {
            value = Decimal {
                negative: value.negative,
                ..cap
            };
        }
    }
    value
}

impl Quantity {
    /// Parses a quantity as the API server decodes one from JSON (`Quantity.UnmarshalJSON`):
    /// surrounding whitespace is trimmed, then the text is read as [`Quantity::parse_untrimmed`].
    pub fn parse(text: &str) -> Result<Quantity, QuantityError> {
        Self::read(text, text.trim())
    }

    /// Parses a quantity exactly as Go's `resource.ParseQuantity` does, whitespace
    /// included (it refuses `" 1"`). See the module documentation.
    pub fn parse_untrimmed(text: &str) -> Result<Quantity, QuantityError> {
        Self::read(text, text)
    }

    fn read(text: &str, s: &str) -> Result<Quantity, QuantityError> {
        let fail = |reason: String| QuantityError {
            text: text.to_string(),
            reason,
        };
        if s.is_empty() {
            return Err(fail("it is empty".to_string()));
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
        let Some(suffix) = suffix(rest) else {
            return Err(fail(format!(
                "unknown suffix {rest:?} (use n, u, m, k, M, G, T, P, E, Ki, Mi, Gi, Ti, Pi, Ei or an exponent such as e3)"
            )));
        };
        if int_digits.is_empty() && frac_digits.is_empty() {
            // Go reads a number without digits as zero on its fast path (`.`, `-`, `Gi`,
            // `e3`), and refuses it on its slow path (`inf.Dec`), taken when the fast path
            // would leave the int64 range (from `Pi` on: it allows 15 − 1 − ⌊0.3 × 50⌋ − 1
            // digits of headroom, fewer than none) or go below nano-units (`e-10`).
            let slow = if suffix.is_binary() {
                suffix.exp2 >= 50
            } else {
                suffix.exp10 < NANO_EXPONENT
            };
            if slow {
                return Err(fail(
                    "it has no digits (write a number such as 500m, 1Gi or 1.5)".to_string(),
                ));
            }
        }
        let value = match machine_nanos(negative, int_digits, frac_digits, suffix) {
            Some(nanos) => Value::Nanos(nanos),
            None => Value::of(exact_value(negative, int_digits, frac_digits, suffix)),
        };
        Ok(Quantity {
            value,
            text: text.to_string(),
        })
    }

    /// The value in nano-units (10⁻⁹), when it fits an `i128` (about ±1.7 × 10²⁹ units,
    /// far beyond any resource; larger quantities still compare exactly).
    pub fn nanos(&self) -> Option<i128> {
        match self.value {
            Value::Nanos(nanos) => Some(nanos),
            Value::Beyond(_) => None,
        }
    }

    /// The text the quantity was written as.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    pub fn is_negative(&self) -> bool {
        self.value.is_negative()
    }

    pub fn is_zero(&self) -> bool {
        self.value == Value::Nanos(0)
    }
}

/// Quantities are equal when their values are: `1Gi == 1024Mi`.
impl PartialEq for Quantity {
    fn eq(&self, other: &Self) -> bool {
        self.value == other.value
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
        self.value.cmp(&other.value)
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
    use proptest::prelude::*;

    fn q(s: &str) -> Quantity {
        Quantity::parse(s).unwrap_or_else(|e| panic!("{e}"))
    }

    fn nanos(s: &str) -> i128 {
        q(s).nanos().unwrap_or_else(|| panic!("{s} fits"))
    }

    /// ±`digits` × 10^`exponent`, the way upstream's tests write an expected value
    /// (`decQuantity(124, -9, ...)`).
    fn exact(digits: &str, exponent: i64) -> Decimal {
        let (negative, digits) = match digits.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, digits),
        };
        Decimal::new(negative, digits.bytes().map(|b| b - b'0'), exponent)
    }

    /// A plain decimal literal (`-9223372036854775808.1`), as upstream's `ptrDec` writes one.
    fn literal(text: &str) -> Decimal {
        let (int, frac) = text.split_once('.').unwrap_or((text, ""));
        exact(&format!("{int}{frac}"), -(frac.len() as i64))
    }

    fn assert_value(input: &str, expected: &Decimal) {
        let parsed = Quantity::parse_untrimmed(input)
            .unwrap_or_else(|e| panic!("ParseQuantity accepts {input:?}: {e}"));
        assert_eq!(parsed.value, Value::of(expected.clone()), "{input}");
    }

    const UNIT: i128 = 1_000_000_000;

    /// Upstream's own table: k8s.io/apimachinery/pkg/api/resource/quantity_test.go,
    /// `TestQuantityParse` (inputs and the values `ParseQuantity` gives them), with its
    /// loops over every input again with `-` and `+` in front, and its list of inputs
    /// `ParseQuantity` refuses.
    #[test]
    fn upstream_test_quantity_parse_table() {
        let table: &[(&str, &str, i64)] = &[
            ("0", "0", 0),
            ("0n", "0", 0),
            ("0u", "0", 0),
            ("0m", "0", 0),
            ("0Ki", "0", 0),
            ("0k", "0", 0),
            ("0Mi", "0", 0),
            ("0M", "0", 0),
            ("0Gi", "0", 0),
            ("0G", "0", 0),
            ("0Ti", "0", 0),
            ("0T", "0", 0),
            // Quantity less numbers are allowed
            ("1", "1", 0),
            // Binary suffixes
            ("1Ki", "1024", 0),
            ("8Ki", "8192", 0),
            ("7Mi", "7340032", 0),
            ("6Gi", "6442450944", 0),
            ("5Ti", "5497558138880", 0),
            ("4Pi", "4503599627370496", 0),
            ("3Ei", "3458764513820540928", 0),
            ("10Ti", "10995116277760", 0),
            ("100Ti", "109951162777600", 0),
            // Decimal suffixes
            ("5n", "5", -9),
            ("4u", "4", -6),
            ("3m", "3", -3),
            ("9", "9", 0),
            ("8k", "8", 3),
            ("50k", "5", 4),
            ("7M", "7", 6),
            ("6G", "6", 9),
            ("5T", "5", 12),
            ("40T", "4", 13),
            ("300T", "3", 14),
            ("2P", "2", 15),
            ("1E", "1", 18),
            // Decimal exponents
            ("1E-3", "1", -3),
            ("1e3", "1", 3),
            ("1E6", "1", 6),
            ("1e9", "1", 9),
            ("1E12", "1", 12),
            ("1e15", "1", 15),
            ("1E18", "1", 18),
            // Nonstandard but still parsable
            ("1e14", "1", 14),
            ("1e13", "1", 13),
            ("1e3", "1", 3),
            ("100.035k", "100035", 0),
            // Things that look like floating point
            ("0.001", "1", -3),
            ("0.0005k", "5", -1),
            ("0.005", "5", -3),
            ("0.05", "5", -2),
            ("0.5", "5", -1),
            ("0.00050k", "5", -1),
            ("0.00500", "5", -3),
            ("0.05000", "5", -2),
            ("0.50000", "5", -1),
            ("0.5e0", "5", -1),
            ("0.5e-1", "5", -2),
            ("0.5e-2", "5", -3),
            ("0.5e0", "5", -1),
            ("10.035M", "10035", 3),
            ("1.2e3", "12", 2),
            ("1.3E+6", "13", 5),
            ("1.40e9", "14", 8),
            ("1.53E12", "153", 10),
            ("1.6e15", "16", 14),
            ("1.7E18", "17", 17),
            ("9.01", "901", -2),
            ("8.1k", "81", 2),
            ("7.123456M", "7123456", 0),
            ("6.987654321G", "6987654321", 0),
            ("5.444T", "5444", 9),
            ("40.1T", "401", 11),
            ("300.2T", "3002", 11),
            ("2.5P", "25", 14),
            ("1.01E", "101", 16),
            // Things that saturate/round
            ("3.001n", "4", -9),
            ("1.1E-9", "2", -9),
            ("0.0000000001", "1", -9),
            ("0.0000000005", "1", -9),
            ("0.00000000050", "1", -9),
            ("0.5e-9", "1", -9),
            ("0.9n", "1", -9),
            ("0.00000012345", "124", -9),
            ("0.00000012354", "124", -9),
            ("9Ei", "9223372036854775807", 0),
            ("9223372036854775807Ki", "9223372036854775807", 0),
            ("12E", "12", 18),
            // We'll accept fractional binary stuff, too.
            ("100.035Ki", "10243584", -2),
            ("0.5Mi", "524288", 0),
            ("0.05Gi", "536870912", -1),
            ("0.025Ti", "274877906944", -1),
            // Things written by trolls
            ("0.000000000001Ki", "2", -9),
            (".001", "1", -3),
            (".0001k", "100", -3),
            ("1.", "1", 0),
            ("1.G", "1", 9),
        ];
        for &(input, digits, exponent) in table {
            let expected = exact(digits, exponent);
            assert_value(input, &expected);
            let negated = Decimal {
                negative: !expected.is_zero(),
                ..expected.clone()
            };
            assert_value(&format!("-{input}"), &negated);
            assert_value(&format!("+{input}"), &expected);
        }
        assert!(Quantity::parse_untrimmed("").is_err());
        // Invalid inputs of the same test; ParseQuantity refuses surrounding whitespace
        // (the API server's JSON decoding trims it first: see the whitespace test).
        for input in [
            "1.1.M", "1+1.0M", "0.1mi", "0.1am", "aoeu", ".5i", "1i", "-3.01i", "-3.01e-", " 1",
            "1 ",
        ] {
            assert!(
                Quantity::parse_untrimmed(input).is_err(),
                "ParseQuantity refuses {input:?}"
            );
        }
    }

    /// Upstream's boundary cases around 18, 19 and 20 digits and the int64 range:
    /// quantity_test.go, `TestParseQuantity` (each input and its `wantAsDec`). More than
    /// 18 digits takes Go's `inf.Dec` path; every one of them is a valid quantity.
    #[test]
    fn upstream_test_parse_quantity_boundaries() {
        let table: &[(&str, &str)] = &[
            // min/max 18 digits
            ("-999999999999999999", "-999999999999999999"),
            ("999999999999999999", "999999999999999999"),
            // .0
            ("-999999999999999999.0", "-999999999999999999"),
            ("999999999999999999.0", "999999999999999999"),
            // .1
            ("-999999999999999999.1", "-999999999999999999.1"),
            ("999999999999999999.1", "999999999999999999.1"),
            // min/max 19 digits
            ("-9999999999999999999", "-9999999999999999999"),
            ("9999999999999999999", "9999999999999999999"),
            ("-1E", "-1000000000000000000"),
            ("1E", "1000000000000000000"),
            ("-1000000000000000000", "-1000000000000000000"),
            ("1000000000000000000", "1000000000000000000"),
            // .0
            ("-9999999999999999999.0", "-9999999999999999999"),
            ("9999999999999999999.0", "9999999999999999999"),
            ("-1.0E", "-1000000000000000000"),
            ("1.0E", "1000000000000000000"),
            ("-1000000000000000000.0", "-1000000000000000000"),
            ("1000000000000000000.0", "1000000000000000000"),
            // 000m
            ("-9999999999999999999000m", "-9999999999999999999"),
            ("9999999999999999999000m", "9999999999999999999"),
            // .1
            ("-9999999999999999999.1", "-9999999999999999999.1"),
            ("9999999999999999999.1", "9999999999999999999.1"),
            ("-1.0000000000000000001E", "-1000000000000000000.1"),
            ("1.0000000000000000001E", "1000000000000000000.1"),
            ("-1000000000000000000.1", "-1000000000000000000.1"),
            ("1000000000000000000.1", "1000000000000000000.1"),
            // +1
            ("-1.000000000000000001E", "-1000000000000000001"),
            ("1.000000000000000001E", "1000000000000000001"),
            ("-1000000000000000001", "-1000000000000000001"),
            ("1000000000000000001", "1000000000000000001"),
            // min/max 20 digits
            ("-10E", "-10000000000000000000"),
            ("10E", "10000000000000000000"),
            ("-10000000000000000000", "-10000000000000000000"),
            ("10000000000000000000", "10000000000000000000"),
            // .0
            ("-10.0E", "-10000000000000000000"),
            ("10.0E", "10000000000000000000"),
            ("-10000000000000000000.0", "-10000000000000000000"),
            ("10000000000000000000.0", "10000000000000000000"),
            // 000m
            ("-10000000000000000000000m", "-10000000000000000000"),
            ("10000000000000000000000m", "10000000000000000000"),
            // .1
            ("-10.0000000000000000001E", "-10000000000000000000.1"),
            ("10.0000000000000000001E", "10000000000000000000.1"),
            ("-10000000000000000000.1", "-10000000000000000000.1"),
            ("10000000000000000000.1", "10000000000000000000.1"),
            // +1
            ("-10.000000000000000001E", "-10000000000000000001"),
            ("10.000000000000000001E", "10000000000000000001"),
            ("-10000000000000000001", "-10000000000000000001"),
            ("10000000000000000001", "10000000000000000001"),
            // min/max int64 - 1
            ("-9223372036854775809", "-9223372036854775809"),
            ("9223372036854775806", "9223372036854775806"),
            // .0
            ("-9223372036854775809.0", "-9223372036854775809"),
            ("9223372036854775806.0", "9223372036854775806"),
            // 000m
            ("-9223372036854775809000m", "-9223372036854775809"),
            ("9223372036854775806000m", "9223372036854775806"),
            // .1
            ("-9223372036854775809.1", "-9223372036854775809.1"),
            ("9223372036854775806.1", "9223372036854775806.1"),
            // min/max int64
            ("-9223372036854775808", "-9223372036854775808"),
            ("9223372036854775807", "9223372036854775807"),
            // .0
            ("-9223372036854775808.0", "-9223372036854775808"),
            ("9223372036854775807.0", "9223372036854775807"),
            // 000m
            ("-9223372036854775808000m", "-9223372036854775808"),
            ("9223372036854775807000m", "9223372036854775807"),
            // .1
            ("-9223372036854775808.1", "-9223372036854775808.1"),
            ("9223372036854775807.1", "9223372036854775807.1"),
            // min/max int64 + 1
            ("-9223372036854775807", "-9223372036854775807"),
            ("9223372036854775808", "9223372036854775808"),
            // .0
            ("-9223372036854775807.0", "-9223372036854775807"),
            ("9223372036854775808.0", "9223372036854775808"),
            // 000m
            ("-9223372036854775807000m", "-9223372036854775807"),
            ("9223372036854775808000m", "9223372036854775808"),
            // .1
            ("-9223372036854775807.1", "-9223372036854775807.1"),
            ("9223372036854775808.1", "9223372036854775808.1"),
        ];
        for &(input, value) in table {
            assert_value(input, &literal(value));
        }
    }

    /// The scanner's cases in quantity_test.go: `TestParseQuantityString` (a dot alone is
    /// a number), `TestQuantityParseEmit` (fractions of binary suffixes round up to
    /// nano-units: `.000000000001Ki` is `2n`), and `TestJSONWhitespace` (the JSON decoding,
    /// `Quantity.UnmarshalJSON`, trims before `ParseQuantity`).
    #[test]
    fn upstream_scanner_emit_and_whitespace_cases() {
        for (input, expected) in [
            ("0.025Ti", literal("27487790694.4")),
            ("1.025Ti", literal("1126999418470.4")),
            ("-1.025Ti", literal("-1126999418470.4")),
            (".", literal("0")),
            ("-.", literal("0")),
            ("1E-3", literal("0.001")),
            ("1Ki", literal("1024")),
            ("1024Mi", literal("1073741824")),
            ("1000M", literal("1000000000")),
            (".001Ki", literal("1.024")),
            (".000001Ki", literal("0.001024")),
            (".000000001Ki", literal("0.000001024")),
            (".000000000001Ki", literal("0.000000002")),
            ("-.000000000001Ki", literal("-0.000000002")),
        ] {
            assert_value(input, &expected);
        }
        for input in [" 1", "1 ", " -1", "\t10\n"] {
            assert!(Quantity::parse_untrimmed(input).is_err(), "{input:?}");
            assert_eq!(q(input), q(input.trim()), "{input:?}");
        }
    }

    /// What `ParseQuantity` (quantity.go: `parseQuantityString`, then
    /// `quantitySuffixer.interpret` in suffix.go, then its int64 fast path or its `inf.Dec`
    /// slow path) makes of inputs its tests do not cover, each checked against it: numbers
    /// without digits, exponents of any int64 size, and the int32 conversion of the
    /// exponent.
    #[test]
    fn parse_quantity_edge_cases() {
        let accepted: &[(&str, &str, i64)] = &[
            // No digits: zero, where Go's fast path reads the number.
            ("-", "0", 0),
            ("+", "0", 0),
            ("+.", "0", 0),
            ("Gi", "0", 0),
            ("Ki", "0", 0),
            ("Ti", "0", 0),
            ("m", "0", 0),
            ("e3", "0", 0),
            ("e-9", "0", 0),
            ("0Pi", "0", 0),
            ("-0Ei", "0", 0),
            // Exponents: any int64, converted to int32 as Go converts it.
            ("1e30", "1", 30),
            ("1E+3", "1", 3),
            ("1e0000000000000000000000003", "1", 3),
            ("1e2147483647", "1", 2147483647),
            ("1e4294967296", "1", 0),
            ("1e99999999999", "1", 1215752191),
            ("1e-1000", "1", -9),
            ("-1e-1000", "-1", -9),
            ("-8Ei", "-9223372036854775807", 0),
            (
                "123456789012345678901234567890",
                "123456789012345678901234567890",
                0,
            ),
            ("1E", "1", 18),
        ];
        for &(input, digits, exponent) in accepted {
            assert_value(input, &exact(digits, exponent));
        }
        let refused: &[(&str, &str)] = &[
            // Go's slow path (inf.Dec) needs a digit.
            ("Pi", "no digits"),
            ("Ei", "no digits"),
            ("+.Pi", "no digits"),
            ("e-10", "no digits"),
            (".e-10", "no digits"),
            // Not an int64 exponent, or not a suffix at all.
            (
                "1e9999999999999999999",
                "unknown suffix \"e9999999999999999999\"",
            ),
            ("1e", "unknown suffix \"e\""),
            ("1e+", "unknown suffix \"e+\""),
            ("1k3", "unknown suffix \"k3\""),
            ("--1", "unknown suffix \"-1\""),
            ("2Gb", "unknown suffix \"Gb\""),
            ("1.2.3", "unknown suffix \".3\""),
        ];
        for &(input, reason) in refused {
            let err = Quantity::parse_untrimmed(input).expect_err(input);
            assert!(err.reason.contains(reason), "{input:?}: {err}");
        }
    }

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
        assert!(!q("-0").is_negative());
        assert!(q("-0.0").is_zero());
    }

    /// Upstream's comparisons: quantity_test.go, `TestQuantityCmp` and
    /// `TestQuantityCmpInt64AndDec` (`intQuantity(v, scale)` is written `v e scale`;
    /// mostPositive and mostNegative are the int64 bounds), both ways round.
    #[test]
    fn upstream_comparisons() {
        let table: &[(&str, &str, Ordering)] = &[
            ("0", "0", Ordering::Equal),
            ("100m", "50m", Ordering::Greater),
            ("50m", "100m", Ordering::Less),
            ("10000T", "100Gi", Ordering::Greater),
            ("901e-2", "901e-2", Ordering::Equal),
            ("90e-1", "901e-2", Ordering::Less),
            ("901e-2", "900e-2", Ordering::Greater),
            ("0e1", "0e-1", Ordering::Equal),
            ("800e-3", "1", Ordering::Less),
            ("800e-3", "79e-2", Ordering::Greater),
            ("9223372036854775807", "1e-1", Ordering::Greater),
            ("9223372036854775807e1", "1", Ordering::Greater),
            ("9223372036854775807e1", "1e1", Ordering::Greater),
            ("9223372036854775807e1", "0e1", Ordering::Greater),
            ("9223372036854775807e-16", "1e3", Ordering::Less),
            ("-9223372036854775808", "0", Ordering::Less),
            ("-9223372036854775808e-18", "-1", Ordering::Less),
            ("-9223372036854775808e-19", "-1", Ordering::Greater),
            ("1000000000000000000e-17", "1e1", Ordering::Equal),
            ("1000000000000000000e-17", "-10", Ordering::Greater),
            ("-1000000000000000000e-17", "-10", Ordering::Equal),
            ("1000000000000000000e-17", "1", Ordering::Greater),
            ("1000000000000000001e-17", "1e1", Ordering::Greater),
            // Upstream builds this one below 10 without parsing it; as a quantity text it is
            // finer than a nano-unit, and ParseQuantity rounds it up to 10.
            ("999999999999999999e-17", "1e1", Ordering::Equal),
        ];
        for &(a, b, expected) in table {
            assert_eq!(q(a).cmp(&q(b)), expected, "{a} vs {b}");
            assert_eq!(q(b).cmp(&q(a)), expected.reverse(), "{b} vs {a}");
        }
    }

    #[test]
    fn compares_exactly_across_notations_and_sizes() {
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
        // Beyond any machine integer, still exact.
        assert!(q("1e30") < q("1000000000000000000000000000000.000000001"));
        assert_eq!(q("1e30"), q("1000000000000000000000000000000"));
        assert_eq!(q("1e30"), q("1000000000000000000000000000k"));
        assert!(q("1e2147483647") > q("9e2147483646"));
        assert!(q("-1e2147483647") < q("-9e2147483646"));
        assert!(q("1e2147483647") > q("8Ei"));
        assert_eq!(q("1e99999999999"), q("1e1215752191"));
        assert_eq!(q("1e4294967296"), q("1"));
        assert!(q("1e30").nanos().is_none());
        // Tiny values round up to one nano-unit, at any exponent.
        assert_eq!(q("1e-2147483648"), q("1n"));
        assert_eq!(q("1.5e-2147483648"), q("1n"));
    }

    #[test]
    fn rounds_up_below_a_nano_unit_as_the_api_server_does() {
        assert_eq!(nanos("0.1n"), 1);
        assert_eq!(nanos("1.5n"), 2);
        assert_eq!(nanos("-1.5n"), -2);
        assert_eq!(nanos("1e-30"), 1);
        assert_eq!(nanos("0.30000000000000004"), 300_000_001);
        assert_eq!(nanos("0.1m"), 100_000);
        assert_eq!(nanos("0.999999999999"), UNIT);
        assert_eq!(nanos("9.9999999999e-1"), UNIT);
    }

    #[test]
    fn caps_binary_values_at_2_pow_63_minus_1() {
        let cap = i128::from(i64::MAX) * UNIT;
        assert_eq!(nanos("8Ei"), cap);
        assert_eq!(nanos("100000000000000000000Ei"), cap);
        assert_eq!(nanos("-8Ei"), -cap);
        assert_eq!(nanos("7Ei"), 7 * (1 << 60) * UNIT);
        assert_eq!(nanos("7.9999999999999999999Ei"), cap);
        assert_eq!(
            nanos("7.99999999999Ei"),
            9_223_372_036_843_246_592_953_931_531
        );
        // Decimal values are not capped.
        assert_eq!(nanos("9E"), 9 * 10i128.pow(18) * UNIT);
        assert_eq!(q("1000000E"), q("1e24"));
        assert_eq!(q("9E1000"), q("9e1000"));
    }

    #[test]
    fn refuses_malformed_quantities_with_a_reason() {
        let cases: &[(&str, &str)] = &[
            ("", "empty"),
            ("   ", "empty"),
            ("Ei", "no digits"),
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
            ("1,5", "unknown suffix"),
            ("--1", "unknown suffix"),
            ("0x10", "unknown suffix"),
            ("1e1_000", "unknown suffix"),
            ("１", "unknown suffix"),
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
        assert_eq!(q.nanos(), Some((1 << 30) * UNIT));
        let q: Quantity = serde_json::from_value(serde_json::json!(2)).unwrap();
        assert_eq!(q.nanos(), Some(2 * UNIT));
        let q: Quantity = serde_json::from_value(serde_json::json!(0.5)).unwrap();
        assert_eq!(q.nanos(), Some(UNIT / 2));
        let q: Quantity = serde_json::from_value(serde_json::json!(1e30)).unwrap();
        assert_eq!(q, Quantity::parse("1e30").unwrap());
        let err = serde_json::from_value::<Quantity>(serde_json::json!("2Gb")).unwrap_err();
        assert!(err.to_string().contains("unknown suffix"), "{err}");
        assert!(serde_json::from_value::<Quantity>(serde_json::json!(true)).is_err());
    }

    // -----------------------------------------------------------------------------------
    // Properties
    // -----------------------------------------------------------------------------------

    /// The suffixes and what they multiply by, for the reference model.
    const SUFFIXES: &[(&str, i64, u32)] = &[
        ("", 0, 0),
        ("n", -9, 0),
        ("u", -6, 0),
        ("m", -3, 0),
        ("k", 3, 0),
        ("M", 6, 0),
        ("G", 9, 0),
        ("T", 12, 0),
        ("P", 15, 0),
        ("E", 18, 0),
        ("Ki", 0, 10),
        ("Mi", 0, 20),
        ("Gi", 0, 30),
        ("Ti", 0, 40),
        ("Pi", 0, 50),
        ("Ei", 0, 60),
    ];

    /// A quantity written from parts: sign, integer digits, fraction digits (with or
    /// without a dot), and a suffix or an exponent.
    fn written() -> impl Strategy<Value = (String, bool, String, String, i64, u32)> {
        let suffix = prop_oneof![
            prop::sample::select(SUFFIXES).prop_map(|(s, e10, e2)| (s.to_string(), e10, e2)),
            (prop::sample::select(&["e", "E"][..]), -25i64..25).prop_map(|(e, n)| (
                format!("{e}{n}"),
                n,
                0
            )),
        ];
        (
            prop::sample::select(&["", "+", "-"][..]),
            "[0-9]{0,10}",
            prop::option::of("[0-9]{0,10}"),
            suffix,
        )
            .prop_filter("a digit", |(_, int, frac, _)| {
                !int.is_empty() || frac.as_deref().is_some_and(|f| !f.is_empty())
            })
            .prop_map(|(sign, int, frac, (suffix, e10, e2))| {
                let text = match &frac {
                    Some(f) => format!("{sign}{int}.{f}{suffix}"),
                    None => format!("{sign}{int}{suffix}"),
                };
                (text, sign == "-", int, frac.unwrap_or_default(), e10, e2)
            })
    }

    /// The API server's value in nano-units, computed in integers where it fits an i128:
    /// ⌈|number| × 10^e10 × 2^e2 × 10⁹⌉, capped at (2⁶³−1) × 10⁹ for binary suffixes.
    fn reference_nanos(negative: bool, int: &str, frac: &str, e10: i64, e2: u32) -> Option<i128> {
        let digits: String = format!("{int}{frac}");
        let mantissa: i128 = if digits.is_empty() {
            0
        } else {
            digits.parse().ok()?
        };
        let mantissa = mantissa.checked_mul(1i128.checked_shl(e2)?)?;
        let scale = e10 + 9 - frac.len() as i64;
        let magnitude = if scale >= 0 {
            mantissa.checked_mul(10i128.checked_pow(u32::try_from(scale).ok()?)?)?
        } else {
            let divisor = 10i128.checked_pow(u32::try_from(-scale).ok()?)?;
            (mantissa + divisor - 1) / divisor
        };
        let magnitude = if e2 > 0 {
            magnitude.min(i128::from(i64::MAX) * UNIT)
        } else {
            magnitude
        };
        Some(if negative { -magnitude } else { magnitude })
    }

    /// The value of `text` by the exact path alone.
    fn exactly(text: &str) -> Value {
        let parsed = q(text);
        let (negative, unsigned) = match text.as_bytes().first() {
            Some(b'-') => (true, &text[1..]),
            Some(b'+') => (false, &text[1..]),
            _ => (false, text),
        };
        let int_len = unsigned.bytes().take_while(u8::is_ascii_digit).count();
        let (int, rest) = unsigned.split_at(int_len);
        let (frac, rest) = match rest.strip_prefix('.') {
            Some(after) => after.split_at(after.bytes().take_while(u8::is_ascii_digit).count()),
            None => ("", rest),
        };
        let value = Value::of(exact_value(negative, int, frac, suffix(rest).unwrap()));
        assert_eq!(parsed.value, value, "{text}");
        value
    }

    #[test]
    fn machine_and_exact_paths_agree_at_their_border() {
        for text in [
            "0",
            "-0",
            "1n",
            "0.1n",
            "-0.1n",
            "1e-48",
            "1e-47",
            "1e-38",
            "-1e-50",
            "99999999999999999999999999999999999999e-47",
            "170141183460469231731.687303715884105727", // i128::MAX nano-units
            "170141183460469231731.687303715884105728", // one more
            "-170141183460469231731.687303715884105728",
            "340282366920938463463374607431768211455n", // u128::MAX nano-units
            "7.9999999999999999999Ei",
            "8Ei",
            "-8Ei",
            "1e30",
            "1e29",
            "9Ei",
            "123456789012345678901234567890123456789012345678901234567890",
        ] {
            exactly(text);
        }
    }

    proptest! {
        /// The machine arithmetic gives what the exact arithmetic gives, wherever it
        /// answers; long numbers and far exponents included.
        #[test]
        fn machine_arithmetic_is_exact(
            (text, ..) in written(),
            long in "-?[0-9]{0,45}(\\.[0-9]{0,45})?(e-?[0-9]{1,2}|Ki|Mi|Ei|n|m|E)?",
        ) {
            exactly(&text);
            if Quantity::parse(&long).is_ok() {
                exactly(&long);
            }
        }

        /// Any text at all: a clear answer, never a panic.
        #[test]
        fn never_panics(text in "\\PC{0,40}", quantityish in "[-+0-9.eEinumkKMGTP ]{0,40}") {
            let _ = Quantity::parse(&text);
            let _ = Quantity::parse(&quantityish);
            let _ = Quantity::parse_untrimmed(&quantityish);
        }

        /// Every quantity written from the grammar is accepted, with the value an integer
        /// model of the API server's arithmetic gives it.
        #[test]
        fn values_follow_the_integer_model((text, negative, int, frac, e10, e2) in written()) {
            let parsed = Quantity::parse(&text);
            prop_assert!(parsed.is_ok(), "{text}: {parsed:?}");
            if let Some(expected) = reference_nanos(negative, &int, &frac, e10, e2) {
                prop_assert_eq!(parsed.unwrap().nanos(), Some(expected), "{}", text);
            }
        }

        /// The order of quantities is the order of their values.
        #[test]
        fn order_follows_the_integer_model(a in written(), b in written()) {
            let (Some(x), Some(y)) = (
                reference_nanos(a.1, &a.2, &a.3, a.4, a.5),
                reference_nanos(b.1, &b.2, &b.3, b.4, b.5),
            ) else {
                return Ok(());
            };
            prop_assert_eq!(q(&a.0).cmp(&q(&b.0)), x.cmp(&y), "{} vs {}", a.0, b.0);
        }

        /// Moving the decimal point and the exponent together keeps the value, for numbers
        /// of any length and exponents far beyond machine integers; a digit more makes it
        /// larger, unless it is finer than a nano-unit.
        #[test]
        fn notation_does_not_change_the_value(
            digits in "[1-9][0-9]{0,60}",
            point in 0usize..62,
            exponent in -2_000_000_000i64..2_000_000_000,
        ) {
            let point = point.min(digits.len());
            let moved = format!(
                "{}.{}e{}",
                &digits[..point],
                &digits[point..],
                exponent + (digits.len() - point) as i64
            );
            let plain = q(&format!("{digits}e{exponent}"));
            prop_assert_eq!(&q(&moved), &plain, "{}", moved);
            let finer = q(&format!("{digits}1e{}", exponent - 1));
            if exponent > NANO_EXPONENT {
                prop_assert!(finer > plain);
                let negative_finer = q(&format!("-{digits}1e{}", exponent - 1));
                let negative_plain = q(&format!("-{digits}e{exponent}"));
                prop_assert!(negative_finer < negative_plain);
            } else {
                prop_assert!(finer >= plain);
            }
        }
    }
}
