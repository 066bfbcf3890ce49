//! The browser side of the store node: IndexedDB storage, fetch transport,
//! JS clock, and the `StoreNode` class the POS page uses.

mod node;
mod runtime;
mod storage;
mod transport;

type BrowserEngine = crate::engine::Engine<IdbStorage, HttpTransport, JsClock>;

pub use node::StoreNode;
pub use storage::IdbStorage;
pub use transport::{HttpTransport, JsClock};
