//! The POS page in the browser: sign in (remembered on the device), then
//! the till. Everything the till shows comes from the store node.

mod dom;
mod signin;
mod till;

use store_wasm::browser::Node;
use wasm_bindgen::JsValue;
use wasm_bindgen_futures::spawn_local;

use crate::wording;
use signin::Credentials;
use till::Till;

/// Opens the till for the remembered store, or asks who this till is.
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
    dom::show(&loading, false);
    if let Some(credentials) = Credentials::remembered() {
        // No network needed: the replica and the queue are on this device.
        match Node::open(credentials.options()).await {
            Ok(node) => {
                Till::open(doc, node)?;
                return Ok(());
            }
            Err(error) => {
                let notice: web_sys::Element = dom::by_id(&doc, "signin-error")?;
                dom::set_text(&notice, &wording::engine_error(&error));
            }
        }
    }
    let till_doc = doc.clone();
    signin::show_form(&doc, move |node, _| {
        if let Err(error) = Till::open(till_doc.clone(), node) {
            fatal(&error);
        }
    })
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
