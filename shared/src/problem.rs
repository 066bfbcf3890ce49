use serde::{Deserialize, Serialize};

use crate::{HoldState, Product, Shortfall, StockLevel};

/// The media type of every error answer.
pub const PROBLEM_CONTENT_TYPE: &str = "application/problem+json";

/// An RFC 9457 problem detail. `code` is the stable, machine-readable part:
/// clients branch on it, never on `title` or `detail`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Problem {
    #[serde(rename = "type")]
    pub type_uri: String,
    pub title: String,
    pub status: u16,
    pub code: ErrorCode,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// Central's state of the level, on refusals that concern one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current: Option<StockLevel>,
    /// Central's state of the product, on refusals that concern one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_product: Option<Product>,
    /// On `offset_gone`: the oldest `from` central can still serve.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oldest_offset: Option<u64>,
    /// On validation errors: what is wrong with which field.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
    /// On `hold_unavailable`: what each sku lacked.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub shortfalls: Vec<Shortfall>,
    /// On `hold_ended` and `hold_expired`: how the hold ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hold_state: Option<HoldState>,
    /// On `channel_hold_limit`: the most units the channel may hold, what
    /// it holds and what the hold asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel_limit: Option<ChannelLimitReached>,
    /// On `hold_life_exceeded`: the latest the hold may end.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "time::serde::rfc3339::option"
    )]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub latest_expires_at: Option<crate::Timestamp>,
}

/// What a channel holds against its `max_held_units`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ChannelLimitReached {
    pub max_held_units: i64,
    pub held_units: i64,
    pub requested: i64,
}

impl Problem {
    pub fn new(status: u16, code: ErrorCode, detail: impl Into<Option<String>>) -> Self {
        Problem {
            type_uri: format!("/problems/{}", code.as_str()),
            title: code.title().to_owned(),
            status,
            code,
            detail: detail.into(),
            current: None,
            current_product: None,
            oldest_offset: None,
            errors: Vec::new(),
            shortfalls: Vec::new(),
            hold_state: None,
            channel_limit: None,
            latest_expires_at: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        FieldError {
            field: field.into(),
            message: message.into(),
        }
    }
}

macro_rules! error_codes {
    ($($variant:ident => $code:literal, $title:literal;)*) => {
        /// Stable error codes. New codes may be added: clients must treat an
        /// unknown one (`Unknown`) by its HTTP status. On the wire each is
        /// its `as_str`, written once below.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum ErrorCode {
            $($variant,)*
            Unknown,
        }

        impl ErrorCode {
            /// Every known code.
            pub const ALL: &[ErrorCode] = &[$(ErrorCode::$variant,)*];

            pub fn as_str(self) -> &'static str {
                match self {
                    $(ErrorCode::$variant => $code,)*
                    ErrorCode::Unknown => "unknown",
                }
            }

            pub fn title(self) -> &'static str {
                match self {
                    $(ErrorCode::$variant => $title,)*
                    ErrorCode::Unknown => "Unknown error",
                }
            }
        }
    };
}

impl Serialize for ErrorCode {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// A code this build does not know reads as [`ErrorCode::Unknown`], never
/// as an error: central may add codes.
impl<'de> Deserialize<'de> for ErrorCode {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let code = std::borrow::Cow::<'de, str>::deserialize(deserializer)?;
        Ok(ErrorCode::ALL
            .iter()
            .copied()
            .find(|known| known.as_str() == code)
            .unwrap_or(ErrorCode::Unknown))
    }
}

/// An open string: the codes known today are listed, and a client must
/// take one it does not know by the answer's status.
#[cfg(feature = "openapi")]
impl utoipa::PartialSchema for ErrorCode {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        let known: Vec<&str> = ErrorCode::ALL.iter().map(|c| c.as_str()).collect();
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .description(Some(format!(
                "A stable code. New codes may be added: take one you do not know by the \
                 answer's HTTP status. Known today: {}.",
                known.join(", ")
            )))
            .examples([serde_json::json!("insufficient_stock")])
            .into()
    }
}

#[cfg(feature = "openapi")]
impl utoipa::ToSchema for ErrorCode {}

#[cfg(test)]
mod code_tests {
    use super::*;

    #[test]
    fn every_code_reads_back_and_an_unknown_one_is_unknown() {
        for code in ErrorCode::ALL {
            let json = serde_json::to_string(code).unwrap();
            assert_eq!(json, format!("\"{}\"", code.as_str()));
            assert_eq!(serde_json::from_str::<ErrorCode>(&json).unwrap(), *code);
        }
        let later: ErrorCode = serde_json::from_str("\"added_next_year\"").unwrap();
        assert_eq!(later, ErrorCode::Unknown);
    }
}

error_codes! {
    MalformedJson => "malformed_json", "The body is not valid JSON";
    InvalidBody => "invalid_body", "The body does not have the expected shape";
    ValidationFailed => "validation_failed", "Some fields are invalid";
    UnsupportedMediaType => "unsupported_media_type", "Expected Content-Type: application/json";
    PayloadTooLarge => "payload_too_large", "The body is too large";
    RequestTimeout => "request_timeout", "The request did not arrive in time";
    InvalidQuery => "invalid_query", "Invalid query parameters";
    InvalidPath => "invalid_path", "Invalid path parameters";
    RouteNotFound => "route_not_found", "No such route";
    MethodNotAllowed => "method_not_allowed", "Method not allowed on this route";
    IdempotencyKeyMissing => "idempotency_key_missing", "An Idempotency-Key header is required";
    IdempotencyKeyInvalid => "idempotency_key_invalid", "The idempotency key is not valid";
    IdempotencyKeyReused => "idempotency_key_reused", "The idempotency key was used with another request";
    BatchTooLarge => "batch_too_large", "Too many items in the batch";
    BatchAborted => "batch_aborted", "Not applied: another line of the atomic batch was refused";
    StoreNotFound => "store_not_found", "Unknown store";
    StoreInactive => "store_inactive", "The store is deactivated";
    ProductNotFound => "product_not_found", "Unknown product";
    ProductInactive => "product_inactive", "The product is deleted";
    ProductExists => "product_exists", "A product with this sku exists";
    StoreExists => "store_exists", "A store with this id exists";
    DeviceNotFound => "device_not_found", "Unknown device";
    ChannelNotFound => "channel_not_found", "Unknown sales channel";
    ChannelExists => "channel_exists", "A sales channel with this id exists";
    DeviceLimit => "device_limit", "The store has as many enrolled devices as it may have; revoke one first";
    VersionConflict => "version_conflict", "The version moved";
    InsufficientStock => "insufficient_stock", "Not enough stock";
    LevelOutOfRange => "level_out_of_range", "The level would leave the range a level may hold";
    HoldUnavailable => "hold_unavailable", "Not enough is available to hold every line; nothing was held";
    HoldNotFound => "hold_not_found", "Unknown hold";
    HoldExpired => "hold_expired", "The hold expired: its units went back on sale; put the goods back on the shelf or place a new hold";
    HoldEnded => "hold_ended", "The hold was committed or released already";
    HoldLineNotFound => "hold_line_not_found", "The hold has no such active line";
    CommitExceedsHeld => "commit_exceeds_held", "Cannot hand over more units than are held";
    ChannelHoldLimit => "channel_hold_limit", "The sales channel would hold more units than it may at once; nothing was held";
    HoldLifeExceeded => "hold_life_exceeded", "The hold would live longer than its channel's holds may";
    ChannelInactive => "channel_inactive", "The sales channel is deactivated";
    OffsetGone => "offset_gone", "The offset is older than the retained change log; re-bootstrap from a snapshot";
    Unauthorized => "unauthorized", "Authentication required";
    InvalidCredentials => "invalid_credentials", "Unknown client id or wrong secret";
    InvalidApiKey => "invalid_api_key", "The API key is not valid";
    InvalidToken => "invalid_token", "The token is not valid";
    TokenExpired => "token_expired", "The token has expired; sign in again";
    TokenRevoked => "token_revoked", "The token was revoked (store deactivated or secret rotated)";
    Forbidden => "forbidden", "Not allowed for this role";
    ForbiddenStore => "forbidden_store", "A store may write only its own stock";
    ForbiddenChannel => "forbidden_channel", "A sales channel may only read availability and hold stock";
    RateLimited => "rate_limited", "Too many requests; retry after the delay given";
    ServiceUnavailable => "service_unavailable", "The service is not available right now";
    Internal => "internal", "Internal error";
}
