//! The POS page in the browser: a till set up once (enrolled at head
//! office, see [`signin`]), unlocked with its PIN, then the till. Everything
//! the till shows comes from the store node.

mod dom;
mod identity;
pub mod kdf;
mod manager;
mod signin;
mod till;

use std::rc::Rc;

use shared::ErrorCode;
use store_wasm::browser::Node;
use wasm_bindgen::JsValue;
use wasm_bindgen_futures::spawn_local;

use crate::wording;
use identity::Identity;
use till::Till;

/// Set for the next page when head office refused this till: the set-up
/// form says why it shows.
const NOTICE_KEY: &str = "stockline.notice";

/// Opens the till this device is, or asks to set one up.
pub fn start() {
    spawn_local(async {
        if let Err(error) = run().await {
            fatal(&error);
        }
    });
}

async fn run() -> Result<(), JsValue> {
    let doc = dom::document()?;
    let loading: web_sys::Element = dom::by_id(&doc, "loading")?;
    let open = {
        let doc = doc.clone();
        move |node: Node| {
            let opened = Till::open(doc.clone(), node.clone())
                .and_then(|_| manager::Manager::open(doc.clone(), node));
            if let Err(error) = opened {
                fatal(&error);
            }
        }
    };
    let Some(identity) = Identity::load() else {
        dom::show(&loading, false);
        let notice = take_notice();
        return signin::show_setup(&doc, notice.as_deref(), move |node| {
            watch_for_refusal(&node);
            open(node);
        });
    };
    // No network needed: the replica and the queue are on this device.
    let node = Node::open(identity.options()).await;
    dom::show(&loading, false);
    let node = match node {
        Ok(node) => node,
        Err(error) => {
            let notice = wording::engine_error(&error);
            return signin::show_setup(&doc, Some(&notice), move |node| {
                watch_for_refusal(&node);
                open(node);
            });
        }
    };
    watch_for_refusal(&node);
    if identity.locked {
        // A locked till still sends what it holds and keeps its replica
        // current; it shows nothing until the PIN is given.
        node.start()?;
        signin::show_unlock(&doc, identity, node, open)
    } else {
        open(node);
        Ok(())
    }
}

/// Head office no longer takes this till's credential (it was revoked, or
/// its store deactivated): the till stops selling under it and must be set
/// up again. What it holds stays in its database, to be sent once it is.
fn watch_for_refusal(node: &Node) {
    let watched = node.clone();
    let gone = Rc::new(std::cell::Cell::new(false));
    node.subscribe(move || {
        let refused = watched.engine().status().signed_out.is_some_and(|p| {
            matches!(
                p.code,
                ErrorCode::InvalidCredentials | ErrorCode::TokenRevoked
            )
        });
        if refused && !gone.replace(true) {
            let waiting = wording::waiting(&watched.engine().intents());
            let notice = format!(
                "Head office no longer accepts this till: it was removed, or its store closed.                  Set it up again to go on selling. It has {waiting}; that is kept and sent once                  it is set up again for the same store."
            );
            set_notice(&notice);
            Identity::forget();
            if let Some(window) = web_sys::window() {
                let _ = window.location().reload();
            }
        }
    });
}

fn session() -> Option<web_sys::Storage> {
    web_sys::window()?.session_storage().ok()?
}

fn set_notice(text: &str) {
    if let Some(storage) = session() {
        let _ = storage.set_item(NOTICE_KEY, text);
    }
}

fn take_notice() -> Option<String> {
    let storage = session()?;
    let notice = storage.get_item(NOTICE_KEY).ok()??;
    let _ = storage.remove_item(NOTICE_KEY);
    Some(notice)
}

/// Locks the till: the next page asks for the PIN.
pub fn lock() {
    if let Some(mut identity) = Identity::load() {
        identity.locked = true;
        identity.save();
    }
    if let Some(window) = web_sys::window() {
        let _ = window.location().reload();
    }
}

/// The page could not start at all: say so where the till would be.
fn fatal(error: &JsValue) {
    web_sys::console::error_1(error);
    if let Ok(doc) = dom::document()
        && let Ok(notice) = dom::by_id::<web_sys::Element>(&doc, "fatal")
    {
        let detail = error.as_string().unwrap_or_else(|| format!("{error:?}"));
        dom::set_text(
            &notice,
            &format!("The till could not start ({detail}). Reload the page."),
        );
        dom::show(&notice, true);
    }
}
