//! The POS page's entry point: trunk builds this binary and its loader
//! calls `main()` once the wasm is in.

fn main() {
    #[cfg(target_arch = "wasm32")]
    web::app::start();
}
