//! The status bar: the store, whether head office answers and since when,
//! what this till still has to send, and the banners for stale figures or a
//! sign-in head office no longer accepts. Redrawn once a second, so ages
//! stay true; Sync now and Sign out live here too.

use std::rc::Rc;

use wasm_bindgen_futures::spawn_local;

use super::Till;
use crate::app::{
    dom::{clock_time, set_text, show},
    signin::Credentials,
};
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
        let trouble = if let Some(problem) = &status.signed_out {
            Some(format!(
                "Head office did not accept this till's sign-in{}. Sales stay on this till: \
                 sign out and sign in again.",
                match problem.code {
                    shared::ErrorCode::TokenRevoked => " (the store's secret was changed)",
                    _ => "",
                }
            ))
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

    pub(super) fn sign_out(&self) {
        let queued = self.node.engine().status().queued;
        let Some(window) = web_sys::window() else {
            return;
        };
        if queued > 0 {
            let question = format!(
                "{} not sent to head office yet. They stay on this device and are sent when this \
                 store signs in again. Sign out?",
                wording::count(queued, "sale or restock is", "sales or restocks are")
            );
            if !window.confirm_with_message(&question).unwrap_or(false) {
                return;
            }
        }
        Credentials::forget();
        // A fresh page: no node of the old store keeps syncing.
        let _ = window.location().reload();
    }
}
