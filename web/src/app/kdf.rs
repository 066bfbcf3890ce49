//! The PIN's derivation, PBKDF2-HMAC-SHA256, by the browser's WebCrypto
//! (native code, and no hash compiled into the wasm), and an unlock that
//! puts it together with [`crate::lock`]'s rules.

use js_sys::{Array, Object, Reflect, Uint8Array};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::CryptoKey;

use crate::lock::{PinLock, ROUNDS, Unlock};

fn subtle() -> Result<web_sys::SubtleCrypto, JsValue> {
    let window = web_sys::window().ok_or("no window")?;
    Ok(window.crypto()?.subtle())
}

/// PBKDF2-HMAC-SHA256 of `pin` with `salt`, `rounds` times: 32 bytes.
pub async fn derive(pin: &str, salt: &[u8], rounds: u32) -> Result<Vec<u8>, JsValue> {
    let subtle = subtle()?;
    let raw = Uint8Array::from(pin.as_bytes());
    let usages = Array::of1(&"deriveBits".into());
    let key = subtle.import_key_with_str("raw", &raw, "PBKDF2", false, &usages)?;
    let key: CryptoKey = JsFuture::from(key).await?.dyn_into()?;
    let params = Object::new();
    Reflect::set(&params, &"name".into(), &"PBKDF2".into())?;
    Reflect::set(&params, &"hash".into(), &"SHA-256".into())?;
    Reflect::set(&params, &"salt".into(), &Uint8Array::from(salt))?;
    Reflect::set(&params, &"iterations".into(), &rounds.into())?;
    let bits = subtle.derive_bits_with_object(&params, &key, 256)?;
    let bits = JsFuture::from(bits).await?;
    Ok(Uint8Array::new(&bits).to_vec())
}

/// A lock for `pin` with `salt`, at the full rounds.
pub async fn new_lock(pin: &str, salt: [u8; 16]) -> Result<PinLock, JsValue> {
    Ok(PinLock::from_derived(
        salt,
        &derive(pin, &salt, ROUNDS).await?,
    ))
}

/// Checks `pin` against `lock` at `now_ms`, counting a wrong one; a
/// browser that cannot derive counts it wrong too (the till stays shut).
pub async fn try_pin(lock: &mut PinLock, pin: &str, now_ms: i64) -> Unlock {
    let (salt, rounds) = match lock.challenge(now_ms) {
        Ok(challenge) => challenge,
        Err(wait) => return wait,
    };
    let derived = derive(pin, &salt, rounds).await.unwrap_or_default();
    lock.judge(&derived, now_ms)
}
