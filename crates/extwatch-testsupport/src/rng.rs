//! Deterministic pseudo-random numbers (xorshift64) for generated fixtures and fuzz-like tests: the
//! same seed gives the same bytes on every machine, so a failure reproduces.

/// xorshift64 (Marsaglia): `XorShift(seed)`, seed non-zero.
pub struct XorShift(pub u64);

impl XorShift {
    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// A number below `n` (0 when `n` is 0).
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next_u64() % n
        }
    }

    /// `n` random bytes (incompressible).
    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next_u64() as u8).collect()
    }

    /// `n` bytes that compress somewhat (16-letter alphabet with runs), like real files.
    pub fn data(&mut self, n: usize) -> Vec<u8> {
        let mut v = Vec::with_capacity(n);
        while v.len() < n {
            let r = self.next_u64();
            let run = (r >> 60) as usize % 3 + 1;
            for _ in 0..run {
                if v.len() < n {
                    v.push(b'a' + (r % 16) as u8);
                }
            }
        }
        v
    }
}
