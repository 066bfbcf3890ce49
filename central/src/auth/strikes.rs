//! Failed authentication, counted apart from the rate limits: each guess
//! (an unknown API key, a forged token, a wrong secret) is a strike against
//! the address it came from and, for a known store, against that client id.
//! A key with too many strikes in its window is blocked until the window
//! ends: its credentials are refused unchecked, so a guess that happens to
//! be right is refused too and guessing teaches nothing.
//!
//! Fixed windows, not a token bucket: what matters is that a blocked key
//! can be told apart without being charged, which a bucket cannot do.
//! Bounded: at most `capacity` keys are tracked; when every slot holds a key
//! still in its window, a new key that fails is blocked at once (fail
//! closed), while keys that never fail are never tracked at all.

use std::{
    collections::HashMap,
    hash::Hash,
    net::IpAddr,
    sync::{
        Mutex, PoisonError,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

/// What strikes are counted against.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum StrikeKey {
    /// A client address (IPv6 by its /64: one host holds a whole /64).
    Address(IpAddr),
    /// A known store's client id.
    Client(String),
}

#[derive(Debug, Clone, Copy)]
struct Window {
    started: Instant,
    count: u32,
}

pub struct Strikes {
    per_address: u32,
    per_client: u32,
    window: Duration,
    capacity: usize,
    keys: Mutex<HashMap<StrikeKey, Window>>,
    /// Whether any key is tracked: every request with a credential asks
    /// [`Strikes::blocked`], and nearly always nobody has failed, so that
    /// answer must not take a lock all requests share.
    any: AtomicBool,
}

impl Strikes {
    /// `per_address` and `per_client` strikes in each `window`; 0 turns
    /// that kind off.
    pub fn new(per_address: u32, per_client: u32, window: Duration, capacity: usize) -> Self {
        Strikes {
            per_address,
            per_client,
            window: window.max(Duration::from_secs(1)),
            capacity: capacity.max(1),
            keys: Mutex::new(HashMap::new()),
            any: AtomicBool::new(false),
        }
    }

    fn limit(&self, key: &StrikeKey) -> u32 {
        match key {
            StrikeKey::Address(_) => self.per_address,
            StrikeKey::Client(_) => self.per_client,
        }
    }

    /// How long `key` stays blocked, if it is.
    pub fn blocked(&self, key: &StrikeKey) -> Option<Duration> {
        let limit = self.limit(key);
        if limit == 0 || !self.any.load(Ordering::Relaxed) {
            return None;
        }
        let keys = self.keys.lock().unwrap_or_else(PoisonError::into_inner);
        let window = keys.get(key)?;
        let elapsed = window.started.elapsed();
        (window.count >= limit && elapsed < self.window).then(|| self.window - elapsed)
    }

    /// Counts a strike; returns how long `key` is now blocked, if it is.
    pub fn strike(&self, key: StrikeKey) -> Option<Duration> {
        let limit = self.limit(&key);
        if limit == 0 {
            return None;
        }
        let now = Instant::now();
        let mut keys = self.keys.lock().unwrap_or_else(PoisonError::into_inner);
        if keys.len() >= self.capacity && !keys.contains_key(&key) {
            keys.retain(|_, w| now.duration_since(w.started) < self.window);
            if keys.len() >= self.capacity {
                tracing::warn!(
                    capacity = self.capacity,
                    "too many addresses failing authentication at once: blocking new ones"
                );
                return Some(self.window);
            }
        }
        let window = keys.entry(key).or_insert(Window {
            started: now,
            count: 0,
        });
        self.any.store(true, Ordering::Relaxed);
        if now.duration_since(window.started) >= self.window {
            *window = Window {
                started: now,
                count: 0,
            };
        }
        window.count = window.count.saturating_add(1);
        (window.count >= limit).then(|| self.window.saturating_sub(window.started.elapsed()))
    }

    /// Forgets keys whose window has ended (on the retention timer).
    pub fn forget_expired(&self) {
        let mut keys = self.keys.lock().unwrap_or_else(PoisonError::into_inner);
        keys.retain(|_, w| w.started.elapsed() < self.window);
        keys.shrink_to_fit();
        self.any.store(!keys.is_empty(), Ordering::Relaxed);
    }

    pub fn tracked(&self) -> usize {
        self.keys
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn address(last: u8) -> StrikeKey {
        StrikeKey::Address(IpAddr::from([10, 0, 0, last]))
    }

    #[test]
    fn a_key_is_blocked_once_it_reaches_its_limit_and_only_then() {
        let strikes = Strikes::new(3, 2, Duration::from_secs(60), 100);
        assert_eq!(strikes.strike(address(1)), None);
        assert_eq!(strikes.strike(address(1)), None);
        assert!(strikes.blocked(&address(1)).is_none());
        assert!(strikes.strike(address(1)).is_some());
        assert!(strikes.blocked(&address(1)).is_some());
        assert!(strikes.blocked(&address(2)).is_none(), "others unaffected");
        let client = StrikeKey::Client("s1".into());
        assert_eq!(strikes.strike(client.clone()), None);
        assert!(strikes.strike(client.clone()).is_some(), "its own limit");
    }

    #[test]
    fn the_block_ends_with_the_window() {
        let strikes = Strikes::new(1, 1, Duration::from_secs(1), 100);
        assert!(strikes.strike(address(1)).is_some());
        std::thread::sleep(Duration::from_millis(1100));
        assert!(strikes.blocked(&address(1)).is_none());
        strikes.forget_expired();
        assert_eq!(strikes.tracked(), 0);
    }

    #[test]
    fn a_full_table_blocks_new_failing_keys_and_nothing_else() {
        let strikes = Strikes::new(5, 5, Duration::from_secs(60), 2);
        strikes.strike(address(1));
        strikes.strike(address(2));
        assert!(strikes.strike(address(3)).is_some(), "fails closed");
        assert_eq!(strikes.tracked(), 2, "never grows past its capacity");
        assert!(
            strikes.blocked(&address(4)).is_none(),
            "a key that never failed"
        );
        assert_eq!(strikes.strike(address(1)), None, "tracked keys still count");
    }

    #[test]
    fn a_zero_limit_turns_a_kind_off() {
        let strikes = Strikes::new(0, 1, Duration::from_secs(60), 10);
        for _ in 0..10 {
            assert_eq!(strikes.strike(address(1)), None);
        }
        assert_eq!(strikes.tracked(), 0);
    }
}
