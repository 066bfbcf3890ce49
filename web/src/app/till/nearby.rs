//! "Available nearby": the one read that asks head office, for a sku's
//! stock in the other stores. The answer opens in a row right under the
//! row it was asked from (one at a time), where the cashier is looking,
//! scrolled to only as much as needed: the page never jumps. Close puts
//! focus back on that row's Nearby button.

use std::rc::Rc;

use store_wasm::engine::{EngineError, Nearby};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::spawn_local;
use web_sys::{Element, Event, HtmlElement};

use super::Till;
use crate::app::dom::{add, bring_into_view, button, closest_with, el, focus_in_place, listen};
use crate::wording;

/// The results' columns: the answer's cell spans them all.
const COLUMNS: &str = "5";

impl Till {
    pub(super) fn listen_nearby(self: &Rc<Self>) -> Result<(), JsValue> {
        let me = self.clone();
        listen(&self.regions.results, "click", move |e: Event| {
            if let Some((_, sku)) = closest_with(&e, "data-close") {
                me.close_nearby(&sku);
            }
        })
    }

    /// Asks head office about `sku`, from its `row`.
    pub(super) fn nearby(self: &Rc<Self>, sku: String, row: &Element) {
        let panel = match self.open_nearby(&sku, row) {
            Ok(panel) => panel,
            Err(e) => return web_sys::console::error_1(&e),
        };
        let me = self.clone();
        spawn_local(async move {
            let answer = me.node.nearby(&sku).await;
            // Closed meanwhile, or asked of another row: nothing to show.
            let open = me.ui.borrow().nearby.as_ref().map(|(s, _)| s.clone());
            if open.as_deref() != Some(sku.as_str()) || !panel.is_connected() {
                return;
            }
            if let Err(e) = me.render_nearby(&panel, &sku, answer) {
                web_sys::console::error_1(&e);
            }
        });
    }

    /// A row under `row` for the answer about `sku`, in place of any other
    /// one open; it says "Asking…" until head office answers. Returns the
    /// panel the answer goes in.
    fn open_nearby(&self, sku: &str, row: &Element) -> Result<Element, JsValue> {
        let doc = &self.doc;
        let tr = el(doc, "tr", "nearby-row", "")?;
        tr.set_attribute("data-nearby", sku)?;
        let td = add(&tr, el(doc, "td", "", "")?)?;
        td.set_attribute("colspan", COLUMNS)?;
        let asking = format!("Asking head office about {sku}…");
        let panel = add(&td, el(doc, "section", "nearby", &asking)?)?;
        panel.set_id("nearby");
        panel.set_attribute("aria-live", "polite")?;
        let previous = self
            .ui
            .borrow_mut()
            .nearby
            .replace((sku.to_owned(), tr.clone()));
        if let Some((_, previous)) = previous {
            previous.remove();
        }
        self.regions
            .results
            .insert_before(&tr, row.next_sibling().as_ref())?;
        bring_into_view(&tr);
        Ok(panel)
    }

    fn render_nearby(
        &self,
        panel: &Element,
        sku: &str,
        answer: Result<Vec<Nearby>, EngineError>,
    ) -> Result<(), JsValue> {
        let doc = &self.doc;
        panel.set_text_content(None);
        let name = self.node.engine().view(sku).and_then(|v| v.name);
        let title = format!("Available nearby: {sku} {}", name.unwrap_or_default());
        let heading = add(panel, el(doc, "h3", "", title.trim())?)?;
        heading.set_id("nearby-title");
        heading.set_attribute("tabindex", "-1")?;
        let mine = self.node.engine().store_id().to_owned();
        match answer {
            Ok(mut stores) => {
                stores.retain(|s| s.store_id != mine);
                stores
                    .sort_unstable_by_key(|s| (std::cmp::Reverse(s.available), s.store_id.clone()));
                if stores.is_empty() {
                    add(panel, el(doc, "p", "", "No other store stocks it.")?)?;
                }
                let list = el(doc, "ul", "", "")?;
                for s in stores {
                    let who = s
                        .name
                        .map_or_else(|| s.store_id.clone(), |n| format!("{n} ({})", s.store_id));
                    let text = format!("{who}: {} in stock", s.available);
                    add(&list, el(doc, "li", "", &text)?)?;
                }
                panel.append_child(&list)?;
            }
            Err(e) => {
                let text = format!(
                    "Needs head office, which can't be reached now: {}",
                    wording::engine_error(&e)
                );
                add(panel, el(doc, "p", "warn", &text)?)?;
            }
        }
        let close = button(doc, "Close", "close", &format!("Close {sku} nearby"))?;
        close.set_attribute("data-close", sku)?;
        panel.append_child(&close)?;
        // The cashier's attention goes to the answer, which shows whole
        // if it fits, moving the list no more than that.
        if let Ok(heading) = heading.dyn_into::<HtmlElement>() {
            focus_in_place(&heading);
        }
        if let Some(tr) = panel.closest("tr").ok().flatten() {
            bring_into_view(&tr);
        }
        Ok(())
    }

    /// Closes the answer about `sku`; focus goes back to where it was
    /// asked from (its row's Nearby), or to the search box.
    fn close_nearby(&self, sku: &str) {
        let open = self.ui.borrow_mut().nearby.take();
        if let Some((_, tr)) = open {
            tr.remove();
        }
        let nearby = format!("tr[data-sku='{sku}'] button[data-action='nearby']");
        if !self.focus_first(&nearby) {
            let _ = self.regions.search.focus();
        }
    }
}
