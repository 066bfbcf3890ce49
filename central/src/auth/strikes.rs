//! Failed authentication, counted apart from the rate limits: each guess
//! (an unknown API key, a forged token, a wrong secret) is a strike against
//! the address it came from and, for an id central knows (a store, a
//! device, a sales channel), against that id *as tried from that address*.
//! An address, or an id from an address, with too many strikes in the
//! window is blocked until the window ends: its credentials are refused
//! unchecked, so a guess that happens to be right is refused too and
//! guessing teaches nothing.
//!
//! **No lock-out by strangers.** What is blocked is always the guesser's
//! own address, or an id as tried from it — never an id as such. Ids are
//! not secret (every store sees the channels' ids on its holds), so a
//! budget per id alone let anyone with ten wrong guesses a minute keep a
//! store, a till or the web shop from signing in, from anywhere. Admin API
//! keys have no id: a wrong key is a strike against its address only.
//!
//! Why there is no budget per id across addresses: it would slow guessing
//! from many addresses at once, but only by refusing the right secret to
//! its owner, which is that lock-out. What bounds such guessing instead:
//! - secrets central makes (every device's; a store's or a channel's
//!   unless an admin chose it) have 256 random bits: nothing to guess;
//! - a secret an admin chooses (`client_secret` when registering a store
//!   or a channel) has at least 16 visible characters
//!   (`shared::validate::client_secret`) and is kept as argon2, whose
//!   checks run a few at a time for the whole central
//!   ([`super::Hashing`]): some tens of guesses a second in all, however
//!   many addresses send them;
//! - each address (an IPv6 /64) has its own budget.
//!
//! The budget of an id from one address is smaller than the address's: a
//! till behind a shop's one address that keeps trying a stale secret is
//! blocked for that id alone and then, refused unchecked, strikes the
//! address no more, so the shop's other tills keep signing in.
//!
//! Fixed windows, not a token bucket: what matters is that a blocked key
//! can be told apart without being charged, which a bucket cannot do. One
//! window per address, started by its first strike; the counts of the ids
//! tried from it live in that window.
//!
//! Bounded: at most `capacity` addresses are tracked, each with at most
//! [`IDS_PER_ADDRESS`] ids; addresses and ids that never fail are never
//! tracked at all. When every slot holds an address still in its window, a
//! new failing address is not tracked (its strike is not counted: memory
//! stays bounded) and [`Strikes::strike`] says so; a warning is logged.

use std::{
    collections::HashMap,
    net::IpAddr,
    sync::{
        Mutex, PoisonError,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

/// The most ids counted per address in one window. With the default
/// budgets the address is blocked (20 strikes) well before; without a
/// budget per address this is what bounds an address's entry.
pub const IDS_PER_ADDRESS: usize = 64;

#[derive(Debug)]
struct Window {
    started: Instant,
    /// Strikes against the address, whatever they named.
    count: u32,
    /// Strikes per known id tried from the address (at most
    /// [`IDS_PER_ADDRESS`]). Ids are not secrets; secrets are never kept.
    ids: Vec<(Box<str>, u32)>,
}

impl Window {
    fn new(started: Instant) -> Window {
        Window {
            started,
            count: 0,
            ids: Vec::new(),
        }
    }

    fn id_count(&self, id: &str) -> u32 {
        self.ids
            .iter()
            .find(|(known, _)| **known == *id)
            .map_or(0, |(_, count)| *count)
    }
}

/// Failed authentication per address and per (address, id).
pub struct Strikes {
    per_address: u32,
    per_id: u32,
    window: Duration,
    capacity: usize,
    addresses: Mutex<HashMap<IpAddr, Window>>,
    /// Whether any address is tracked: every request with a credential
    /// asks [`Strikes::blocked`], and nearly always nobody has failed, so
    /// that answer must not take a lock all requests share.
    any: AtomicBool,
}

impl Strikes {
    /// `per_address` strikes per address and `per_id` per id from one
    /// address in each `window`, at most `capacity` addresses tracked; a
    /// budget of 0 turns that kind off.
    pub fn new(per_address: u32, per_id: u32, window: Duration, capacity: usize) -> Self {
        Strikes {
            per_address,
            per_id,
            window: window.max(Duration::from_secs(1)),
            capacity: capacity.max(1),
            addresses: Mutex::new(HashMap::new()),
            any: AtomicBool::new(false),
        }
    }

    /// How long `address` stays blocked — or, with an `id`, that id from
    /// `address` (the address itself, or the pair) — if it is.
    pub fn blocked(&self, address: IpAddr, id: Option<&str>) -> Option<Duration> {
        if !self.any.load(Ordering::Relaxed) {
            return None;
        }
        let addresses = self
            .addresses
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        self.blocked_for(addresses.get(&address)?, id)
    }

    fn blocked_for(&self, window: &Window, id: Option<&str>) -> Option<Duration> {
        let elapsed = window.started.elapsed();
        if elapsed >= self.window {
            return None;
        }
        let over = |count: u32, limit: u32| limit > 0 && count >= limit;
        let blocked = over(window.count, self.per_address)
            || id.is_some_and(|id| over(window.id_count(id), self.per_id));
        blocked.then(|| self.window - elapsed)
    }

    /// Counts a strike against `address` and, with an `id` (one central
    /// knows: unknown ones would let a caller make up keys without end),
    /// against that id from `address`. Returns how long `address` (or the
    /// id from it) is now blocked, if it is — or the whole window for an
    /// address the full table could not track.
    pub fn strike(&self, address: IpAddr, id: Option<&str>) -> Option<Duration> {
        let id = id.filter(|_| self.per_id > 0);
        if self.per_address == 0 && id.is_none() {
            return None;
        }
        let now = Instant::now();
        let mut addresses = self
            .addresses
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if addresses.len() >= self.capacity && !addresses.contains_key(&address) {
            addresses.retain(|_, w| now.duration_since(w.started) < self.window);
            if addresses.len() >= self.capacity {
                tracing::warn!(
                    capacity = self.capacity,
                    "too many addresses failing authentication at once: new ones are not counted"
                );
                return Some(self.window);
            }
        }
        let window = addresses.entry(address).or_insert_with(|| Window::new(now));
        self.any.store(true, Ordering::Relaxed);
        if now.duration_since(window.started) >= self.window {
            *window = Window::new(now);
        }
        window.count = window.count.saturating_add(1);
        if let Some(id) = id {
            match window.ids.iter().position(|(known, _)| **known == *id) {
                Some(i) => window.ids[i].1 = window.ids[i].1.saturating_add(1),
                None if window.ids.len() < IDS_PER_ADDRESS => window.ids.push((id.into(), 1)),
                // Counted against the address only: with a budget per
                // address it is blocked long before.
                None => {}
            }
        }
        self.blocked_for(window, id)
    }

    /// Forgets addresses whose window has ended (on the retention timer).
    pub fn forget_expired(&self) {
        let mut addresses = self
            .addresses
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        addresses.retain(|_, w| w.started.elapsed() < self.window);
        addresses.shrink_to_fit();
        self.any.store(!addresses.is_empty(), Ordering::Relaxed);
    }

    /// How many addresses are tracked.
    pub fn tracked(&self) -> usize {
        self.addresses
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn address(last: u8) -> IpAddr {
        IpAddr::from([10, 0, 0, last])
    }

    #[test]
    fn an_address_is_blocked_once_it_reaches_its_limit_and_only_then() {
        let strikes = Strikes::new(3, 2, Duration::from_secs(60), 100);
        assert_eq!(strikes.strike(address(1), None), None);
        assert_eq!(strikes.strike(address(1), None), None);
        assert!(strikes.blocked(address(1), None).is_none());
        assert!(strikes.strike(address(1), None).is_some());
        assert!(strikes.blocked(address(1), None).is_some());
        assert!(
            strikes.blocked(address(1), Some("s1")).is_some(),
            "every id from it"
        );
        assert!(
            strikes.blocked(address(2), None).is_none(),
            "others unaffected"
        );
    }

    /// The lock-out by strangers: wrong guesses for an id from one address
    /// once blocked the id from everywhere, the right secret too.
    #[test]
    fn an_id_is_blocked_from_the_guessing_address_only() {
        let strikes = Strikes::new(100, 2, Duration::from_secs(60), 100);
        assert_eq!(strikes.strike(address(1), Some("s1")), None);
        assert!(strikes.strike(address(1), Some("s1")).is_some());
        assert!(strikes.blocked(address(1), Some("s1")).is_some());
        assert!(
            strikes.blocked(address(2), Some("s1")).is_none(),
            "the id from elsewhere"
        );
        assert!(
            strikes.blocked(address(1), Some("s2")).is_none(),
            "another id from the guessing address"
        );
        assert!(
            strikes.blocked(address(1), None).is_none(),
            "the address itself, under its own budget"
        );
    }

    #[test]
    fn a_strike_for_an_id_counts_against_its_address_too() {
        let strikes = Strikes::new(3, 10, Duration::from_secs(60), 100);
        for id in ["a", "b"] {
            assert_eq!(strikes.strike(address(1), Some(id)), None);
        }
        assert!(strikes.strike(address(1), Some("c")).is_some());
        assert!(strikes.blocked(address(1), Some("d")).is_some());
    }

    #[test]
    fn the_block_ends_with_the_window() {
        let strikes = Strikes::new(1, 1, Duration::from_secs(1), 100);
        assert!(strikes.strike(address(1), Some("s1")).is_some());
        std::thread::sleep(Duration::from_millis(1100));
        assert!(strikes.blocked(address(1), Some("s1")).is_none());
        strikes.forget_expired();
        assert_eq!(strikes.tracked(), 0);
    }

    #[test]
    fn a_full_table_tracks_no_new_address_and_nothing_else_changes() {
        let strikes = Strikes::new(5, 5, Duration::from_secs(60), 2);
        strikes.strike(address(1), None);
        strikes.strike(address(2), Some("s1"));
        assert!(
            strikes.strike(address(3), None).is_some(),
            "said to be blocked"
        );
        assert_eq!(strikes.tracked(), 2, "never grows past its capacity");
        assert!(
            strikes.blocked(address(4), None).is_none(),
            "an address that never failed"
        );
        assert_eq!(
            strikes.strike(address(1), Some("s1")),
            None,
            "tracked addresses still count"
        );
    }

    #[test]
    fn an_address_counts_a_bounded_number_of_ids() {
        let strikes = Strikes::new(0, 1, Duration::from_secs(60), 10);
        for i in 0..IDS_PER_ADDRESS + 10 {
            strikes.strike(address(1), Some(&format!("id-{i}")));
        }
        let addresses = strikes.addresses.lock().unwrap();
        assert_eq!(addresses[&address(1)].ids.len(), IDS_PER_ADDRESS);
    }

    #[test]
    fn a_zero_limit_turns_a_kind_off() {
        let strikes = Strikes::new(0, 1, Duration::from_secs(60), 10);
        for _ in 0..10 {
            assert_eq!(strikes.strike(address(1), None), None);
        }
        assert_eq!(strikes.tracked(), 0);
        assert!(strikes.strike(address(1), Some("s1")).is_some());
        assert!(strikes.blocked(address(1), None).is_none(), "address off");
        let strikes = Strikes::new(1, 0, Duration::from_secs(60), 10);
        assert!(strikes.strike(address(1), Some("s1")).is_some());
        assert!(strikes.blocked(address(2), Some("s1")).is_none());
    }
}
