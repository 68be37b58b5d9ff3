//! Byte sizes as people write them: `4096`, `64K`, `4M`, `1G` (1024-based).
//!
//! This module owns the one parser and the one printer of sizes, used by
//! the `--frame` specifications (`max=16M`), the `--recv` sizes and every
//! size given on the command line. It does not know where a size came from:
//! callers place a [`SizeError`] in their own context (a character offset
//! in a spec, an argument name).
//!
//! ```
//! use framescope::size::{parse_size, Size};
//!
//! assert_eq!(parse_size("64K"), Ok(65_536));
//! assert_eq!(Size(16 << 20).to_string(), "16M");
//! assert!(parse_size("4 MB").is_err());
//! ```

use std::fmt;

/// A size that does not parse.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SizeError {
    /// Not digits with an optional `K`, `M` or `G` suffix.
    #[error("expected a size such as 512, 64K or 16M, not {0:?}")]
    NotASize(String),
    /// Digits and suffix give more than `u64::MAX` bytes.
    #[error("size {0:?} is too large")]
    TooLarge(String),
}

/// Parses `DIGITS [K|M|G]` (either case, 1024-based). Nothing else is
/// accepted: no sign, no spaces, no `B`.
pub fn parse_size(text: &str) -> Result<u64, SizeError> {
    let (digits, scale) = match text.as_bytes().last() {
        Some(b'k' | b'K') => (&text[..text.len() - 1], 1u64 << 10),
        Some(b'm' | b'M') => (&text[..text.len() - 1], 1 << 20),
        Some(b'g' | b'G') => (&text[..text.len() - 1], 1 << 30),
        _ => (text, 1),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(SizeError::NotASize(text.to_string()));
    }
    digits
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(scale))
        .ok_or_else(|| SizeError::TooLarge(text.to_string()))
}

/// Prints a size in the largest unit that divides it exactly, so that
/// [`parse_size`] reads it back: `16M`, `1536K`, `1000`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Size(pub u64);

impl fmt::Display for Size {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.0;
        for (shift, suffix) in [(30, "G"), (20, "M"), (10, "K")] {
            if n != 0 && n.is_multiple_of(1 << shift) {
                return write!(f, "{}{suffix}", n >> shift);
            }
        }
        write!(f, "{n}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_scale_by_1024() {
        assert_eq!(parse_size("4096"), Ok(4096));
        assert_eq!(parse_size("64k"), Ok(64 << 10));
        assert_eq!(parse_size("4M"), Ok(4 << 20));
        assert_eq!(parse_size("1g"), Ok(1 << 30));
    }

    #[test]
    fn refuses_what_is_not_a_size() {
        for bad in ["", "K", "+5", "-1", " 5", "5 ", "5MB", "1.5M", "x"] {
            assert_eq!(
                parse_size(bad),
                Err(SizeError::NotASize(bad.to_string())),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn refuses_overflow() {
        assert_eq!(parse_size("18446744073709551615"), Ok(u64::MAX));
        assert_eq!(
            parse_size("18446744073709551616"),
            Err(SizeError::TooLarge("18446744073709551616".into()))
        );
        assert_eq!(
            parse_size("17179869184G"),
            Err(SizeError::TooLarge("17179869184G".into()))
        );
    }

    #[test]
    fn printed_sizes_parse_back() {
        for n in [0, 1, 1000, 1024, 1536, 16 << 20, 3 << 30, u64::MAX] {
            assert_eq!(parse_size(&Size(n).to_string()), Ok(n), "{n}");
        }
        assert_eq!(Size(1536).to_string(), "1536");
        assert_eq!(Size(3 << 20).to_string(), "3M");
    }
}
