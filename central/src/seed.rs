//! Demo data: a few stores and a few hundred products with stock, written
//! through the ledger like any other write, so it has a full change log.

use tokio::task::JoinSet;

use shared::{NewProduct, NewStore, SetStockRequest};

use crate::auth::{hash_chosen, verify_secret};
use ledger::{
    Ledger, Reader, Refusal,
    cmd::{CreateProduct, CreateStore, SetStock},
};

/// The demo stores' secrets: fixed, so the POS page can offer them. A real
/// deployment registers stores through the admin API and gets random ones.
pub fn demo_secret(store_id: &str) -> String {
    format!("demo-secret-{store_id}")
}

pub const DEMO_STORES: [(&str, &str); 3] = [
    ("store-001", "Downtown"),
    ("store-002", "Harbourside"),
    ("store-003", "Airport"),
];
pub const DEMO_PRODUCTS: usize = 300;

const ADJECTIVES: [&str; 12] = [
    "Organic",
    "Classic",
    "Smoked",
    "Roasted",
    "Fresh",
    "Spiced",
    "Golden",
    "Wild",
    "Mild",
    "Dark",
    "Sparkling",
    "Crunchy",
];
const NOUNS: [&str; 25] = [
    "Coffee Beans",
    "Green Tea",
    "Almonds",
    "Oat Milk",
    "Honey",
    "Sourdough",
    "Olive Oil",
    "Salmon",
    "Cheddar",
    "Granola",
    "Chocolate",
    "Pasta",
    "Rice",
    "Lentils",
    "Apple Juice",
    "Tomatoes",
    "Mustard",
    "Peanut Butter",
    "Crackers",
    "Yoghurt",
    "Walnuts",
    "Oranges",
    "Sea Salt",
    "Water",
    "Cocoa",
];

/// Refuses to serve a demo database as if it were a real one: its stores
/// take the published demo secrets. `marked` is the database's demo mark;
/// a database seeded before the mark existed is recognised by a demo
/// store that still takes its demo secret.
pub async fn refuse_demo_data(reader: &Reader, marked: bool) -> anyhow::Result<()> {
    let mut open = marked;
    for (store_id, _) in DEMO_STORES {
        if open {
            break;
        }
        let Some(credentials) = reader.store_secret(store_id).await? else {
            continue;
        };
        let secret = demo_secret(store_id);
        let hash = credentials.secret_hash;
        open = tokio::task::spawn_blocking(move || verify_secret(&secret, Some(&hash))).await?;
    }
    anyhow::ensure!(
        !open,
        "this database holds demo data: its stores take the published demo secrets \
         (demo-secret-<store id>). Start with --demo to run it as a demo, or point \
         --data-dir at a fresh directory for real use"
    );
    Ok(())
}

/// What seeding did.
#[derive(Debug, Default)]
pub struct Seeded {
    pub stores: usize,
    pub products: usize,
    pub levels: usize,
}

/// Loads the demo catalogue; what already exists is left as it is.
pub async fn demo(ledger: &Ledger) -> anyhow::Result<Seeded> {
    let mut seeded = Seeded::default();
    for (store_id, name) in DEMO_STORES {
        let new = NewStore {
            store_id: store_id.into(),
            name: name.into(),
            client_secret: None,
        };
        let secret = demo_secret(store_id);
        let hash = tokio::task::spawn_blocking(move || hash_chosen(&secret)).await??;
        match ledger
            .run(CreateStore {
                new,
                secret_hash: hash,
            })
            .await?
        {
            Ok(_) => seeded.stores += 1,
            Err(Refusal::StoreExists { .. }) => {}
            Err(refusal) => anyhow::bail!(refusal),
        }
    }

    // Sent concurrently so the writer commits them in groups.
    let mut products = JoinSet::new();
    for i in 1..=DEMO_PRODUCTS {
        let ledger = ledger.clone();
        let new = NewProduct {
            sku: format!("SKU-{i:04}"),
            name: format!(
                "{} {}",
                ADJECTIVES[i % ADJECTIVES.len()],
                NOUNS[(i / ADJECTIVES.len()) % NOUNS.len()]
            ),
            price_cents: 99 + ((i * 137) % 2400) as i64,
        };
        products.spawn(async move { (i, ledger.run(CreateProduct(new)).await) });
    }
    let mut new_skus = Vec::new();
    while let Some(created) = products.join_next().await {
        let (i, created) = created?;
        match created? {
            Ok(product) => new_skus.push((i, product.sku)),
            Err(Refusal::ProductExists { .. }) => {}
            Err(refusal) => anyhow::bail!(refusal),
        }
    }
    seeded.products = new_skus.len();

    let mut levels = JoinSet::new();
    for (i, sku) in &new_skus {
        for (s, (store_id, _)) in DEMO_STORES.iter().enumerate() {
            let ledger = ledger.clone();
            let (store_id, sku) = (store_id.to_string(), sku.clone());
            // Some products are out of stock somewhere, so refusals show up.
            let on_hand = ((i * 7 + s * 13 + 11) % 40) as i64;
            let req = SetStockRequest {
                on_hand,
                expected_version: None,
                reason: Some("demo stocktake".into()),
            };
            let set = SetStock { store_id, sku, req };
            levels.spawn(async move { ledger.run(set).await });
        }
    }
    while let Some(set) = levels.join_next().await {
        if let Err(refusal) = set?? {
            anyhow::bail!(refusal);
        }
        seeded.levels += 1;
    }
    Ok(seeded)
}
