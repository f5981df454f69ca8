//! Byte scanning eight bytes at a time (SWAR): finding the end of a line and the end of a word
//! are most of the work of reading a dump, and a loop testing one byte per step spent about
//! ten instructions on every byte of it.

const LO: u64 = 0x0101_0101_0101_0101;
const HI: u64 = 0x8080_8080_8080_8080;

/// A word with 0x80 set in each byte of `w` that is zero. Bytes above the lowest zero byte may
/// be flagged wrongly (a borrow propagates), so only the lowest flag is exact.
#[inline(always)]
fn zero_bytes(w: u64) -> u64 {
    w.wrapping_sub(LO) & !w & HI
}

#[inline(always)]
fn load(b: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(a)
}

/// Position of the first `needle` in `hay[from..]` (as an index into `hay`), or `hay.len()`.
#[inline]
pub(crate) fn find_byte(hay: &[u8], from: usize, needle: u8) -> usize {
    let pat = LO.wrapping_mul(needle as u64);
    let mut i = from;
    while i + 8 <= hay.len() {
        let m = zero_bytes(load(hay, i) ^ pat);
        if m != 0 {
            return i + (m.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    while i < hay.len() && hay[i] != needle {
        i += 1;
    }
    i
}

/// Position of the first byte of `hay[from..]` that is a blank (space or tab) or a double
/// quote, or `hay.len()`; and whether an `=` comes before it.
#[inline]
pub(crate) fn find_word_end(hay: &[u8], from: usize) -> (usize, bool) {
    const SP: u64 = LO * b' ' as u64;
    const TAB: u64 = LO * b'\t' as u64;
    const QUOTE: u64 = LO * b'"' as u64;
    const EQ: u64 = LO * b'=' as u64;
    let mut i = from;
    let mut eq = false;
    while i + 8 <= hay.len() {
        let w = load(hay, i);
        let stop = zero_bytes(w ^ SP) | zero_bytes(w ^ TAB) | zero_bytes(w ^ QUOTE);
        let e = zero_bytes(w ^ EQ);
        if stop != 0 {
            let k = stop.trailing_zeros() / 8;
            // `=` bytes below the first stop byte are flagged exactly.
            let below = if k == 0 { 0 } else { e & (u64::MAX >> (64 - 8 * k)) };
            return (i + k as usize, eq || below != 0);
        }
        eq |= e != 0;
        i += 8;
    }
    while let Some(&c) = hay.get(i) {
        if c == b' ' || c == b'\t' || c == b'"' {
            break;
        }
        eq |= c == b'=';
        i += 1;
    }
    (i, eq)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive_word_end(h: &[u8], from: usize) -> (usize, bool) {
        let end = h[from..].iter().position(|&c| c == b' ' || c == b'\t' || c == b'"').map_or(h.len(), |p| from + p);
        (end, h[from..end].contains(&b'='))
    }

    #[test]
    fn scans_agree_with_byte_loops() {
        let alphabet = [b'a', b' ', b'\t', b'"', b'=', b'\n', 0u8, 0x80, 0xff, b'!', b'-', 0x01, 0x21, 0x7f];
        let mut x = 0x1234_5678_9abc_def0u64;
        for len in 0..40 {
            for _ in 0..400 {
                let h: Vec<u8> = (0..len)
                    .map(|_| {
                        x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                        alphabet[(x >> 59) as usize % alphabet.len()]
                    })
                    .collect();
                for from in 0..=len {
                    assert_eq!(find_word_end(&h, from), naive_word_end(&h, from), "{h:?} from {from}");
                    for n in [b'\n', b' ', 0u8, 0xff] {
                        let want = h[from..].iter().position(|&c| c == n).map_or(h.len(), |p| from + p);
                        assert_eq!(find_byte(&h, from, n), want, "{h:?} from {from} needle {n}");
                    }
                }
            }
        }
    }
}
