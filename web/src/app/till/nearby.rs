//! "Available nearby": the one read that asks head office, for a sku's
//! stock in the other stores.

use std::rc::Rc;

use store_wasm::engine::{EngineError, Nearby};
use wasm_bindgen::JsValue;
use wasm_bindgen_futures::spawn_local;

use super::Till;
use crate::app::dom::{add, button, el, show};
use crate::wording;

impl Till {
    pub(super) fn nearby(self: &Rc<Self>, sku: String) {
        let me = self.clone();
        let panel = self.regions.nearby.clone();
        panel.set_text_content(Some(&format!("Asking head office about {sku}…")));
        show(&panel, true);
        spawn_local(async move {
            let answer = me.node.nearby(&sku).await;
            if let Err(e) = me.render_nearby(&sku, answer) {
                web_sys::console::error_1(&e);
            }
        });
    }

    pub(super) fn render_nearby(
        &self,
        sku: &str,
        answer: Result<Vec<Nearby>, EngineError>,
    ) -> Result<(), JsValue> {
        let (doc, panel) = (&self.doc, &self.regions.nearby);
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
                stores.sort_by_key(|s| std::cmp::Reverse(s.available));
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
        let close = button(doc, "Close", "close", "Close the nearby list")?;
        close.set_attribute("data-close", "")?;
        panel.append_child(&close)?;
        self.focus("nearby-title");
        Ok(())
    }
}
