//! What the PostgreSQL writer keeps of one kind of row during a group:
//! the rows it read (as the database held them) and wrote (to be written
//! with the group's statement), with an undo log to roll back to a
//! savepoint. Levels, holds and channels' held units are each one of
//! these; a new kind of kept row is one more field, not a map, an undo
//! list, a mark and a forget line of its own.

use std::{borrow::Borrow, collections::HashMap, hash::Hash};

pub(super) struct Kept<K, V> {
    rows: HashMap<K, V>,
    /// Each write's previous entry (`None`: there was none), oldest first.
    undo: Vec<(K, Option<V>)>,
}

impl<K: Eq + Hash + Clone, V> Kept<K, V> {
    pub fn new() -> Self {
        Kept {
            rows: HashMap::new(),
            undo: Vec::new(),
        }
    }

    pub fn get<Q>(&self, key: &Q) -> Option<&V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.rows.get(key)
    }

    pub fn contains<Q>(&self, key: &Q) -> bool
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.rows.contains_key(key)
    }

    /// A row as the database holds it, kept unless the group already has
    /// one (read or written) for `key`: what the group has is newer.
    pub fn read(&mut self, key: K, value: V) {
        self.rows.entry(key).or_insert(value);
    }

    /// A row the group writes; a savepoint rolled back puts back what was
    /// there.
    pub fn write(&mut self, key: K, value: V) {
        let was = self.rows.insert(key.clone(), value);
        self.undo.push((key, was));
    }

    /// Where a savepoint set now rolls back to.
    pub fn mark(&self) -> usize {
        self.undo.len()
    }

    /// Undoes the writes since `mark`, newest first.
    pub fn roll_back(&mut self, mark: usize) {
        let undone = self.undo.split_off(mark.min(self.undo.len()));
        for (key, was) in undone.into_iter().rev() {
            match was {
                Some(value) => self.rows.insert(key, value),
                None => self.rows.remove(&key),
            };
        }
    }

    /// Forgets every row (the group ended, or the database now holds what
    /// was kept).
    pub fn clear(&mut self) {
        self.rows.clear();
        self.undo.clear();
    }

    /// Every row, forgotten here: what the group's statement writes.
    pub fn take(&mut self) -> impl Iterator<Item = (K, V)> {
        self.undo.clear();
        std::mem::take(&mut self.rows).into_iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_roll_back_puts_back_what_each_write_replaced_and_keeps_what_was_read() {
        let mut kept: Kept<&str, i32> = Kept::new();
        kept.read("a", 1);
        kept.write("b", 2);
        let mark = kept.mark();
        kept.write("a", 10);
        kept.write("c", 3);
        kept.write("c", 4);
        kept.read("d", 5);
        kept.roll_back(mark);
        assert_eq!(kept.get(&"a"), Some(&1));
        assert_eq!(kept.get(&"b"), Some(&2));
        assert_eq!(kept.get(&"c"), None);
        assert_eq!(
            kept.get(&"d"),
            Some(&5),
            "a read is the database's, not undone"
        );
    }

    #[test]
    fn a_read_never_replaces_what_the_group_has() {
        let mut kept: Kept<&str, i32> = Kept::new();
        kept.write("a", 2);
        kept.read("a", 1);
        assert_eq!(kept.get(&"a"), Some(&2));
    }
}
