//! Who this till is, as it keeps it in `localStorage`: the store it was set
//! up for, the device credential head office gave it at enrolment, the
//! verifiers of its PIN and of the manager's, and whether it is locked. The store's secret is never kept:
//! it is used once, to enrol, and a till set up before devices existed has
//! its remembered store secret deleted (and is set up again).

use serde::{Deserialize, Serialize};
use store_wasm::{browser::Options, engine::Credential};
use web_sys::Storage;

use crate::lock::PinLock;

const KEY: &str = "stockline.till";
/// Where tills once kept the store's secret.
const LEGACY_KEY: &str = "stockline.signin";

#[derive(Clone, Serialize, Deserialize)]
pub struct Identity {
    /// "" when the page is served by central (or proxied to it).
    pub central_url: String,
    pub store_id: String,
    pub device_id: String,
    device_secret: String,
    /// What the store calls this till ("Till 2").
    pub device_name: String,
    pub pin: PinLock,
    /// The manager's PIN: restocks, counts, returns and voids need it.
    pub manager: PinLock,
    /// Set by "Lock": the till asks for the PIN before it shows anything.
    pub locked: bool,
}

fn local_storage() -> Option<Storage> {
    web_sys::window()?.local_storage().ok()?
}

impl Identity {
    pub fn new(
        central_url: String,
        enrolled: shared::DeviceCredentials,
        pin: PinLock,
        manager: PinLock,
    ) -> Identity {
        Identity {
            central_url,
            store_id: enrolled.device.store_id,
            device_id: enrolled.device.device_id,
            device_secret: enrolled.device_secret,
            device_name: enrolled.device.name,
            pin,
            manager,
            locked: false,
        }
    }

    /// The identity this device holds, if it was set up. Deletes a store
    /// secret an older version of the till left behind.
    pub fn load() -> Option<Identity> {
        let storage = local_storage()?;
        let _ = storage.remove_item(LEGACY_KEY);
        let text = storage.get_item(KEY).ok()??;
        serde_json::from_str(&text).ok()
    }

    /// Stores it; false if the browser refused (the till then cannot
    /// open again after a reload, which the caller says).
    pub fn save(&self) -> bool {
        match (local_storage(), serde_json::to_string(self)) {
            (Some(storage), Ok(text)) => storage.set_item(KEY, &text).is_ok(),
            _ => false,
        }
    }

    /// Forgets the device credential: the till must be set up again.
    /// Its replica and its queue stay, for the same store to send on.
    pub fn forget() {
        if let Some(storage) = local_storage() {
            let _ = storage.remove_item(KEY);
        }
    }

    pub fn options(&self) -> Options {
        Options {
            central_url: self.central_url.clone(),
            store_id: self.store_id.clone(),
            credential: Credential::device(&self.device_id, &self.device_secret),
            db_name: None,
            stale_after_ms: None,
        }
    }
}

/// 16 random bytes from the browser's CSPRNG, for a PIN's salt.
pub fn random_salt() -> Option<[u8; 16]> {
    let crypto = web_sys::window()?.crypto().ok()?;
    let mut salt = [0u8; 16];
    crypto.get_random_values_with_u8_array(&mut salt).ok()?;
    Some(salt)
}
