//! The basket: lines scanned or added from a row, sold together as one
//! atomic batch (Sell basket, Ctrl+Enter), put back if head office refuses
//! it. On a small screen it sits below the products; the basket button
//! at the top of the screen says what it holds and leads there.
//!
//! Its lines are drawn afresh at each change, so focus is put back where
//! the cashier was: the same button of the same line, or after a line
//! went, the next line's Remove (else the previous one's, else the search
//! box), never the page itself.

use std::rc::Rc;

use wasm_bindgen::JsValue;
use wasm_bindgen_futures::spawn_local;
use web_sys::Event;

use super::Till;
use crate::app::dom::{add, button, closest_with, el, listen, set_text};
use crate::wording;

impl Till {
    pub(super) fn listen_basket(self: &Rc<Self>) -> Result<(), JsValue> {
        let r = &self.regions;
        let me = self.clone();
        listen(&r.basket, "click", move |e: Event| me.basket_action(&e))?;
        let me = self.clone();
        listen(&r.sell_basket, "click", move |_: Event| {
            me.sell_basket(false)
        })?;
        let me = self.clone();
        listen(&r.clear_basket, "click", move |_: Event| {
            let mut ui = me.ui.borrow_mut();
            ui.basket.clear();
            ui.refused_line = None;
            drop(ui);
            me.render_basket();
            me.say("Basket cleared.", false);
            // Clear is disabled now: back to scanning.
            let _ = me.regions.search.focus();
        })?;
        let me = self.clone();
        listen(&r.basket_jump, "click", move |_: Event| {
            // Focus scrolls the basket's heading into view (below the
            // sticky strip: its scroll margin), and says where one is.
            me.focus("basket-title");
        })
    }

    pub(super) fn put_in_basket(&self, sku: &str, quantity: i64) {
        let mut ui = self.ui.borrow_mut();
        match ui.basket.iter_mut().find(|(s, _)| s == sku) {
            Some((_, q)) => *q += quantity,
            None => ui.basket.push((sku.to_owned(), quantity)),
        }
    }

    pub(super) fn add_to_basket(&self, sku: &str, quantity: i64) {
        self.put_in_basket(sku, quantity);
        self.render_basket();
        let in_basket = self
            .ui
            .borrow()
            .basket
            .iter()
            .find(|(s, _)| s == sku)
            .map_or(quantity, |(_, q)| *q);
        match self.node.engine().view(sku).map(|v| v.shown) {
            Some(shown) if shown < in_basket => self.say(
                &wording::more_than_shown(
                    sku,
                    in_basket,
                    shown,
                    self.node.engine().status().online,
                ),
                true,
            ),
            _ => self.say(&format!("Added {quantity} × {sku} to the basket."), false),
        }
    }

    fn basket_action(&self, event: &Event) {
        let (Some((_, action)), Some((_, sku))) = (
            closest_with(event, "data-action"),
            closest_with(event, "data-line"),
        ) else {
            return;
        };
        // When a line goes, where focus goes: the line now in its place,
        // else the one before (`Some(None)`: the basket is empty).
        let mut next = None;
        {
            let mut ui = self.ui.borrow_mut();
            // The line changed: head office's refusal was of what it was.
            if ui.refused_line.as_ref().is_some_and(|(s, _)| *s == sku) {
                ui.refused_line = None;
            }
            if let Some(at) = ui.basket.iter().position(|(s, _)| *s == sku) {
                match action.as_str() {
                    "more" => ui.basket[at].1 += 1,
                    "less" if ui.basket[at].1 > 1 => ui.basket[at].1 -= 1,
                    "less" | "remove" => {
                        ui.basket.remove(at);
                        let then = ui
                            .basket
                            .get(at)
                            .or(at.checked_sub(1).and_then(|b| ui.basket.get(b)));
                        next = Some(then.map(|(s, _)| s.clone()));
                    }
                    _ => {}
                }
            }
        }
        self.render_basket();
        match next {
            Some(Some(line)) => {
                self.focus_first(&format!(
                    "li[data-line='{line}'] button[data-action='remove']"
                ));
            }
            Some(None) => {
                let _ = self.regions.search.focus();
            }
            // The line is still there: drawing it kept focus on its button.
            None => {}
        }
    }

    pub(super) fn render_basket(&self) {
        if let Err(e) = self.draw_basket() {
            web_sys::console::error_1(&e);
        }
    }

    fn draw_basket(&self) -> Result<(), JsValue> {
        let (doc, list) = (&self.doc, &self.regions.basket);
        // The button that has focus, as (line, action), to focus again once
        // the lines are drawn afresh.
        let focused = self.focused_in(list).and_then(|e| {
            let action = e.get_attribute("data-action")?;
            let line = e.closest("[data-line]").ok()??.get_attribute("data-line")?;
            Some((line, action))
        });
        let ui = self.ui.borrow();
        let currency = self.node.engine().currency();
        list.set_text_content(None);
        let (mut total, mut items) = (0, 0);
        for (sku, quantity) in &ui.basket {
            let view = self.node.engine().view(sku);
            let name = view
                .as_ref()
                .and_then(|v| v.name.clone())
                .unwrap_or_default();
            let price = view.as_ref().and_then(|v| v.price_cents).unwrap_or(0);
            total += price * quantity;
            items += quantity;
            let refused = ui
                .refused_line
                .as_ref()
                .filter(|(s, _)| s == sku)
                .map(|(_, why)| why.clone());
            let shown = view.as_ref().map_or(0, |v| v.shown);
            let class = match (&refused, shown < *quantity) {
                (Some(_), _) => "refused",
                (None, true) => "short",
                (None, false) => "",
            };
            let li = el(doc, "li", class, "")?;
            li.set_attribute("data-line", sku)?;
            let text = format!("{quantity} × {sku} {name}");
            let line = add(&li, el(doc, "span", "line", text.trim())?)?;
            let note = match refused {
                Some(why) => Some(format!("Refused: {why}")),
                None if shown < *quantity => Some(format!("{shown} in stock")),
                None => None,
            };
            if let Some(note) = note {
                add(&line, el(doc, "span", "note", &note)?)?;
            }
            add(
                &li,
                el(doc, "span", "price", &currency.format(price * quantity))?,
            )?;
            for (label, action, aria) in [
                ("−", "less", format!("One {sku} less")),
                ("+", "more", format!("One {sku} more")),
                ("Remove", "remove", format!("Remove {sku} from the basket")),
            ] {
                add(&li, button(doc, label, action, &aria)?)?;
            }
            list.append_child(&li)?;
        }
        let summary = if ui.basket.is_empty() {
            "Empty: scan a product, or “+ Basket” on a row.".to_owned()
        } else {
            format!(
                "Total {} · {}",
                currency.format(total),
                wording::count(items as usize, "item", "items")
            )
        };
        set_text(&self.regions.basket_total, &summary);
        // Short on the small screen it is for; said in full to a screen
        // reader (and on hover).
        let jump = &self.regions.basket_jump;
        set_text(jump, &format!("Basket · {items}"));
        let summary = wording::basket_summary(items, total, &currency);
        jump.set_attribute("aria-label", &summary)?;
        jump.set_attribute("title", &summary)?;
        jump.set_class_name(if ui.basket.is_empty() {
            "basket-jump"
        } else {
            "basket-jump full"
        });
        self.regions
            .basket_total
            .set_class_name(if ui.basket.is_empty() {
                "total empty"
            } else {
                "total"
            });
        self.regions.sell_basket.set_disabled(ui.basket.is_empty());
        self.regions.clear_basket.set_disabled(ui.basket.is_empty());
        if let Some((line, action)) = focused {
            self.focus_first(&format!(
                "li[data-line='{line}'] button[data-action='{action}']"
            ));
        }
        Ok(())
    }

    /// Sells the basket as one atomic batch. `from_keys`: Ctrl+Enter, so
    /// the search box gets focus back for the next scan (after a tap it
    /// does not: that would pop up a tablet's keyboard).
    pub(super) fn sell_basket(self: &Rc<Self>, from_keys: bool) {
        let lines = {
            let mut ui = self.ui.borrow_mut();
            if ui.selling_basket {
                return;
            }
            if ui.basket.is_empty() {
                drop(ui);
                return self.say("The basket is empty.", true);
            }
            ui.selling_basket = true;
            ui.refused_line = None;
            ui.basket.clone()
        };
        let me = self.clone();
        self.regions.sell_basket.set_disabled(true);
        spawn_local(async move {
            match me.node.sell_basket(&lines).await {
                Ok(intents) => {
                    // Recorded: what was sold leaves the basket; lines
                    // scanned meanwhile stay.
                    me.take_out_of_basket(&lines);
                    let ids = intents.into_iter().map(|i| i.id).collect();
                    me.watch(ids, Some(lines));
                }
                Err(e) => me.say(&wording::engine_error(&e), true),
            }
            me.ui.borrow_mut().selling_basket = false;
            me.render_basket();
            me.render();
            me.focus(if from_keys { "search" } else { "basket-title" });
        });
    }

    fn take_out_of_basket(&self, sold: &[(String, i64)]) {
        let mut ui = self.ui.borrow_mut();
        for (sku, quantity) in sold {
            if let Some(at) = ui.basket.iter().position(|(s, _)| s == sku) {
                ui.basket[at].1 -= quantity;
                if ui.basket[at].1 <= 0 {
                    ui.basket.remove(at);
                }
            }
        }
    }
}
