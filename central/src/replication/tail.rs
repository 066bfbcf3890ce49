//! The newest events of the change log, held in memory. The writer appends
//! each committed group; followers near the head — nearly all of them, and
//! every long-poll a commit wakes — are answered from here without SQLite.
//! Anything older falls back to the database.

use std::{
    collections::VecDeque,
    sync::{PoisonError, RwLock},
};

use ledger::{ChangesPage, Committed, CommittedEvent, Subscriber};

/// How many of the newest events are kept.
pub const CAPACITY: usize = 16_384;

#[derive(Default)]
struct Inner {
    /// False until the writer has loaded the head: until then every
    /// request goes to the database.
    ready: bool,
    events: VecDeque<CommittedEvent>,
    head: u64,
    pruned_through: u64,
}

#[derive(Default)]
pub struct Tail {
    inner: RwLock<Inner>,
}

/// What the tail can say about a request.
pub enum Answer {
    Page(ChangesPage),
    /// `from` was pruned: the client re-bootstraps.
    Gone {
        oldest: u64,
        head: u64,
    },
    /// Older than the tail, or newer than it knows yet: ask the database.
    Unknown,
}

impl Tail {
    fn reset(&self, head: u64, pruned_through: u64) {
        let mut inner = self.inner.write().unwrap_or_else(PoisonError::into_inner);
        *inner = Inner {
            ready: true,
            events: VecDeque::new(),
            head,
            pruned_through,
        };
    }

    /// True once the writer has loaded the ledger's head.
    pub fn is_ready(&self) -> bool {
        self.inner
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .ready
    }

    /// Takes a committed group's events, before anyone is woken.
    fn extend(&self, events: &[CommittedEvent], head: u64, pruned_through: Option<u64>) {
        let mut inner = self.inner.write().unwrap_or_else(PoisonError::into_inner);
        inner.events.extend(events.iter().cloned());
        let excess = inner.events.len().saturating_sub(CAPACITY);
        inner.events.drain(..excess);
        inner.head = head;
        if let Some(pruned) = pruned_through {
            inner.pruned_through = pruned;
            while inner
                .events
                .front()
                .is_some_and(|event| event.offset <= pruned)
            {
                inner.events.pop_front();
            }
        }
    }

    /// The same page the database would give, if the tail holds it.
    pub fn page(&self, from: u64, limit: u32, store: Option<&str>) -> Answer {
        let inner = self.inner.read().unwrap_or_else(PoisonError::into_inner);
        if !inner.ready {
            return Answer::Unknown;
        }
        if from < inner.pruned_through {
            return Answer::Gone {
                oldest: inner.pruned_through,
                head: inner.head,
            };
        }
        let oldest_held = inner.events.front().map_or(inner.head + 1, |e| e.offset);
        if from > inner.head || from + 1 < oldest_held {
            return Answer::Unknown;
        }
        let start = inner.events.partition_point(|e| e.offset <= from);
        let mut events = Vec::new();
        let mut last = None;
        for event in inner.events.range(start..) {
            if events.len() == limit as usize {
                break;
            }
            if store.is_none() || event.store_id.is_none() || event.store_id.as_deref() == store {
                events.push(event.json.clone());
                last = Some(event.offset);
            }
        }
        // A full page ends at its last event; a short one saw up to head.
        let next_offset = match last {
            Some(offset) if events.len() == limit as usize => offset,
            _ => inner.head,
        };
        Answer::Page(ChangesPage {
            events,
            next_offset,
            head: inner.head,
        })
    }
}

impl Subscriber for Tail {
    fn opened(&self, head: u64, pruned_through: u64) {
        self.reset(head, pruned_through);
    }

    fn committed(&self, committed: &Committed) {
        self.extend(&committed.events, committed.head, committed.pruned_through);
    }
}

#[cfg(test)]
mod tests {
    use serde_json::value::RawValue;

    use super::*;

    fn entry(offset: u64, store: Option<&str>) -> CommittedEvent {
        let json = format!(r#"{{"offset":{offset}}}"#);
        CommittedEvent {
            offset,
            store_id: store.map(str::to_owned),
            json: RawValue::from_string(json).unwrap(),
        }
    }

    fn offsets(answer: Answer) -> (Vec<String>, u64) {
        match answer {
            Answer::Page(p) => (
                p.events.iter().map(|e| e.get().to_owned()).collect(),
                p.next_offset,
            ),
            _ => panic!("expected a page"),
        }
    }

    #[test]
    fn knows_nothing_until_the_writer_has_loaded_the_head() {
        let tail = Tail::default();
        assert!(matches!(tail.page(0, 10, None), Answer::Unknown));
        tail.reset(7, 0);
        assert!(matches!(tail.page(7, 10, None), Answer::Page(_)));
    }

    #[test]
    fn pages_filter_and_fall_back() {
        let tail = Tail::default();
        tail.reset(10, 0);
        tail.extend(
            &[entry(11, Some("a")), entry(12, Some("b")), entry(13, None)],
            13,
            None,
        );
        let (events, next) = offsets(tail.page(10, 10, Some("a")));
        assert_eq!(events, [r#"{"offset":11}"#, r#"{"offset":13}"#]);
        assert_eq!(next, 13);
        let (events, next) = offsets(tail.page(10, 1, None));
        assert_eq!((events.len(), next), (1, 11));
        assert!(
            matches!(tail.page(9, 10, None), Answer::Unknown),
            "older than held"
        );
        assert!(
            matches!(tail.page(14, 10, None), Answer::Unknown),
            "newer than known"
        );
        tail.extend(&[], 13, Some(12));
        assert!(matches!(
            tail.page(11, 10, None),
            Answer::Gone { oldest: 12, .. }
        ));
        let (events, _) = offsets(tail.page(12, 10, None));
        assert_eq!(events, [r#"{"offset":13}"#]);
    }
}
