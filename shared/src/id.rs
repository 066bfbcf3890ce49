//! Identifiers parsed once, where they enter: a [`StoreId`] or [`Sku`]
//! holds only what [`validate::identifier`] takes, so code behind the edge
//! never checks one again.

use serde::{Deserialize, Serialize};

use crate::validate;

macro_rules! identifier {
    ($(#[$doc:meta])* $name:ident, $what:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }

            pub fn into_inner(self) -> String {
                self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = String;

            fn try_from(value: String) -> Result<Self, String> {
                let mut errors = Vec::new();
                validate::identifier($what, &value, &mut errors);
                match errors.pop() {
                    None => Ok($name(value)),
                    Some(error) => Err(format!("{}: {}", error.field, error.message)),
                }
            }
        }

        impl std::str::FromStr for $name {
            type Err = String;

            fn from_str(value: &str) -> Result<Self, String> {
                value.to_owned().try_into()
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl crate::api::PathParams for $name {
            fn values(&self) -> Vec<&str> {
                vec![&self.0]
            }
        }

        impl std::ops::Deref for $name {
            type Target = str;

            fn deref(&self) -> &str {
                &self.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }

        #[cfg(feature = "openapi")]
        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                crate::schema::identifier().into()
            }
        }

        #[cfg(feature = "openapi")]
        impl utoipa::ToSchema for $name {}
    };
}

identifier!(
    /// A store's id (also its client id).
    StoreId,
    "store_id"
);
identifier!(
    /// A product's sku.
    Sku,
    "sku"
);
identifier!(
    /// An enrolled device's id (a till's), made by central at enrolment.
    DeviceId,
    "device_id"
);

identifier!(
    /// A sales channel's id (also its client id).
    ChannelId,
    "channel_id"
);

identifier!(
    /// A hold's id, made by central when it is placed.
    HoldId,
    "hold_id"
);

/// A write's idempotency key: 1–128 visible ASCII characters, made once by
/// the client (a UUID fits) and kept until central has answered.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

impl TryFrom<String> for IdempotencyKey {
    type Error = String;

    fn try_from(value: String) -> Result<Self, String> {
        validate::idempotency_key(&value).map(|()| IdempotencyKey(value))
    }
}

impl From<IdempotencyKey> for String {
    fn from(key: IdempotencyKey) -> String {
        key.0
    }
}

#[cfg(feature = "openapi")]
impl utoipa::PartialSchema for IdempotencyKey {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        crate::schema::idempotency_key().into()
    }
}

#[cfg(feature = "openapi")]
impl utoipa::ToSchema for IdempotencyKey {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_parse_once_and_refuse_what_validation_refuses() {
        let store: StoreId = "store-001".parse().unwrap();
        assert_eq!(store.as_str(), "store-001");
        for bad in ["", "a b", "a/b", &"x".repeat(65)] {
            assert!(bad.parse::<Sku>().is_err(), "{bad:?}");
        }
        let parsed: Result<Sku, _> = serde_json::from_str(r#""has space""#);
        assert!(parsed.unwrap_err().to_string().contains("sku"));
        assert_eq!(serde_json::to_string(&store).unwrap(), r#""store-001""#);
    }
}
