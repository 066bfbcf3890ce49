//! The node's life in a tab. One tab per store syncs: the one holding the
//! store's Web Lock (`navigator.locks`); when it closes, another tab gets the
//! lock and takes over. The syncing tab alone talks to central: it
//! long-polls, forwards every tab's intents, and tells the others on a
//! BroadcastChannel what changed and how central is; they re-read IndexedDB.

use std::{
    cell::{Cell, RefCell},
    rc::Rc,
};

use futures::{FutureExt, channel::oneshot, future::select};
use js_sys::{Function, Promise, Reflect};
use wasm_bindgen::{JsCast, prelude::*};
use wasm_bindgen_futures::{JsFuture, future_to_promise, spawn_local};
use web_sys::{BroadcastChannel, MessageEvent};

use super::BrowserEngine;
use crate::engine::{EngineError, Synced};

/// How long a long-poll waits at central before answering empty.
const LONG_POLL_S: u32 = 25;

/// What tabs tell each other on the store's channel.
const CHANGED: &str = "changed";
/// "I stored intents": the syncing tab forwards them.
const FLUSH: &str = "flush";
const SYNC_NOW: &str = "sync-now";
/// `status:<online>:<last contact ms>`, from the syncing tab.
const STATUS: &str = "status:";
/// A tab that just opened asks how central is; the syncing tab answers
/// with its status, so the new tab need not wait out a long-poll to know.
const HOW_IS_CENTRAL: &str = "how-is-central";

pub struct Runtime {
    engine: Rc<BrowserEngine>,
    name: String,
    channel: Option<BroadcastChannel>,
    subscribers: RefCell<Vec<Rc<dyn Fn()>>>,
    wake: RefCell<Option<oneshot::Sender<()>>>,
    /// Whether this tab holds the store's lock and syncs.
    leading: Cell<bool>,
    /// Whether `start` ran: until then no tab may be syncing for this one.
    started: Cell<bool>,
    /// A reload is running; another was asked for meanwhile.
    reloading: Cell<bool>,
    reload_again: Cell<bool>,
}

fn window() -> Option<web_sys::Window> {
    web_sys::window()
}

/// Resolves after `ms` milliseconds.
async fn sleep(ms: u64) {
    let promise = Promise::new(&mut |resolve, _| {
        if let Some(w) = window() {
            let ms = ms.min(i32::MAX as u64) as i32;
            let _ = w.set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, ms);
        }
    });
    let _ = JsFuture::from(promise).await;
}

impl Runtime {
    pub fn new(engine: Rc<BrowserEngine>, name: String) -> Rc<Runtime> {
        Rc::new(Runtime {
            engine,
            channel: BroadcastChannel::new(&name).ok(),
            name,
            subscribers: RefCell::new(Vec::new()),
            wake: RefCell::new(None),
            leading: Cell::new(false),
            started: Cell::new(false),
            reloading: Cell::new(false),
            reload_again: Cell::new(false),
        })
    }

    pub fn subscribe(&self, callback: Rc<dyn Fn()>) {
        self.subscribers.borrow_mut().push(callback);
    }

    /// Whether another tab syncs for this one (this one started and waits
    /// for the store's lock).
    pub fn is_following(&self) -> bool {
        self.started.get() && !self.leading.get()
    }

    /// Tells this tab's subscribers, and with `broadcast` the other tabs.
    pub fn changed(&self, broadcast: bool) {
        // Cloned first: a subscriber may subscribe another while we call.
        let subscribers = self.subscribers.borrow().clone();
        for callback in subscribers {
            callback();
        }
        if broadcast {
            self.post(CHANGED);
        }
    }

    fn post(&self, message: &str) {
        if let Some(channel) = &self.channel {
            let _ = channel.post_message(&JsValue::from_str(message));
        }
    }

    /// Asks the syncing tab, this one or another, to catch up now.
    pub fn request_sync(&self) {
        if self.is_following() {
            self.post(SYNC_NOW);
        } else {
            self.wake();
        }
    }

    /// After intents were stored here: the syncing tab forwards them (this
    /// one, or the one holding the lock, told over the channel).
    pub fn forward(self: &Rc<Self>) {
        self.changed(false);
        if self.is_following() {
            self.post(FLUSH);
            return;
        }
        let me = self.clone();
        spawn_local(async move {
            let flushed = me.engine.flush().await;
            if flushed.applied + flushed.rejected > 0 || flushed.pending > 0 {
                me.changed(true);
            }
            me.wake_if_answered();
        });
    }

    /// Central answered a call of its own (a sale forwarded, a nearby
    /// question): if the syncing loop is backing off, it need not wait out
    /// the delay — central is back, and the queue drains now.
    pub fn wake_if_answered(&self) {
        if self.engine.status().online {
            self.wake();
        }
    }

    /// Cuts a back-off wait short (the browser came online, the tab came
    /// into view, central answered another call, or the cashier asked to
    /// sync now).
    pub fn wake(&self) {
        if let Some(tx) = self.wake.borrow_mut().take() {
            let _ = tx.send(());
        }
    }

    async fn pause(&self, ms: u64) {
        let (tx, rx) = oneshot::channel();
        *self.wake.borrow_mut() = Some(tx);
        select(Box::pin(sleep(ms)), rx.map(drop)).await;
    }

    /// Re-reads what the syncing tab stored; one at a time, and once more
    /// if asked again meanwhile, so a burst of messages is one or two reads.
    async fn reload(&self) {
        if self.reloading.replace(true) {
            self.reload_again.set(true);
            return;
        }
        loop {
            self.reload_again.set(false);
            if let Err(e) = self.engine.reload().await {
                web_sys::console::warn_1(
                    &format!("the till could not re-read its data: {e:?}").into(),
                );
            }
            if !self.reload_again.get() {
                break;
            }
        }
        self.reloading.set(false);
        self.changed(false);
    }

    /// What a message from another tab asks of this one.
    async fn heard(&self, message: &str) {
        if let Some(status) = message.strip_prefix(STATUS) {
            if !self.leading.get() {
                let mut parts = status.split(':');
                let online = parts.next() == Some("true");
                let contact = parts.next().and_then(|c| c.parse().ok());
                self.engine.follow_status(online, contact);
                self.changed(false);
            }
            return;
        }
        match message {
            SYNC_NOW => self.request_sync(),
            // Not while it does not know itself: "offline" would be a guess.
            HOW_IS_CENTRAL if self.leading.get() && !self.engine.status().connecting => {
                self.post_status()
            }
            HOW_IS_CENTRAL => {}
            FLUSH if self.leading.get() => {
                self.reload().await;
                self.engine.flush().await;
                self.changed(true);
            }
            _ => self.reload().await,
        }
    }

    /// Starts following: listen to other tabs and to `online`, and ask for
    /// the store's lock; whoever holds it syncs until the tab closes.
    pub fn start(self: &Rc<Self>) -> Result<(), JsValue> {
        if self.started.replace(true) {
            return Ok(());
        }
        if let Some(channel) = &self.channel {
            let me = Rc::downgrade(self);
            let on_message = Closure::<dyn FnMut(MessageEvent)>::new(move |event: MessageEvent| {
                let (Some(me), Some(message)) = (me.upgrade(), event.data().as_string()) else {
                    return;
                };
                spawn_local(async move { me.heard(&message).await });
            });
            channel.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
            on_message.forget();
        }
        if let Some(w) = window() {
            let me = Rc::downgrade(self);
            let on_online = Closure::<dyn FnMut()>::new(move || {
                if let Some(me) = me.upgrade() {
                    me.wake();
                }
            });
            w.add_event_listener_with_callback("online", on_online.as_ref().unchecked_ref())?;
            on_online.forget();
            // A till's tablet woken, or the tab brought back: try at once
            // rather than after a back-off that ran while nobody looked.
            if let Some(doc) = w.document() {
                let me = Rc::downgrade(self);
                let seen = doc.clone();
                let on_visible = Closure::<dyn FnMut()>::new(move || {
                    if let Some(me) = me.upgrade()
                        && !seen.hidden()
                    {
                        me.wake();
                    }
                });
                doc.add_event_listener_with_callback(
                    "visibilitychange",
                    on_visible.as_ref().unchecked_ref(),
                )?;
                on_visible.forget();
            }
        }
        // Answered by the syncing tab, if there is one; else this tab
        // gets the lock and finds out itself.
        self.post(HOW_IS_CENTRAL);
        let me = self.clone();
        let lead = Closure::once_into_js(move |_lock: JsValue| -> Promise {
            future_to_promise(async move {
                me.lead().await;
                Ok(JsValue::UNDEFINED)
            })
        });
        let locks = window()
            .map(|w| Reflect::get(&w.navigator(), &"locks".into()))
            .transpose()?
            .filter(|l| !l.is_undefined());
        match locks {
            Some(locks) => {
                let request: Function = Reflect::get(&locks, &"request".into())?.dyn_into()?;
                request.call2(&locks, &JsValue::from_str(&self.name), &lead)?;
            }
            // No Web Locks (an old browser): this tab simply syncs.
            None => {
                let lead: Function = lead.dyn_into()?;
                lead.call1(&JsValue::NULL, &JsValue::NULL)?;
            }
        }
        Ok(())
    }

    /// Tells the other tabs how central is, as this tab last found it.
    fn post_status(&self) {
        let status = self.engine.status();
        let contact = status
            .last_contact_ms
            .map_or_else(String::new, |c| c.to_string());
        self.post(&format!("{STATUS}{}:{contact}", status.online));
    }

    /// The syncing tab's loop: long-poll, apply, forward the queue; back off
    /// with jitter while central is unreachable.
    async fn lead(&self) {
        self.leading.set(true);
        // Another tab may have synced up to now: start from what it stored,
        // and catch up at once rather than after a long-poll.
        self.reload().await;
        let mut wait = 0;
        loop {
            let synced = self.engine.sync(wait).await;
            let flushed = self.engine.flush().await;
            let moved = matches!(synced, Ok(Synced::Bootstrapped { .. }))
                || matches!(synced, Ok(Synced::Applied { events, .. }) if events > 0)
                || flushed.applied + flushed.rejected > 0;
            self.changed(moved);
            self.post_status();
            match synced {
                // The cashier's "Sync now" runs a step of its own: wait for
                // it, never ask again at once (that spun without yielding,
                // so the step's request never finished: a frozen page).
                Ok(Synced::Busy) => self.engine.until_synced().await,
                Ok(_) => wait = LONG_POLL_S,
                // Central unreachable, or refusing the till itself (e.g.
                // revoked credentials): retrying at once would not help.
                Err(EngineError::Offline(_) | EngineError::Refused(_)) => {
                    let delay = self.engine.retry_delay_ms();
                    self.pause(delay).await;
                }
                Err(EngineError::Storage(_) | EngineError::Invalid(_)) => {
                    self.pause(self.engine.retry_delay_ms()).await;
                }
            }
        }
    }
}
