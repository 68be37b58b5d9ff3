//! LEB128 varints and zigzag differences: the encoding of the lists kept
//! packed to the end of a capture (message rows,
//! [`crate::output::rows`]; stalls, [`crate::analysis::nagle::Stalls`]).
//!
//! A number takes 1 to 10 bytes, 7 bits a byte, lowest first. A signed
//! difference is zigzag-encoded (0, -1, 1, -2 as 0, 1, 2, 3) and taken
//! wrapping, so every `u64` comes back as it was whatever the base.
//! [`Reader`] reads only bytes these functions wrote: it indexes, and
//! panics past the end, as a reader of its own list's bytes may.

/// Appends `v` as a LEB128 varint.
pub(crate) fn put(b: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        b.push(v as u8 | 0x80);
        v >>= 7;
    }
    b.push(v as u8);
}

/// Appends `v - base`, taken wrapping, zigzag-encoded.
pub(crate) fn put_diff(b: &mut Vec<u8>, v: u64, base: u64) {
    put(b, zigzag(v.wrapping_sub(base) as i64));
}

/// 0, -1, 1, -2, ... as 0, 1, 2, 3, ...
pub(crate) fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

/// The inverse of [`zigzag`].
pub(crate) fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

/// Where the varint starting at `at` of `bytes` ends: the index after its
/// last byte (one below 128). Panics past the end, as [`Reader`] does.
pub(crate) fn after(bytes: &[u8], mut at: usize) -> usize {
    while bytes[at] >= 0x80 {
        at += 1;
    }
    at + 1
}

/// Reads back values written with [`put`] and [`put_diff`] (and raw
/// bytes), from `at` on.
pub(crate) struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn at(bytes: &'a [u8], at: usize) -> Self {
        Reader { bytes, at }
    }

    /// Where the next value starts.
    pub(crate) fn pos(&self) -> usize {
        self.at
    }

    pub(crate) fn byte(&mut self) -> u8 {
        let b = self.bytes[self.at];
        self.at += 1;
        b
    }

    pub(crate) fn num(&mut self) -> u64 {
        let mut v = 0u64;
        let mut shift = 0;
        loop {
            let b = self.byte();
            v |= u64::from(b & 0x7f) << shift;
            if b < 0x80 {
                return v;
            }
            shift += 7;
        }
    }

    /// A value written with [`put_diff`] against `base`.
    pub(crate) fn diff(&mut self, base: u64) -> u64 {
        base.wrapping_add(unzigzag(self.num()) as u64)
    }

    /// `n` bytes written from a `str`.
    pub(crate) fn text(&mut self, n: usize) -> &'a str {
        let bytes = &self.bytes[self.at..self.at + n];
        self.at += n;
        // Written from a `str`: it is one.
        std::str::from_utf8(bytes).unwrap_or_default()
    }

    pub(crate) fn array<const N: usize>(&mut self) -> [u8; N] {
        let mut a = [0u8; N];
        a.copy_from_slice(&self.bytes[self.at..self.at + N]);
        self.at += N;
        a
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_come_back() {
        let values = [
            0,
            1,
            127,
            128,
            16_383,
            16_384,
            u64::MAX / 2,
            u64::MAX - 1,
            u64::MAX,
        ];
        let mut b = Vec::new();
        for &v in &values {
            put(&mut b, v);
            put_diff(&mut b, v, 1000);
            put_diff(&mut b, 1000, v);
        }
        let mut r = Reader::at(&b, 0);
        for &v in &values {
            assert_eq!(r.num(), v);
            assert_eq!(r.diff(1000), v);
            assert_eq!(r.diff(v), 1000);
        }
        assert_eq!(r.pos(), b.len());
        // One byte below 128, ten at most.
        let mut one = Vec::new();
        put(&mut one, 127);
        assert_eq!(one.len(), 1);
        let mut ten = Vec::new();
        put(&mut ten, u64::MAX);
        assert_eq!(ten.len(), 10);
        for v in [0, -1, 1, i64::MIN, i64::MAX] {
            assert_eq!(unzigzag(zigzag(v)), v);
        }
    }
}
