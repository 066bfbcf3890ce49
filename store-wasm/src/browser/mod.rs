//! The browser side of the store node: IndexedDB storage, fetch transport,
//! JS clock, and the `StoreNode` class the POS page uses.

mod node;
mod storage;
mod transport;

pub use node::StoreNode;
pub use storage::IdbStorage;
pub use transport::{HttpTransport, JsClock};
