//! The store node. [`engine`] is the sync logic in plain Rust, tested
//! natively; `browser` (wasm32 only) implements its ports with IndexedDB and
//! fetch and exposes the `StoreNode` class to the page.

#[cfg(target_arch = "wasm32")]
pub mod browser;
pub mod engine;

use wasm_bindgen::prelude::*;

/// The API version this node speaks to central (`/v1`).
#[wasm_bindgen(js_name = apiVersion)]
pub fn api_version() -> String {
    "v1".to_owned()
}
