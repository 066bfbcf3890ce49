use serde::{Deserialize, Serialize};

use crate::{Store, Timestamp};

/// `POST /v1/auth/token`: a store signs in with its client id (the store id)
/// and secret; an admin exchanges an API key for an admin token. To refresh,
/// sign in again before `expires_in` runs out.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(untagged, deny_unknown_fields)]
pub enum TokenRequest {
    Store {
        #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::identifier))]
        client_id: String,
        #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::client_secret))]
        client_secret: String,
    },
    Admin {
        #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::api_key))]
        api_key: String,
    },
    /// A sales channel (the web shop) with the secret it was registered
    /// with: a channel token, which may only hold.
    Channel {
        #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::identifier))]
        channel_id: String,
        #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::client_secret))]
        channel_secret: String,
    },
    /// An enrolled device (a till) with the credential enrolment gave it:
    /// a store token that names the device, revoked with it.
    Device {
        #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::identifier))]
        device_id: String,
        #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::client_secret))]
        device_secret: String,
    },
}

/// Names the caller, never the secret.
impl std::fmt::Debug for TokenRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TokenRequest::Store { client_id, .. } => f
                .debug_struct("Store")
                .field("client_id", client_id)
                .finish_non_exhaustive(),
            TokenRequest::Admin { .. } => f.debug_struct("Admin").finish_non_exhaustive(),
            TokenRequest::Channel { channel_id, .. } => f
                .debug_struct("Channel")
                .field("channel_id", channel_id)
                .finish_non_exhaustive(),
            TokenRequest::Device { device_id, .. } => f
                .debug_struct("Device")
                .field("device_id", device_id)
                .finish_non_exhaustive(),
        }
    }
}

/// `POST /v1/devices`: a device (a till) is enrolled once, online, with the
/// store's secret, and gets a credential of its own that central can
/// revoke; the store's secret need not be kept on the device.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct EnrolRequest {
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::identifier))]
    pub store_id: String,
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::client_secret))]
    pub client_secret: String,
    /// What the store calls the device ("Till 2").
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::name))]
    pub device_name: String,
}

/// Never prints the secret.
impl std::fmt::Debug for EnrolRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EnrolRequest")
            .field("store_id", &self.store_id)
            .field("device_name", &self.device_name)
            .finish_non_exhaustive()
    }
}

/// An enrolled device, as admins see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Device {
    pub device_id: String,
    pub store_id: String,
    pub name: String,
    #[serde(with = "time::serde::rfc3339")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub enrolled_at: Timestamp,
    /// Set once revoked: the device's tokens and credential stop working.
    #[serde(default, with = "time::serde::rfc3339::option")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub revoked_at: Option<Timestamp>,
}

/// A device's credential, shown once, at enrolment. Central keeps a hash.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DeviceCredentials {
    pub device: Device,
    pub device_secret: String,
}

/// Never prints the secret.
impl std::fmt::Debug for DeviceCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeviceCredentials")
            .field("device", &self.device)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Reads the catalogue and the change log; writes its own store's stock.
    Store,
    /// Everything, including the admin routes.
    Admin,
    /// A sales channel: reads availability chain-wide and holds stock.
    Channel,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TokenResponse {
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: String,
    /// Seconds until the token expires.
    pub expires_in: u64,
    pub role: Role,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub store_id: Option<String>,
    /// The device a device's token names.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_id: Option<String>,
    /// The channel a channel's token names.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel_id: Option<String>,
}

/// A store's credentials, shown once: when it is registered or its secret
/// is rotated. Central keeps only a salted hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StoreCredentials {
    pub store: Store,
    pub client_id: String,
    pub client_secret: String,
}

/// A store as operators see it: with how far its replica has followed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StoreStatus {
    pub store: Store,
    /// `None` until the store's node first fetches changes (since central started).
    pub replication: Option<ReplicationPosition>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReplicationPosition {
    /// The `from` of the store's last changes call.
    pub offset: u64,
    #[serde(with = "time::serde::rfc3339")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub fetched_at: Timestamp,
    /// Events behind central's head.
    pub lag: u64,
}
