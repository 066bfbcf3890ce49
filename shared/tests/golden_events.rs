//! The change log's events are stored as JSON and served as stored, for
//! as long as retention keeps them: replicas of every release read them.
//! Each kind's JSON is pinned here, so a rename cannot silently break a
//! replay.

use shared::{AdjustKind, Change, Event, Product, Store};
use time::macros::datetime;

fn event(offset: u64, change: Change) -> Event {
    Event {
        offset,
        at: datetime!(2026-12-01 12:00:00 UTC),
        change,
    }
}

#[test]
fn every_event_kind_keeps_its_stored_json() {
    let product = Product {
        sku: "A".into(),
        name: "Beans".into(),
        price_cents: 250,
        active: true,
        version: 1,
        updated_at: datetime!(2026-12-01 12:00:00 UTC),
    };
    let store = Store {
        store_id: "s1".into(),
        name: "Downtown".into(),
        active: true,
        created_at: datetime!(2026-12-01 12:00:00 UTC),
    };
    let at = r#""offset":1,"at":"2026-12-01T12:00:00Z""#;
    let product_json = r#"{"sku":"A","name":"Beans","price_cents":250,"active":true,"version":1,"updated_at":"2026-12-01T12:00:00Z"}"#;
    let store_json =
        r#"{"store_id":"s1","name":"Downtown","active":true,"created_at":"2026-12-01T12:00:00Z"}"#;
    let golden = [
        (
            Change::StockAdjusted {
                store_id: "s1".into(),
                sku: "A".into(),
                delta: -2,
                adjust_kind: AdjustKind::Recorded,
                available: -1,
                version: 9,
                idempotency_key: "k-1".into(),
                reason: Some("sold offline".into()),
                device_id: None,
            },
            format!(
                r#"{{{at},"kind":"stock_adjusted","store_id":"s1","sku":"A","delta":-2,"adjust_kind":"recorded","available":-1,"version":9,"idempotency_key":"k-1","reason":"sold offline"}}"#
            ),
        ),
        (
            Change::StockAdjusted {
                store_id: "s1".into(),
                sku: "A".into(),
                delta: -1,
                adjust_kind: AdjustKind::Guarded,
                available: 4,
                version: 10,
                idempotency_key: "k-2".into(),
                reason: None,
                device_id: Some("dev-0123456789abcdef0123".into()),
            },
            format!(
                r#"{{{at},"kind":"stock_adjusted","store_id":"s1","sku":"A","delta":-1,"adjust_kind":"guarded","available":4,"version":10,"idempotency_key":"k-2","device_id":"dev-0123456789abcdef0123"}}"#
            ),
        ),
        (
            Change::StockSet {
                store_id: "s1".into(),
                sku: "A".into(),
                previous: 3,
                available: 10,
                version: 4,
                reason: None,
            },
            format!(
                r#"{{{at},"kind":"stock_set","store_id":"s1","sku":"A","previous":3,"available":10,"version":4}}"#
            ),
        ),
        (
            Change::Discrepancy {
                store_id: "s1".into(),
                sku: "A".into(),
                available: -1,
                version: 9,
                idempotency_key: "k-1".into(),
            },
            format!(
                r#"{{{at},"kind":"discrepancy","store_id":"s1","sku":"A","available":-1,"version":9,"idempotency_key":"k-1"}}"#
            ),
        ),
        (
            Change::ProductCreated {
                product: product.clone(),
            },
            format!(r#"{{{at},"kind":"product_created","product":{product_json}}}"#),
        ),
        (
            Change::ProductUpdated {
                product: product.clone(),
            },
            format!(r#"{{{at},"kind":"product_updated","product":{product_json}}}"#),
        ),
        (
            Change::ProductDeleted { product },
            format!(r#"{{{at},"kind":"product_deleted","product":{product_json}}}"#),
        ),
        (
            Change::StoreCreated {
                store: store.clone(),
            },
            format!(r#"{{{at},"kind":"store_created","store":{store_json}}}"#),
        ),
        (
            Change::StoreUpdated { store },
            format!(r#"{{{at},"kind":"store_updated","store":{store_json}}}"#),
        ),
    ];
    for (change, stored) in golden {
        let event = event(1, change);
        assert_eq!(serde_json::to_string(&event).unwrap(), stored);
        let read: Event = serde_json::from_str(&stored).unwrap();
        assert_eq!(read, event, "{stored} reads back");
    }
}
