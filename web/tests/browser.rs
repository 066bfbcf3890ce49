//! The POS page's parts that only a browser has, in headless Chromium
//! (`cargo xtask test`): the PIN's derivation by WebCrypto gives what the
//! native PBKDF2-HMAC-SHA256 gives (RFC 7914 §11's vector, and a PIN).
#![cfg(target_arch = "wasm32")]

use wasm_bindgen_test::*;
use web::{
    app::kdf,
    lock::{PinLock, Unlock},
};

wasm_bindgen_test_configure!(run_in_browser);

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[wasm_bindgen_test]
async fn webcrypto_derives_pbkdf2_hmac_sha256() {
    let derived = kdf::derive("passwd", b"salt", 1).await.unwrap();
    assert_eq!(
        hex(&derived),
        "55ac046e56e3089fec1691c22544b605f94185216dde0465e68b9d57c20dacbc"
    );
}

#[wasm_bindgen_test]
async fn a_lock_made_in_the_browser_opens_for_its_pin_only() {
    let mut lock: PinLock = kdf::new_lock("2580", [3; 16]).await.unwrap();
    assert!(matches!(
        kdf::try_pin(&mut lock, "2581", 0).await,
        Unlock::Wrong { .. }
    ));
    assert_eq!(kdf::try_pin(&mut lock, "2580", 0).await, Unlock::Open);
}
