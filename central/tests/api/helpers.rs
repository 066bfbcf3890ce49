//! A real central on port 0 with a fresh SQLite file, and a client for it:
//! the test-kit's, which every harness shares.

pub use testkit::*;
