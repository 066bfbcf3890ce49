//! Finding products in the replica as a till does: by the words of a query
//! in any order, each in the sku or the name, any case; an exact sku first
//! (a scanner typed it); a page at a time, with how many match in all, so
//! a till can browse the whole catalogue. Only active products are found.
//!
//! A search runs over every product at each keystroke, from memory (50,000
//! in a large store: `cargo xtask bench-node` measures it). So it runs over
//! [`SearchKeys`], each product's sku and name lower-cased once, not over
//! the products, which would fold the case of every name at every keystroke.

use std::collections::BTreeMap;

use shared::Product;

use super::{Clock, Engine, StockView, Storage, Transport};

/// Every active product's search key, in sku order: what a search scans.
/// Built from the replica's products the first time a search needs it
/// after they changed (the engine drops it wherever they change).
pub(super) struct SearchKeys(Vec<Key>);

/// One product's key: `"COF-1\ncof-1\ncoffee beans"`, the sku as it is,
/// then the sku and the name lower-cased, apart (a word found there is in
/// one or the other, never straddling them). One allocation per product:
/// building the keys of 50,000 is a till's first search.
struct Key {
    text: String,
    /// Where the lower-cased part starts.
    folded_at: usize,
}

impl Key {
    fn of(product: &Product) -> Key {
        let (sku, name) = (&product.sku, &product.name);
        let mut text = String::with_capacity(2 * sku.len() + name.len() + 2);
        text.push_str(sku);
        text.push('\n');
        let folded_at = text.len();
        // Skus are ASCII (`shared::validate`); most names are too, and
        // fold in place.
        text.extend(sku.chars().map(|c| c.to_ascii_lowercase()));
        text.push('\n');
        if name.is_ascii() {
            let at = text.len();
            text.push_str(name);
            text[at..].make_ascii_lowercase();
        } else {
            text.push_str(&name.to_lowercase());
        }
        Key { text, folded_at }
    }

    fn sku(&self) -> &str {
        &self.text[..self.folded_at - 1]
    }

    fn folded(&self) -> &str {
        &self.text[self.folded_at..]
    }
}

impl SearchKeys {
    fn of(products: &BTreeMap<String, Product>) -> SearchKeys {
        let keys = products.values().filter(|p| p.active).map(Key::of);
        SearchKeys(keys.collect())
    }
}

/// One page of a search.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Listing {
    /// The page asked for, in order: an exact sku first, then sku order.
    pub views: Vec<StockView>,
    /// How many active products match in all, this page included.
    pub total: usize,
}

impl<S: Storage, T: Transport, C: Clock> Engine<S, T, C> {
    /// The active products matching every word of `query` (each in the sku
    /// or the name, any case, in any order): `limit` of them from `offset`,
    /// and how many match in all. An empty query matches every product.
    pub fn search(&self, query: &str, offset: usize, limit: usize) -> Listing {
        if self.state.borrow().search_keys.is_none() {
            let mut state = self.state.borrow_mut();
            state.search_keys = Some(SearchKeys::of(&state.replica.products));
        }
        let state = self.state.borrow();
        let Some(SearchKeys(keys)) = &state.search_keys else {
            return Listing::default();
        };
        let exact = exact_sku(&state.replica.products, query.trim()).map(|p| p.sku.as_str());
        let words: Vec<String> = query.split_whitespace().map(str::to_lowercase).collect();
        let others = keys.iter().filter(|k| {
            exact != Some(k.sku()) && words.iter().all(|w| k.folded().contains(w.as_str()))
        });
        let (mut total, mut page) = (0, Vec::new());
        for sku in exact.into_iter().chain(others.map(Key::sku)) {
            if total >= offset && page.len() < limit {
                page.push(sku);
            }
            total += 1;
        }
        Listing {
            views: page
                .into_iter()
                .filter_map(|sku| self.view_in(&state, sku))
                .collect(),
            total,
        }
    }

    /// At most `limit` products matching `filter`, as [`Engine::search`]
    /// finds them: its first page.
    pub fn list(&self, filter: &str, limit: usize) -> Vec<StockView> {
        self.search(filter, 0, limit).views
    }

    /// The active product whose sku is `code`, in any case: what a scanner
    /// typed. Never a product that merely contains it.
    pub fn find_sku(&self, code: &str) -> Option<StockView> {
        let state = self.state.borrow();
        let sku = exact_sku(&state.replica.products, code.trim())?.sku.clone();
        self.view_in(&state, &sku)
    }
}

/// The active product whose sku is `code` in any case. Skus are ASCII (see
/// `shared::validate`); the map is looked up as typed and in upper case
/// first (how skus are mostly written), and scanned only when both miss.
fn exact_sku<'p>(products: &'p BTreeMap<String, Product>, code: &str) -> Option<&'p Product> {
    if code.is_empty() || code.contains(char::is_whitespace) {
        return None;
    }
    products
        .get(code)
        .or_else(|| products.get(&code.to_ascii_uppercase()))
        .or_else(|| products.values().find(|p| p.sku.eq_ignore_ascii_case(code)))
        .filter(|p| p.active)
}
