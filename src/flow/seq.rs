//! TCP sequence numbers, compared modulo 2^32.
//!
//! A sequence number is never compared with `<` on its raw value: two
//! numbers are ordered by the sign of their wrapping difference, which stays
//! right across the wrap from 0xffff_ffff to 0 as long as they are less than
//! 2^31 apart (RFC 1982 serial number arithmetic).

/// A TCP sequence or acknowledgement number.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SeqNum(pub u32);

impl SeqNum {
    /// `self - other` as a signed distance: positive when `self` is after
    /// `other`.
    pub fn diff(self, other: SeqNum) -> i64 {
        i64::from(self.0.wrapping_sub(other.0) as i32)
    }

    /// The number `n` bytes after `self`.
    pub fn plus(self, n: u32) -> SeqNum {
        SeqNum(self.0.wrapping_add(n))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordering_survives_wraparound() {
        let a = SeqNum(0xffff_fff0);
        let b = a.plus(0x20);
        assert_eq!(b, SeqNum(0x10));
        assert_eq!(b.diff(a), 0x20);
        assert_eq!(a.diff(b), -0x20);
    }
}
