//! The activity panel ("Sales and restocks"): every sale and restock of
//! this till and how it stands with head office, refusals kept until the
//! cashier dismisses them.

use store_wasm::engine::{Intent, IntentStatus};
use wasm_bindgen::JsValue;

use super::{INTENTS_SHOWN, Till};
use crate::app::dom::{add, button, clock_time, el};
use crate::wording;

impl Till {
    /// Every refused and unanswered intent (the cashier must see them, however
    /// long the queue was), then the newest applied ones, newest first.
    pub(super) fn render_intents(&self) -> Result<(), JsValue> {
        let engine = self.node.engine();
        let intents = engine.intents();
        let mut listed: Vec<_> = intents
            .iter()
            .rev()
            .filter(|i| !matches!(i.status, IntentStatus::Applied { .. }))
            .collect();
        let room = INTENTS_SHOWN.saturating_sub(listed.len());
        listed.extend(
            intents
                .iter()
                .rev()
                .filter(|i| matches!(i.status, IntentStatus::Applied { .. }))
                .take(room),
        );
        listed.sort_by(|a, b| (b.created_at_ms, &b.id).cmp(&(a.created_at_ms, &a.id)));
        let shown: Vec<_> = listed
            .iter()
            .map(|i| (i.id.clone(), wording::intent_state(i)))
            .collect();
        let mut ui = self.ui.borrow_mut();
        if ui.intents == shown {
            return Ok(());
        }
        let (doc, list) = (&self.doc, &self.regions.intents);
        list.set_text_content(None);
        if listed.is_empty() {
            add(list, el(doc, "li", "none", "No sales or restocks yet.")?)?;
        }
        for (intent, (_, standing)) in listed.iter().zip(&shown) {
            let li = el(doc, "li", &format!("intent {}", standing.class), "")?;
            li.set_attribute("data-id", &intent.id)?;
            let head = el(doc, "p", "head", "")?;
            add(&head, el(doc, "span", "badge", standing.badge)?)?;
            let name = engine.view(&intent.sku).and_then(|v| v.name);
            let title = wording::intent_title(intent, name.as_deref());
            add(&head, el(doc, "span", "title", &title)?)?;
            add(
                &head,
                el(doc, "time", "", &clock_time(intent.created_at_ms))?,
            )?;
            li.append_child(&head)?;
            add(&li, el(doc, "p", "detail", &standing.detail)?)?;
            if engine.may_dismiss(intent) {
                let dismiss = button(doc, "Dismiss", "dismiss", &format!("Dismiss: {title}"))?;
                dismiss.set_attribute("data-dismiss", &intent.id)?;
                li.append_child(&dismiss)?;
            }
            list.append_child(&li)?;
        }
        ui.intents = shown;
        Ok(())
    }
}

/// Applied, or queued to be: nothing the cashier must act on.
pub(super) fn intent_went_well(intent: &Intent) -> bool {
    !matches!(intent.status, IntentStatus::Rejected { .. })
}
