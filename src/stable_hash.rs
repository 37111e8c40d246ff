//! FNV-1a over bytes: a hash that is the same on every machine and in every release (std's
//! hasher is neither), for names and keys that other runs and machines must compute alike.

/// FNV-1a's 64-bit offset basis.
pub const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;

/// FNV-1a (64 bits) of `bytes`, starting from `offset` ([`OFFSET`], or another basis for a second,
/// independent hash of the same bytes).
pub fn fnv1a(bytes: &[u8], offset: u64) -> u64 {
    bytes.iter().fold(offset, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3))
}

#[cfg(test)]
mod tests {
    /// The published FNV-1a test vectors: the empty string is the basis, "a" a known value.
    #[test]
    fn fnv1a_gives_the_published_values() {
        assert_eq!(super::fnv1a(b"", super::OFFSET), 0xcbf2_9ce4_8422_2325);
        assert_eq!(super::fnv1a(b"a", super::OFFSET), 0xaf63_dc4c_8601_ec8c);
    }
}
