//! POS page entry point. The till UI comes with its own issue; this binary is
//! what trunk builds and serves today.

fn main() {
    // Only meaningful in the browser; trunk's generated loader calls main().
    let _ = store_wasm::api_version();
}
