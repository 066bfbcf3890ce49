//! A real central on port 0 with a fresh SQLite file (or, with
//! `STOCKLINE_TEST_BACKEND=postgres`, a fresh PostgreSQL database), and a
//! client for it: the test-kit's, which every harness shares.

pub use testkit::*;

/// For a test that reaches into the SQLite file itself (to break it, bulk
/// load it, or take it back to an old schema): it returns at once in the
/// PostgreSQL run of the suite. What it checks of the ledger's rules runs
/// on PostgreSQL in the ledger crate's conformance suite.
macro_rules! sqlite_file_only {
    () => {
        if $crate::helpers::backend_is_postgres() {
            return;
        }
    };
}
pub(crate) use sqlite_file_only;
