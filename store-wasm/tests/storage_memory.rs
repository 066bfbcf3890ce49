//! The storage suite on [`MemoryStorage`], the fake the engine's tests run
//! on (IndexedDB passes the same suite in `browser.rs`).
#![cfg(not(target_arch = "wasm32"))]

mod storage_suite;

use store_wasm::engine::MemoryStorage;

#[test]
fn memory_storage_behaves_as_indexeddb_does() {
    futures::executor::block_on(storage_suite::run(async || MemoryStorage::default()));
}
