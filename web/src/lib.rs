//! Stockline's POS page, built and served by trunk. [`wording`] is what the
//! till says and [`lock`] its PIN (plain Rust, tested natively); `app`
//! (wasm32 only) is the page.

#[cfg(target_arch = "wasm32")]
pub mod app;
pub mod lock;
pub mod wording;
