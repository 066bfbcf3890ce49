//! The till's PIN: chosen when the till is set up, checked on the device
//! so a locked till opens offline for whoever knows it, and for nobody else.
//!
//! What is kept is a salted PBKDF2-HMAC-SHA256 of the PIN, never the PIN.
//! The derivation itself is the browser's (WebCrypto, `app::kdf`): native
//! code, so many rounds cost a tablet little, and no hash in the wasm. This
//! module holds the rules around it — what a PIN may be, the verdict on a
//! derived one, the waits — and its tests derive with the `pbkdf2` crate,
//! which a browser test holds WebCrypto to.
//! Wrong guesses are counted where the verifier is kept: after
//! [`FREE_TRIES`] in a row each further one makes the till wait, twice as
//! long each time. The PIN guards the till's screen, not its data: someone
//! with the browser's storage holds the device credential anyway, which is
//! why head office can revoke a device. Plain Rust, tested natively.

use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;

/// Digits a PIN has, at least and at most.
pub const PIN_DIGITS: std::ops::RangeInclusive<usize> = 4..=8;
/// Wrong PINs in a row before the till makes the next one wait.
pub const FREE_TRIES: u32 = 5;
/// The first wait, doubled after each further wrong PIN, up to [`MAX_WAIT_MS`].
const FIRST_WAIT_MS: i64 = 30_000;
const MAX_WAIT_MS: i64 = 60 * 60 * 1000;
/// PBKDF2-SHA256 rounds, as OWASP advises (2023): WebCrypto does them in
/// a fraction of a second, even on a till's tablet.
pub const ROUNDS: u32 = 600_000;

/// Why a PIN cannot be chosen, in the words the set-up form shows.
pub fn pin_problem(pin: &str) -> Option<String> {
    let digits = pin.chars().count();
    if !pin.chars().all(|c| c.is_ascii_digit()) {
        return Some("A PIN is digits only.".into());
    }
    if !PIN_DIGITS.contains(&digits) {
        return Some(format!(
            "A PIN has {} to {} digits.",
            PIN_DIGITS.start(),
            PIN_DIGITS.end()
        ));
    }
    let first = pin.as_bytes()[0];
    if pin.bytes().all(|b| b == first) {
        return Some("Choose a PIN that is not one digit repeated.".into());
    }
    None
}

/// The PIN's verifier and the count of wrong guesses, as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PinLock {
    salt: String,
    hash: String,
    rounds: u32,
    #[serde(default)]
    failures: u32,
    /// No PIN is checked before this (ms since the epoch).
    #[serde(default)]
    wait_until_ms: i64,
}

/// What an unlock attempt came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unlock {
    Open,
    /// Wrong; `free_left` more tries before the till makes one wait.
    Wrong {
        free_left: u32,
    },
    /// Too many wrong PINs: no PIN is checked for this long.
    Wait {
        ms: i64,
    },
}

impl PinLock {
    /// A lock whose verifier is `derived`, PBKDF2 of the PIN (which
    /// [`pin_problem`] passed) with `salt` and [`ROUNDS`].
    pub fn from_derived(salt: [u8; 16], derived: &[u8]) -> PinLock {
        PinLock::with_rounds(salt, ROUNDS, derived)
    }

    fn with_rounds(salt: [u8; 16], rounds: u32, derived: &[u8]) -> PinLock {
        PinLock {
            hash: hex(derived),
            salt: hex(&salt),
            rounds,
            failures: 0,
            wait_until_ms: 0,
        }
    }

    /// What a PIN is derived with to be checked: this lock's salt and
    /// rounds. While the till makes the cashier wait, no PIN is checked at
    /// all, right or wrong: the wait is the answer.
    pub fn challenge(&self, now_ms: i64) -> Result<(Vec<u8>, u32), Unlock> {
        if now_ms < self.wait_until_ms {
            return Err(Unlock::Wait {
                ms: self.wait_until_ms - now_ms,
            });
        }
        Ok((unhex(&self.salt), self.rounds))
    }

    /// The verdict on a PIN derived as [`Self::challenge`] said, at
    /// `now_ms`; a wrong one counts.
    pub fn judge(&mut self, derived: &[u8], now_ms: i64) -> Unlock {
        if let Err(wait) = self.challenge(now_ms) {
            return wait;
        }
        if bool::from(hex(derived).as_bytes().ct_eq(self.hash.as_bytes())) {
            self.failures = 0;
            self.wait_until_ms = 0;
            return Unlock::Open;
        }
        self.failures = self.failures.saturating_add(1);
        if self.failures < FREE_TRIES {
            return Unlock::Wrong {
                free_left: FREE_TRIES - self.failures,
            };
        }
        let doublings = (self.failures - FREE_TRIES).min(16);
        let ms = (FIRST_WAIT_MS << doublings).min(MAX_WAIT_MS);
        self.wait_until_ms = now_ms + ms;
        Unlock::Wait { ms }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A stored salt back to bytes; a damaged one gives bytes that match no
/// PIN's hash, so the till stays locked rather than open.
fn unhex(text: &str) -> Vec<u8> {
    (0..text.len() / 2)
        .map(|i| u8::from_str_radix(text.get(2 * i..2 * i + 2).unwrap_or("zz"), 16).unwrap_or(0))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SALT: [u8; 16] = [7; 16];

    /// PBKDF2-HMAC-SHA256, as the browser derives it.
    pub(crate) fn derive(pin: &str, salt: &[u8], rounds: u32) -> [u8; 32] {
        let mut out = [0u8; 32];
        pbkdf2::pbkdf2_hmac::<sha2::Sha256>(pin.as_bytes(), salt, rounds, &mut out);
        out
    }

    /// Few rounds: these tests are about the rules, not the cost.
    fn lock(pin: &str, salt: [u8; 16]) -> PinLock {
        PinLock::with_rounds(salt, 10, &derive(pin, &salt, 10))
    }

    impl PinLock {
        /// What `app::kdf::try_pin` does, with the crate's PBKDF2.
        fn try_pin(&mut self, pin: &str, now_ms: i64) -> Unlock {
            match self.challenge(now_ms) {
                Err(wait) => wait,
                Ok((salt, rounds)) => self.judge(&derive(pin, &salt, rounds), now_ms),
            }
        }
    }

    /// RFC 7914 §11's PBKDF2-HMAC-SHA256 vector (its first 32 bytes): the
    /// browser's derivation is held to the same one.
    pub(crate) const VECTOR: &str =
        "55ac046e56e3089fec1691c22544b605f94185216dde0465e68b9d57c20dacbc";

    #[test]
    fn the_derivation_is_pbkdf2_hmac_sha256() {
        assert_eq!(hex(&derive("passwd", b"salt", 1)), VECTOR);
    }

    #[test]
    fn a_lock_made_for_the_till_uses_the_full_rounds() {
        let made = PinLock::from_derived(SALT, &[0; 32]);
        assert_eq!(made.rounds, ROUNDS);
        assert_eq!(made.challenge(0), Ok((SALT.to_vec(), ROUNDS)));
    }

    #[test]
    fn a_pin_is_four_to_eight_digits_and_not_one_digit_repeated() {
        assert_eq!(pin_problem("2580"), None);
        assert_eq!(pin_problem("25801234"), None);
        assert!(pin_problem("258").is_some(), "too short");
        assert!(pin_problem("258012345").is_some(), "too long");
        assert!(pin_problem("25a0").is_some(), "digits only");
        assert!(pin_problem("").is_some());
        assert!(pin_problem("٢٥٨٠").is_some(), "ASCII digits only");
        assert!(pin_problem("1111").is_some(), "one digit repeated");
    }

    #[test]
    fn the_right_pin_opens_and_a_wrong_one_does_not() {
        let mut lock = lock("2580", SALT);
        assert_eq!(lock.try_pin("2581", 0), Unlock::Wrong { free_left: 4 });
        assert_eq!(lock.try_pin("2580", 0), Unlock::Open);
        assert_eq!(
            lock.try_pin("", 0),
            Unlock::Wrong { free_left: 4 },
            "reset by the right one"
        );
    }

    #[test]
    fn after_five_wrong_pins_the_till_waits_and_checks_nothing_meanwhile() {
        let mut lock = lock("2580", SALT);
        for left in (1..FREE_TRIES).rev() {
            assert_eq!(lock.try_pin("0000", 0), Unlock::Wrong { free_left: left });
        }
        assert_eq!(lock.try_pin("0000", 0), Unlock::Wait { ms: 30_000 });
        // Even the right PIN is not checked while it waits.
        assert_eq!(lock.try_pin("2580", 10_000), Unlock::Wait { ms: 20_000 });
        // Then one more wrong PIN doubles the wait.
        assert_eq!(lock.try_pin("0000", 30_000), Unlock::Wait { ms: 60_000 });
        assert_eq!(lock.try_pin("2580", 90_000), Unlock::Open);
        assert_eq!(lock.try_pin("0000", 90_000), Unlock::Wrong { free_left: 4 });
    }

    #[test]
    fn the_wait_stops_growing_at_an_hour() {
        let mut lock = lock("2580", SALT);
        let mut now = 0;
        let mut last = Unlock::Open;
        for _ in 0..40 {
            last = lock.try_pin("0000", now);
            if let Unlock::Wait { ms } = last {
                now += ms;
            }
        }
        assert_eq!(last, Unlock::Wait { ms: MAX_WAIT_MS });
    }

    #[test]
    fn a_damaged_salt_keeps_the_till_locked() {
        let mut lock = lock("2580", SALT);
        lock.salt = "not hex".into();
        assert!(matches!(lock.try_pin("2580", 0), Unlock::Wrong { .. }));
    }

    /// The verifier is kept on the till across updates of the page: its
    /// JSON is pinned, so a rename cannot lock every till out.
    #[test]
    fn a_stored_lock_keeps_its_json() {
        let made = lock("2580", SALT);
        let json = serde_json::to_value(&made).unwrap();
        let fields: Vec<&str> = json
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(
            fields,
            ["failures", "hash", "rounds", "salt", "wait_until_ms"]
        );
        let stored = format!(
            r#"{{"salt":"{}","hash":"{}","rounds":10}}"#,
            made.salt, made.hash
        );
        let mut read: PinLock = serde_json::from_str(&stored).unwrap();
        assert_eq!(
            read.try_pin("2580", 0),
            Unlock::Open,
            "counts default to none"
        );
    }

    #[test]
    fn two_tills_with_one_pin_store_different_verifiers() {
        let a = lock("2580", [1; 16]);
        let b = lock("2580", [2; 16]);
        assert_ne!(a.hash, b.hash, "salted");
    }
}
