//! The store node. [`engine`] is the sync logic in plain Rust (tested
//! natively); the browser bindings over IndexedDB and fetch are still to come,
//! so for now the wasm surface only says which API version it speaks.

pub mod engine;

use wasm_bindgen::prelude::*;

/// The API version this node speaks to central (`/v1`).
#[wasm_bindgen(js_name = apiVersion)]
pub fn api_version() -> String {
    "v1".to_owned()
}
