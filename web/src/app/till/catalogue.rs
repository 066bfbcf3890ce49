//! The catalogue: the search box and a page of the products it finds, each
//! row with its quantity and actions (Sell, + Basket, Nearby; restocks are
//! the manager's, see `app::manager`),
//! paged with Previous and Next under a count ("Showing 1–50 of 50,000");
//! and a scan (a sku and Enter) straight into the basket.
//!
//! An empty search browses the whole catalogue; a query finds the products
//! that have every one of its words in their sku or name (the engine's
//! `search`).

use std::{collections::HashMap, rc::Rc};

use store_wasm::engine::StockView;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::spawn_local;
use web_sys::{Element, Event, HtmlInputElement, KeyboardEvent};

use super::{RESULTS, Till};
use crate::app::dom::{add, button, closest_with, el, listen, set_text, show};
use crate::wording;

/// A result row, kept by sku: a live update changes its text in place, so
/// a quantity being typed in it survives.
pub(super) struct Row {
    pub(super) sku: String,
    pub(super) tr: Element,
    name: Element,
    price: Element,
    stock: Element,
    detail: Element,
}

impl Till {
    pub(super) fn listen_catalogue(self: &Rc<Self>) -> Result<(), JsValue> {
        let r = &self.regions;
        let me = self.clone();
        listen(&r.search, "input", move |_: Event| me.new_search())?;
        let me = self.clone();
        listen(&r.search, "keydown", move |e: KeyboardEvent| {
            match e.key().as_str() {
                "Enter" if !e.ctrl_key() && !e.meta_key() => {
                    e.prevent_default();
                    me.scan();
                }
                "Escape" => {
                    me.regions.search.set_value("");
                    me.new_search();
                }
                _ => {}
            }
        })?;
        let me = self.clone();
        listen(&r.results, "click", move |e: Event| me.row_action(&e))?;
        let me = self.clone();
        listen(&r.results, "keydown", move |e: KeyboardEvent| {
            // Enter in a row's quantity: that many into the basket. (On a
            // button, Enter presses the button.)
            if e.key() == "Enter"
                && !e.ctrl_key()
                && !e.meta_key()
                && closest_with(&e, "data-qty").is_some()
                && let Some((row, sku)) = closest_with(&e, "data-sku")
                && let Ok(quantity) = me.quantity(&row)
            {
                e.prevent_default();
                me.add_to_basket(&sku, quantity);
            }
        })?;
        let me = self.clone();
        listen(&r.prev_page, "click", move |_: Event| me.turn_page(false))?;
        let me = self.clone();
        listen(&r.next_page, "click", move |_: Event| me.turn_page(true))
    }

    /// The query changed: its first page, from the top of the list.
    fn new_search(&self) {
        self.ui.borrow_mut().offset = 0;
        if let Err(e) = self.render_results() {
            web_sys::console::error_1(&e);
        }
        self.scroll_results_to_top();
    }

    /// Previous or Next. The button pressed may now be disabled (the first
    /// or last page): focus goes to the other one, never to the page.
    fn turn_page(&self, forward: bool) {
        {
            let mut ui = self.ui.borrow_mut();
            if !forward {
                ui.offset = ui.offset.saturating_sub(RESULTS);
            } else if ui.offset + RESULTS < ui.total {
                ui.offset += RESULTS;
            }
        }
        if let Err(e) = self.render_results() {
            web_sys::console::error_1(&e);
        }
        self.scroll_results_to_top();
        let r = &self.regions;
        let (pressed, other) = if forward {
            (&r.next_page, &r.prev_page)
        } else {
            (&r.prev_page, &r.next_page)
        };
        if pressed.disabled() {
            let _ = if other.disabled() {
                r.search.focus()
            } else {
                other.focus()
            };
        }
    }

    /// The list from its first row: its panel scrolls (medium and wide
    /// screens), or the page does (narrow) when the list's top is above.
    fn scroll_results_to_top(&self) {
        let list = &self.regions.results_scroll;
        list.set_scroll_top(0);
        if list.get_bounding_client_rect().top() < 0.0 {
            list.scroll_into_view();
        }
    }

    pub(super) fn render_results(&self) -> Result<(), JsValue> {
        let query = self.regions.search.value();
        let engine = self.node.engine();
        let mut offset = self.ui.borrow().offset;
        let mut listing = engine.search(&query, offset, RESULTS);
        if listing.views.is_empty() && listing.total > 0 {
            // The matches shrank under this page (products withdrawn
            // meanwhile): their last page.
            offset = (listing.total - 1) / RESULTS * RESULTS;
            listing = engine.search(&query, offset, RESULTS);
        }
        let views = &listing.views;
        let mut ui = self.ui.borrow_mut();
        (ui.offset, ui.total) = (offset, listing.total);
        let same = ui.rows.len() == views.len()
            && ui.rows.iter().zip(views).all(|(row, v)| row.sku == v.sku);
        if !same {
            let mut old: HashMap<String, Row> =
                ui.rows.drain(..).map(|r| (r.sku.clone(), r)).collect();
            for view in views {
                let row = match old.remove(&view.sku) {
                    Some(row) => row,
                    None => self.new_row(view)?,
                };
                ui.rows.push(row);
            }
            // An open nearby answer stays under its row, or goes with it.
            if let Some((sku, _)) = &ui.nearby
                && !ui.rows.iter().any(|r| r.sku == *sku)
            {
                ui.nearby = None;
            }
            let mut order = Vec::with_capacity(ui.rows.len() + 1);
            for row in &ui.rows {
                order.push(&row.tr);
                if let Some((sku, tr)) = &ui.nearby
                    && *sku == row.sku
                {
                    order.push(tr);
                }
            }
            self.place_rows(&order)?;
        }
        for (row, view) in ui.rows.iter().zip(views) {
            let (headline, detail) = wording::stock(view);
            set_text(&row.stock, &headline);
            set_text(&row.detail, detail.as_deref().unwrap_or(""));
            set_text(&row.name, view.name.as_deref().unwrap_or(""));
            set_text(
                &row.price,
                &view
                    .price_cents
                    .map(|p| self.node.engine().currency().format(p))
                    .unwrap_or_default(),
            );
            row.tr
                .set_class_name(if view.shown <= 0 { "out" } else { "" });
        }
        let r = &self.regions;
        let empty = if views.is_empty() {
            Some(if engine.status().offset.is_none() {
                "No catalogue yet: waiting for head office to send it.".to_owned()
            } else {
                format!("No product matches “{}”.", query.trim())
            })
        } else {
            None
        };
        set_text(&r.no_results, empty.as_deref().unwrap_or(""));
        show(&r.no_results, empty.is_some());
        let count = wording::showing(&query, offset, views.len(), listing.total);
        set_text(&r.results_count, count.as_deref().unwrap_or(""));
        r.prev_page.set_disabled(offset == 0);
        r.next_page
            .set_disabled(offset + views.len() >= listing.total);
        Ok(())
    }

    /// Puts `order` in the results' body, moving only what is out of place:
    /// a moved element loses focus, one left alone keeps it (a quantity
    /// being typed while a new product arrives).
    fn place_rows(&self, order: &[&Element]) -> Result<(), JsValue> {
        let body = &self.regions.results;
        let mut next = body.first_child();
        for &tr in order {
            let node: &web_sys::Node = tr;
            if next.as_ref() == Some(node) {
                next = node.next_sibling();
            } else {
                body.insert_before(node, next.as_ref())?;
            }
        }
        while let Some(gone) = next {
            next = gone.next_sibling();
            body.remove_child(&gone)?;
        }
        Ok(())
    }

    fn new_row(&self, view: &StockView) -> Result<Row, JsValue> {
        let doc = &self.doc;
        let sku = &view.sku;
        let tr = el(doc, "tr", "", "")?;
        tr.set_attribute("data-sku", sku)?;
        let cell = |class: &str| -> Result<Element, JsValue> {
            let td = el(doc, "td", class, "")?;
            tr.append_child(&td)?;
            Ok(td)
        };
        let product = cell("product")?;
        let name = add(&product, el(doc, "span", "name", "")?)?;
        add(&product, el(doc, "span", "sku", sku)?)?;
        let price = cell("price")?;
        let stock_cell = cell("stock")?;
        let stock = add(&stock_cell, el(doc, "span", "figure", "")?)?;
        let detail = add(&stock_cell, el(doc, "span", "detail", "")?)?;
        let quantity = el(doc, "input", "", "")?;
        for (attr, value) in [
            ("type", "number"),
            ("min", "1"),
            ("step", "1"),
            ("value", "1"),
            ("inputmode", "numeric"),
            ("data-qty", ""),
            ("aria-label", &format!("Quantity of {sku}")),
        ] {
            quantity.set_attribute(attr, value)?;
        }
        cell("qty")?.append_child(&quantity)?;
        let actions = cell("actions")?;
        for (text, action, label) in [
            ("Sell", "sell", format!("Sell {sku}")),
            ("+ Basket", "basket", format!("Add {sku} to the basket")),
            ("Nearby", "nearby", format!("{sku} in other stores")),
        ] {
            add(&actions, button(doc, text, action, &label)?)?;
        }
        Ok(Row {
            sku: sku.clone(),
            tr,
            name,
            price,
            stock,
            detail,
        })
    }

    /// The quantity typed in a row (at least 1, whole).
    fn quantity(&self, row: &Element) -> Result<i64, String> {
        let input = row
            .query_selector("input[data-qty]")
            .ok()
            .flatten()
            .and_then(|e| e.dyn_into::<HtmlInputElement>().ok());
        let n = input.map_or(f64::NAN, |i| i.value_as_number());
        if n.is_finite() && n >= 1.0 && n.fract() == 0.0 && n <= 1e9 {
            Ok(n as i64)
        } else {
            Err("Enter a whole quantity of at least 1.".into())
        }
    }

    fn row_action(self: &Rc<Self>, event: &Event) {
        let Some((_, action)) = closest_with(event, "data-action") else {
            return;
        };
        let Some((row, sku)) = closest_with(event, "data-sku") else {
            return;
        };
        if action == "nearby" {
            self.nearby(sku, &row);
            return;
        }
        let quantity = match self.quantity(&row) {
            Ok(q) => q,
            Err(why) => return self.say(&why, true),
        };
        match action.as_str() {
            "basket" => self.add_to_basket(&sku, quantity),
            "sell" => self.sell(sku, quantity),
            _ => {}
        }
    }

    /// A scanner typed a sku and Enter: that product goes into the basket.
    /// Only an exact sku (any case), never the first product containing it.
    fn scan(&self) {
        let code = self.regions.search.value().trim().to_owned();
        if code.is_empty() {
            return;
        }
        let engine = self.node.engine();
        if let Some(view) = engine.find_sku(&code) {
            self.add_to_basket(&view.sku, 1);
            self.regions.search.set_value("");
            self.new_search();
            return;
        }
        if engine.search(&code, 0, 0).total > 0 {
            self.say(
                &format!("No product has the sku “{code}”: pick one of the matches."),
                true,
            );
        } else {
            self.say(&format!("No product matches “{code}”."), true);
        }
        // The next scan replaces this code rather than being appended to
        // it ("BAD-999SKU-0015"): the text stays, selected, so the cashier
        // still sees what was scanned.
        self.regions.search.select();
    }

    /// A sale from a row. More than the till shows in stock asks for the
    /// same press again first: offline it would be recorded below zero,
    /// online head office would likely refuse it.
    fn sell(self: &Rc<Self>, sku: String, quantity: i64) {
        let engine = self.node.engine();
        let warning = engine.view(&sku).filter(|v| v.shown < quantity).map(|v| {
            wording::sell_more_than_shown(&sku, quantity, v.shown, engine.status().online)
        });
        if !self.confirmed(&format!("sell {quantity} {sku}"), warning) {
            return;
        }
        if !self.ui.borrow_mut().recording.insert(sku.clone()) {
            return;
        }
        let me = self.clone();
        spawn_local(async move {
            let recorded = me.node.sell(&sku, quantity).await;
            me.ui.borrow_mut().recording.remove(&sku);
            match recorded {
                Ok(intent) => me.watch(vec![intent.id], None),
                Err(e) => me.say(&wording::engine_error(&e), true),
            }
            me.render();
        });
    }
}
