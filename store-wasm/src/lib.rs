//! The store node. The sync engine arrives with its own issue; for now the
//! crate exposes the wire-protocol version it speaks, so the POS page and the
//! build pipeline (wasm32, wasm-bindgen, trunk) are exercised end to end.

use wasm_bindgen::prelude::*;

/// The API version this node speaks to central (`/v1`).
#[wasm_bindgen(js_name = apiVersion)]
pub fn api_version() -> String {
    "v1".to_owned()
}
