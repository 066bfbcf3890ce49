//! In-process wake-ups for long-polls. A long-poll never polls SQLite in a
//! loop: it waits on a watch channel the writer bumps after each commit. Each
//! store has its own channel, so a sale in one store wakes that store's
//! followers (and the unfiltered ones), not every till in the chain.

use std::{collections::HashMap, sync::Mutex};

use tokio::sync::watch;

use ledger::{Committed, Subscriber};

pub struct Notifier {
    /// Bumped on every commit: followers of the whole log.
    all: watch::Sender<u64>,
    /// Bumped on catalogue-wide events, which every store follows.
    catalog: watch::Sender<u64>,
    stores: Mutex<HashMap<String, watch::Sender<u64>>>,
}

impl Default for Notifier {
    fn default() -> Self {
        Notifier {
            all: watch::Sender::new(0),
            catalog: watch::Sender::new(0),
            stores: Mutex::new(HashMap::new()),
        }
    }
}

/// What one long-poll waits on.
pub struct Subscription {
    primary: watch::Receiver<u64>,
    catalog: Option<watch::Receiver<u64>>,
}

impl Subscription {
    /// The head after the newest commit that concerned this subscriber.
    pub fn latest(&self) -> u64 {
        let catalog = self.catalog.as_ref().map_or(0, |c| *c.borrow());
        (*self.primary.borrow()).max(catalog)
    }

    /// Resolves at the next commit that concerns this subscriber.
    pub async fn changed(&mut self) {
        let primary = self.primary.changed();
        match &mut self.catalog {
            None => {
                let _ = primary.await;
            }
            Some(catalog) => {
                tokio::select! {
                    _ = primary => {}
                    _ = catalog.changed() => {}
                }
            }
        }
    }
}

impl Notifier {
    /// The caller has checked that the store exists. A store's channel made
    /// now starts at the current head: a commit it never saw may concern it,
    /// and `latest()` then says so.
    pub fn subscribe(&self, store: Option<&str>) -> Subscription {
        match store {
            None => Subscription {
                primary: self.all.subscribe(),
                catalog: None,
            },
            Some(store) => {
                let mut stores = self.stores.lock().unwrap_or_else(|e| e.into_inner());
                let sender = stores
                    .entry(store.to_owned())
                    .or_insert_with(|| watch::Sender::new(self.head()));
                Subscription {
                    primary: sender.subscribe(),
                    catalog: Some(self.catalog.subscribe()),
                }
            }
        }
    }

    /// Wakes the followers of the whole log, of the catalogue if the group
    /// touched it, and of each store it touched.
    fn publish(&self, committed: &Committed) {
        let head = committed.head;
        self.all.send_replace(head);
        metrics::gauge!(crate::observability::HEAD_OFFSET).set(head as f64);
        if committed.events.iter().any(|e| e.store_id.is_none()) {
            self.catalog.send_replace(head);
        }
        let stores = self.stores.lock().unwrap_or_else(|e| e.into_inner());
        if stores.is_empty() {
            return;
        }
        let mut last = None;
        for store in committed
            .events
            .iter()
            .filter_map(|e| e.store_id.as_deref())
        {
            // A group's events mostly come in runs of one store.
            if last == Some(store) {
                continue;
            }
            last = Some(store);
            if let Some(sender) = stores.get(store) {
                sender.send_replace(head);
            }
        }
    }

    /// The newest offset committed (as of the last commit).
    pub fn head(&self) -> u64 {
        *self.all.borrow()
    }

    /// Long-polls currently waiting, for the metrics.
    pub fn waiters(&self) -> usize {
        self.all.receiver_count()
    }
}

impl Subscriber for Notifier {
    fn opened(&self, head: u64, _pruned_through: u64) {
        self.all.send_replace(head);
    }

    fn committed(&self, committed: &Committed) {
        self.publish(committed);
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    /// A group at `head` whose events are of these stores (`None`: the
    /// catalogue).
    fn group(head: u64, stores: &[Option<&str>]) -> Committed {
        let events = stores
            .iter()
            .map(|store| ledger::CommittedEvent {
                offset: head,
                store_id: store.map(str::to_owned),
                json: serde_json::value::RawValue::from_string("{}".into()).unwrap(),
            })
            .collect();
        Committed {
            head,
            events,
            ..Committed::default()
        }
    }

    async fn wakes(sub: &mut Subscription) -> bool {
        tokio::time::timeout(Duration::from_millis(50), sub.changed())
            .await
            .is_ok()
    }

    #[tokio::test]
    async fn a_store_write_wakes_only_that_store() {
        let n = Notifier::default();
        let mut a = n.subscribe(Some("a"));
        let mut b = n.subscribe(Some("b"));
        let mut all = n.subscribe(None);
        n.committed(&group(1, &[Some("a")]));
        assert!(wakes(&mut a).await);
        assert!(!wakes(&mut b).await);
        assert!(wakes(&mut all).await);
    }

    #[tokio::test]
    async fn a_store_channel_made_late_reports_the_commits_it_missed() {
        let n = Notifier::default();
        n.committed(&group(7, &[Some("a")]));
        assert_eq!(n.subscribe(Some("a")).latest(), 7);
    }

    #[tokio::test]
    async fn catalogue_events_wake_every_store() {
        let n = Notifier::default();
        let mut a = n.subscribe(Some("a"));
        let mut b = n.subscribe(Some("b"));
        n.committed(&group(1, &[None]));
        assert!(wakes(&mut a).await);
        assert!(wakes(&mut b).await);
    }
}
