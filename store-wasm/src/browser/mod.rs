//! The browser side of the store node: IndexedDB storage, fetch transport,
//! JS clock; [`Node`] for the POS page and the `StoreNode` class for JS.

#[cfg(feature = "js-api")]
mod js;
mod node;
mod runtime;
mod storage;
mod transport;

type BrowserEngine = crate::engine::Engine<IdbStorage, HttpTransport, JsClock>;

#[cfg(feature = "js-api")]
pub use js::{StoreNode, js_error};
pub use node::{Node, Options, enrol};
pub use storage::IdbStorage;
pub use transport::{HttpTransport, JsClock};
