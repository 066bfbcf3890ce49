//! Retry delays: exponential with jitter, so a chain's tills coming back
//! online do not all hit central at the same instant.

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backoff {
    pub base_ms: u64,
    pub cap_ms: u64,
    attempt: u32,
}

impl Default for Backoff {
    fn default() -> Self {
        // Capped at 10 s: central coming back sends no event to a browser,
        // so the next try is how soon a till finds out; 5–10 s apart, a
        // chain's tills cost central little while it is down.
        Backoff {
            base_ms: 500,
            cap_ms: 10_000,
            attempt: 0,
        }
    }
}

impl Backoff {
    /// The next delay, given a uniform random number in [0, 1): between half
    /// and all of `base · 2^attempt`, capped.
    pub fn next_delay_ms(&mut self, random: f64) -> u64 {
        let ceiling = self
            .base_ms
            .saturating_mul(1u64 << self.attempt.min(20))
            .min(self.cap_ms);
        self.attempt = self.attempt.saturating_add(1);
        let factor = 0.5 + 0.5 * random.clamp(0.0, 1.0);
        (ceiling as f64 * factor) as u64
    }

    pub fn reset(&mut self) {
        self.attempt = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_jittered_and_capped() {
        let mut b = Backoff::default();
        assert_eq!(b.next_delay_ms(0.0), 250);
        assert_eq!(b.next_delay_ms(0.999_999), 999);
        assert_eq!(b.next_delay_ms(0.5), 1500);
        for _ in 0..30 {
            assert!(b.next_delay_ms(1.0) <= 10_000);
        }
        assert_eq!(b.next_delay_ms(0.0), 5_000);
        b.reset();
        assert_eq!(b.next_delay_ms(0.0), 250);
    }
}
