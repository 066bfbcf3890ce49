//! The catalogue: the search box and the rows it finds, each with its
//! quantity and actions (Sell, + Basket, Restock, Nearby), and a scan (a
//! sku and Enter) straight into the basket.

use std::{collections::HashMap, rc::Rc};

use store_wasm::engine::StockView;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::spawn_local;
use web_sys::{Element, Event, HtmlInputElement};

use super::{RESULTS, Row, Till};
use crate::app::dom::{add, button, closest_with, el, set_text, show};
use crate::wording;

impl Till {
    pub(super) fn render_results(&self) -> Result<(), JsValue> {
        let query = self.regions.search.value();
        let views = self.node.engine().list(&query, RESULTS);
        let mut ui = self.ui.borrow_mut();
        let same = ui.rows.len() == views.len()
            && ui.rows.iter().zip(&views).all(|(row, v)| row.sku == v.sku);
        if !same {
            let mut old: HashMap<String, Row> =
                ui.rows.drain(..).map(|r| (r.sku.clone(), r)).collect();
            self.regions.results.set_text_content(None);
            for view in &views {
                let row = match old.remove(&view.sku) {
                    Some(row) => row,
                    None => self.new_row(view)?,
                };
                self.regions.results.append_child(&row.tr)?;
                ui.rows.push(row);
            }
        }
        for (row, view) in ui.rows.iter().zip(&views) {
            let (headline, detail) = wording::stock(view);
            set_text(&row.stock, &headline);
            set_text(&row.detail, detail.as_deref().unwrap_or(""));
            set_text(&row.name, view.name.as_deref().unwrap_or(""));
            set_text(
                &row.price,
                &view.price_cents.map(wording::money).unwrap_or_default(),
            );
            row.tr
                .set_class_name(if view.shown <= 0 { "out" } else { "" });
        }
        let empty = if views.is_empty() {
            Some(if self.node.engine().status().offset.is_none() {
                "No catalogue yet: waiting for head office to send it.".to_owned()
            } else {
                format!("No product matches “{}”.", query.trim())
            })
        } else {
            None
        };
        set_text(&self.regions.no_results, empty.as_deref().unwrap_or(""));
        show(&self.regions.no_results, empty.is_some());
        Ok(())
    }

    pub(super) fn new_row(&self, view: &StockView) -> Result<Row, JsValue> {
        let doc = &self.doc;
        let sku = &view.sku;
        let tr = el(doc, "tr", "", "")?;
        tr.set_attribute("data-sku", sku)?;
        let cell = |class: &str, text: &str| -> Result<Element, JsValue> {
            let td = el(doc, "td", class, text)?;
            tr.append_child(&td)?;
            Ok(td)
        };
        cell("sku", sku)?;
        let name = cell("name", "")?;
        let price = cell("price", "")?;
        let stock_cell = cell("stock", "")?;
        let stock = el(doc, "span", "figure", "")?;
        let detail = el(doc, "span", "detail", "")?;
        stock_cell.append_child(&stock)?;
        stock_cell.append_child(&detail)?;
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
        cell("qty", "")?.append_child(&quantity)?;
        let actions = cell("actions", "")?;
        for (text, action, label) in [
            ("Sell", "sell", format!("Sell {sku}")),
            ("+ Basket", "basket", format!("Add {sku} to the basket")),
            ("Restock", "restock", format!("Restock {sku}")),
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
    pub(super) fn quantity(&self, row: &Element) -> Result<i64, String> {
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

    pub(super) fn row_action(self: &Rc<Self>, event: &Event) {
        let Some((_, action)) = closest_with(event, "data-action") else {
            return;
        };
        let Some((row, sku)) = closest_with(event, "data-sku") else {
            return;
        };
        if action == "nearby" {
            self.nearby(sku);
            return;
        }
        let quantity = match self.quantity(&row) {
            Ok(q) => q,
            Err(why) => return self.say(&why, true),
        };
        match action.as_str() {
            "basket" => self.add_to_basket(&sku, quantity),
            "sell" | "restock" => self.record(sku, quantity, action == "restock"),
            _ => {}
        }
    }

    /// A scanner typed a sku and Enter: that product goes into the basket.
    pub(super) fn scan(&self) {
        let query = self.regions.search.value().trim().to_owned();
        if query.is_empty() {
            return;
        }
        match self.node.engine().list(&query, 1).first() {
            Some(v) if v.sku.eq_ignore_ascii_case(&query) => {
                let sku = v.sku.clone();
                self.add_to_basket(&sku, 1);
                self.regions.search.set_value("");
                let _ = self.render_results();
            }
            Some(_) => {
                self.say(
                    &format!("No product has the sku “{query}”: pick one of the matches."),
                    true,
                );
                self.replace_next_scan();
            }
            None => {
                self.say(&format!("No product matches “{query}”."), true);
                self.replace_next_scan();
            }
        }
    }

    /// After a code that found nothing, the next scan replaces it rather
    /// than being appended to it ("BAD-999SKU-0015"): the text stays,
    /// selected, so the cashier still sees what was scanned.
    pub(super) fn replace_next_scan(&self) {
        self.regions.search.select();
    }

    pub(super) fn record(self: &Rc<Self>, sku: String, quantity: i64, restock: bool) {
        if !self.ui.borrow_mut().recording.insert(sku.clone()) {
            return;
        }
        let me = self.clone();
        spawn_local(async move {
            let recorded = if restock {
                me.node.restock(&sku, quantity).await
            } else {
                me.node.sell(&sku, quantity).await
            };
            me.ui.borrow_mut().recording.remove(&sku);
            match recorded {
                Ok(intent) => me.watch(vec![intent.id], None),
                Err(e) => me.say(&wording::engine_error(&e), true),
            }
            me.render();
        });
    }
}
