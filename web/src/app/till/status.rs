//! The status bar: the store, whether head office answers and since when,
//! what this till still has to send, and the banners for stale figures or a
//! sign-in head office no longer accepts. Redrawn once a second, so ages
//! stay true; Sync now and Lock live here too.

use std::rc::Rc;

use wasm_bindgen_futures::spawn_local;

use super::Till;
use crate::app::dom::{clock_time, set_text, show};
use crate::wording;

impl Till {
    pub(super) fn render_status(&self) {
        let r = &self.regions;
        let engine = self.node.engine();
        let status = engine.status();
        let now = js_sys::Date::now() as i64;
        let store = engine.store_id();
        let name = engine
            .store_name(store)
            .map_or_else(|| store.to_owned(), |n| format!("{n} ({store})"));
        set_text(&r.store, &name);
        // The live region changes only when the state does; the age ticks
        // apart, unannounced.
        set_text(&r.status, &wording::state(&status, &engine.intents()));
        set_text(&r.contact, &wording::contact(&status, now));
        r.status.set_class_name(if status.online {
            "status online"
        } else if status.connecting {
            "status connecting"
        } else {
            "status offline"
        });
        let since = status.last_contact_ms.map(clock_time);
        match wording::stale_banner(&status, since.as_deref()) {
            Some(text) => {
                set_text(&r.stale, &text);
                show(&r.stale, true);
            }
            None => show(&r.stale, false),
        }
        // A credential head office refuses for good sends the till back to
        // set-up (see `app::watch_for_refusal`); this is for the rest.
        let trouble = if status.signed_out.is_some() {
            Some(
                "Head office did not accept this till's sign-in just now. Sales stay on this \
                 till and are sent once it does."
                    .to_owned(),
            )
        } else {
            status.storage_error.as_ref().map(|_| {
                "This device refuses to store more. Sales go straight to head office while it \
                 answers; free some space in the browser's storage."
                    .to_owned()
            })
        };
        match trouble {
            Some(text) => {
                set_text(&r.trouble, &text);
                show(&r.trouble, true);
            }
            None => show(&r.trouble, false),
        }
    }

    pub(super) fn sync_now(self: &Rc<Self>) {
        let me = self.clone();
        self.regions.sync_now.set_disabled(true);
        self.say("Checking with head office…", false);
        spawn_local(async move {
            match me.node.sync_now().await {
                Ok(status) if status.queued == 0 => me.say("Up to date with head office.", false),
                Ok(_) => me.say(
                    &format!(
                        "Up to date; {}.",
                        wording::waiting(&me.node.engine().intents())
                    ),
                    true,
                ),
                Err(e) => me.say(&wording::engine_error(&e), true),
            }
            me.regions.sync_now.set_disabled(false);
            me.render();
        });
    }

    /// Locks the till; it goes on sending what it holds meanwhile.
    pub(super) fn sign_out(&self) {
        super::super::lock();
    }
}
