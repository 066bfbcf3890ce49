//! Searching the replica: words in any order, each in the sku or the name;
//! every match counted, a page at a time; a scan finds only an exact sku;
//! and searches follow the catalogue as it changes.

use super::*;

impl Central {
    /// A product with a name of its own (`product` names it after its sku).
    fn named(&mut self, sku: &str, name: &str) {
        let product = Product {
            sku: sku.into(),
            name: name.into(),
            price_cents: 450,
            active: true,
            version: 1,
            updated_at: at(),
        };
        self.products.push(product.clone());
        self.push(Change::ProductCreated { product });
    }

    /// A product changed at central (renamed, withdrawn), a version on.
    fn changed(&mut self, sku: &str, change: impl FnOnce(&mut Product)) {
        let Some(product) = self.products.iter_mut().find(|p| p.sku == sku) else {
            panic!("no product {sku} at central");
        };
        change(product);
        product.version += 1;
        let product = product.clone();
        self.push(if product.active {
            Change::ProductUpdated { product }
        } else {
            Change::ProductDeleted { product }
        });
    }
}

fn skus(listing: &Listing) -> Vec<&str> {
    listing.views.iter().map(|v| v.sku.as_str()).collect()
}

/// Central with a small shop's catalogue, besides the harness's A and B.
fn shop() -> Harness {
    let h = Harness::new();
    {
        let mut c = h.central();
        c.named("COF-1", "Coffee beans 1kg");
        c.named("COF-2", "Ground coffee");
        c.named("TEA-1", "Green tea");
        c.named("Ab-9", "Mixed-case sku");
    }
    h
}

#[test]
fn a_search_finds_every_word_in_any_order_in_the_sku_or_the_name() {
    let h = shop();
    h.central().named("CAF-1", "Café Crème");
    let engine = h.synced_engine();
    let found = |query: &str| -> Vec<String> {
        let listing = engine.search(query, 0, 10);
        assert_eq!(listing.total, listing.views.len(), "one page holds all");
        skus(&listing).into_iter().map(str::to_owned).collect()
    };
    assert_eq!(found("coffee beans"), ["COF-1"]);
    assert_eq!(found("beans coffee"), ["COF-1"], "any order");
    assert_eq!(
        found("  BEANS   Coffee "),
        ["COF-1"],
        "any case and spacing"
    );
    assert_eq!(found("coffee"), ["COF-1", "COF-2"]);
    assert_eq!(
        found("cof 1kg"),
        ["COF-1"],
        "one word in the sku, one in the name"
    );
    assert_eq!(found("tea-1 green"), ["TEA-1"]);
    assert!(found("beans tea").is_empty(), "every word must be found");
    assert_eq!(found("CRÈME café"), ["CAF-1"], "any case beyond ASCII too");
    assert_eq!(found("caf-1"), ["CAF-1"]);
    assert!(found("1\nCOF").contains(&"COF-1".to_owned()));
    assert!(
        found("1kg\ncoffee-").is_empty(),
        "a word never straddles the sku and the name"
    );
}

#[test]
fn an_exact_sku_comes_first_in_any_case() {
    let h = shop();
    h.central().named("XB", "Product b-side");
    let engine = h.synced_engine();
    assert_eq!(
        skus(&engine.search("b", 0, 10)),
        ["B", "Ab-9", "COF-1", "XB"],
        "B first, then sku order (COF-1 for its beans)"
    );
    assert_eq!(skus(&engine.search("xb", 0, 10)), ["XB"]);
    assert_eq!(
        skus(&engine.search("ab-9", 0, 10)),
        ["Ab-9"],
        "a sku in mixed case, typed in another"
    );
}

#[test]
fn a_search_counts_every_match_and_pages_through_them() {
    let h = Harness::new();
    {
        let mut c = h.central();
        for n in 1..=60 {
            c.named(&format!("SKU-{n:04}"), &format!("Item number {n}"));
        }
    }
    let engine = h.synced_engine();

    let first = engine.search("", 0, 50);
    assert_eq!(first.total, 62, "every product, A and B included");
    assert_eq!(first.views.len(), 50);
    assert_eq!(skus(&first)[..3], ["A", "B", "SKU-0001"], "sku order");
    let second = engine.search("", 50, 50);
    assert_eq!(second.total, 62);
    assert_eq!(skus(&second)[0], "SKU-0049");
    assert_eq!(skus(&second).last(), Some(&"SKU-0060"));
    assert_eq!(second.views.len(), 12, "the rest");
    assert!(engine.search("", 62, 50).views.is_empty(), "past the end");

    let items = engine.search("item", 0, 50);
    assert_eq!(
        (items.total, items.views.len()),
        (60, 50),
        "more than a page"
    );
    // An exact sku is first on the first page, and on no other.
    let exact = engine.search("sku-0060", 0, 1);
    assert_eq!((skus(&exact), exact.total), (vec!["SKU-0060"], 1));
    let with_it = engine.search("sku-006", 0, 50);
    assert_eq!(with_it.total, 1, "SKU-0060 only: 0061 and up do not exist");
    let ones = engine.search("1", 0, 5);
    let rest = engine.search("1", 5, 50);
    let all: Vec<_> = skus(&ones).into_iter().chain(skus(&rest)).collect();
    assert_eq!(all.len(), ones.total, "the pages hold each match once");
    let mut unique = all.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(unique.len(), all.len(), "no match on two pages");
    assert!(engine.list("", 3).len() == 3, "list is the first page");
}

#[test]
fn a_scan_finds_only_an_exact_active_sku_in_any_case() {
    let h = shop();
    let engine = h.synced_engine();
    let sku = |code: &str| engine.find_sku(code).map(|v| v.sku);
    assert_eq!(sku("cof-1").as_deref(), Some("COF-1"));
    assert_eq!(
        sku(" COF-1 ").as_deref(),
        Some("COF-1"),
        "as a scanner sends it"
    );
    assert_eq!(sku("AB-9").as_deref(), Some("Ab-9"));
    assert_eq!(sku("COF"), None, "a product that contains it is no match");
    assert_eq!(sku("Coffee"), None);
    assert_eq!(sku(""), None);
    h.central().changed("COF-1", |p| p.active = false);
    catch_up(&engine);
    assert_eq!(sku("COF-1"), None, "withdrawn from sale");
}

#[test]
fn searches_follow_the_catalogue_as_it_changes() {
    let h = shop();
    let leader = h.synced_engine();
    let follower = h.engine();
    block_on(follower.reload()).unwrap();
    for engine in [&leader, &follower] {
        assert_eq!(skus(&engine.search("coffee", 0, 10)), ["COF-1", "COF-2"]);
    }

    // A page of product events: new, renamed, withdrawn.
    {
        let mut c = h.central();
        c.named("COF-3", "Decaf coffee");
        c.changed("COF-2", |p| p.name = "Ground espresso".into());
        c.changed("COF-1", |p| p.active = false);
    }
    catch_up(&leader);
    assert_eq!(skus(&leader.search("coffee", 0, 10)), ["COF-3"]);
    assert_eq!(skus(&leader.search("espresso", 0, 10)), ["COF-2"]);
    assert_eq!(
        leader.search("", 0, 100).total,
        6,
        "the withdrawn one is gone"
    );

    // What the syncing tab stored, in the tab that follows it.
    block_on(follower.reload()).unwrap();
    assert_eq!(skus(&follower.search("coffee", 0, 10)), ["COF-3"]);

    // A new snapshot (central pruned the node's offset).
    h.central().named("COF-4", "Iced coffee");
    let head = h.central().head();
    h.central().pruned_through = head;
    assert!(matches!(
        block_on(leader.sync(0)),
        Ok(Synced::Bootstrapped { .. })
    ));
    assert_eq!(skus(&leader.search("coffee", 0, 10)), ["COF-3", "COF-4"]);
    block_on(follower.reload()).unwrap();
    assert_eq!(
        skus(&follower.search("coffee", 0, 10)),
        ["COF-3", "COF-4"],
        "the follower re-read the new base"
    );
}
