use serde::{Deserialize, Serialize};

use crate::{Store, Timestamp};

/// `POST /v1/auth/token`: a store signs in with its client id (the store id)
/// and secret; an admin exchanges an API key for an admin token. To refresh,
/// sign in again before `expires_in` runs out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Reads the catalogue and the change log; writes its own store's stock.
    Store,
    /// Everything, including the admin routes.
    Admin,
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
