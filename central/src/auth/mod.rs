//! Authentication and authorisation.
//!
//! Stores sign in with their client id and secret and get a short-lived JWT
//! (HS256, `role: store`, their store id, and the credential generation it
//! was issued at). Admins use an `X-API-Key` from the configuration, or an
//! admin JWT obtained with one, which names the key it came from and dies
//! with it. [`IdentifyLayer`] turns the request's credentials into a
//! [`Principal`] once, up front; routes then require what they need
//! ([`RequireLayer`]). Every credential a request carries must be valid.
//!
//! Guessing is bounded apart from the rate limits ([`Strikes`]: per
//! address and per id from an address, so a stranger's wrong guesses never
//! lock out the right secret), and so is the one expensive check, argon2
//! ([`Hashing`]).

mod access;
mod hashing;
mod layers;
mod secrets;
mod strikes;

use std::{sync::Arc, time::Duration};

use axum::extract::FromRequestParts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header, request::Parts};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, errors::ErrorKind};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use shared::{ErrorCode, Role, TokenResponse};
use subtle::ConstantTimeEq;

pub use access::{Access, DeviceAccess, StoreAccess};
pub use hashing::Hashing;
pub use layers::{AdmitLayer, IdentifyLayer, RequireLayer};
pub use secrets::{
    Cost, cost as hash_cost, generate as generate_secret, hash_chosen, hash_generated,
    verify as verify_secret,
};
pub use strikes::Strikes;

use crate::{config::Config, error::AppError};

pub const API_KEY_HEADER: &str = "x-api-key";
const ISSUER: &str = "stockline-central";
/// The fewest characters an admin API key may have.
pub const MIN_API_KEY_LEN: usize = 32;

/// Who is calling, as established by [`IdentifyLayer`]. Cloned by every
/// extractor that asks, so its strings are shared.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    Anonymous,
    /// A store's own credentials (`device` none), or one of its enrolled
    /// devices (a till), which central records on the writes it makes.
    Store {
        store_id: Arc<str>,
        device: Option<Arc<str>>,
    },
    Admin {
        subject: Arc<str>,
    },
    /// A sales channel (the web shop): availability and holds only.
    Channel {
        channel_id: Arc<str>,
    },
}

impl Principal {
    /// A stable name for rate limiting and logs; never a secret.
    pub fn subject(&self) -> Option<String> {
        self.subject_display().map(|s| s.to_string())
    }

    /// [`Self::subject`] without making a string.
    pub fn subject_display(&self) -> Option<impl std::fmt::Display + '_> {
        struct Subject<'a>(&'a Principal);
        impl std::fmt::Display for Subject<'_> {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                match self.0 {
                    Principal::Anonymous => Ok(()),
                    Principal::Store { store_id, .. } => write!(f, "store:{store_id}"),
                    Principal::Admin { subject } => f.write_str(subject),
                    Principal::Channel { channel_id } => write!(f, "channel:{channel_id}"),
                }
            }
        }
        (*self != Principal::Anonymous).then_some(Subject(self))
    }

    pub fn store_id(&self) -> Option<&str> {
        match self {
            Principal::Store { store_id, .. } => Some(store_id),
            _ => None,
        }
    }

    /// The enrolled device making the call, if one is.
    pub fn device_id(&self) -> Option<&str> {
        match self {
            Principal::Store { device, .. } => device.as_deref(),
            _ => None,
        }
    }

    /// A store writes only its own stock; an admin writes any.
    pub fn may_write_store(&self, store_id: &str) -> Result<(), AppError> {
        self.may_use_store(store_id, "write")
    }

    /// A store reads only its own snapshot; an admin reads any.
    pub fn may_read_store(&self, store_id: &str) -> Result<(), AppError> {
        self.may_use_store(store_id, "read")
    }

    fn may_use_store(&self, store_id: &str, verb: &str) -> Result<(), AppError> {
        match self {
            Principal::Admin { .. } => Ok(()),
            Principal::Store { store_id: own, .. } if **own == *store_id => Ok(()),
            Principal::Store { store_id: own, .. } => Err(AppError::invalid(
                StatusCode::FORBIDDEN,
                ErrorCode::ForbiddenStore,
                format!("signed in as store '{own}', cannot {verb} store '{store_id}'"),
            )),
            Principal::Channel { .. } => Err(channel_refused()),
            Principal::Anonymous => Err(unauthorized().into()),
        }
    }

    /// The channel making the call, if a channel is.
    pub fn channel_id(&self) -> Option<&str> {
        match self {
            Principal::Channel { channel_id } => Some(channel_id),
            _ => None,
        }
    }
}

/// What a sales channel hears on any route but availability and holds.
pub fn channel_refused() -> AppError {
    AppError::invalid(
        StatusCode::FORBIDDEN,
        ErrorCode::ForbiddenChannel,
        "a sales channel may only read availability and place, extend, commit and release holds",
    )
}

impl<S: Send + Sync> FromRequestParts<S> for Principal {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(parts
            .extensions
            .get::<Principal>()
            .cloned()
            .unwrap_or(Principal::Anonymous))
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    sub: String,
    role: Role,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    store_id: Option<String>,
    /// The store's credential generation when issued: rotation revokes.
    #[serde(default, rename = "gen", skip_serializing_if = "Option::is_none")]
    generation: Option<u64>,
    /// An admin token's API key (its id, never the key): removing the key
    /// from the configuration revokes the token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    key: Option<String>,
    /// A device's token: the device, revoked with it. Such a token
    /// carries no generation: rotating the store's secret leaves the
    /// store's enrolled devices be.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    dev: Option<String>,
    /// A channel's token: the channel, with `gen` its generation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    ch: Option<String>,
    iss: String,
    iat: u64,
    exp: u64,
}

/// A configured admin API key, as central holds it: its SHA-256 (never the
/// key), the id admin tokens name it by, and the subject it stands for.
struct ApiKey {
    digest: [u8; 32],
    id: String,
    subject: Arc<str>,
}

impl ApiKey {
    fn new(key: &str) -> Self {
        let digest: [u8; 32] = Sha256::digest(key.as_bytes()).into();
        let id: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
        let subject = Arc::from(format!("admin:key-{}", &id[..8]));
        ApiKey {
            digest,
            id,
            subject,
        }
    }
}

/// Issues and checks credentials.
pub struct Auth {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    ttl: Duration,
    api_keys: Vec<ApiKey>,
    pub access: Arc<StoreAccess>,
    /// Failed authentication, per address and per known id from an
    /// address (never per id alone: ids are not secret).
    pub strikes: Strikes,
    /// Bounds the argon2 checks that run at once.
    pub hashing: Hashing,
}

/// Why a request's credentials were refused. Copied into the request
/// (extensions must be `Clone`), answered by [`AdmitLayer`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    status: StatusCode,
    code: ErrorCode,
    detail: &'static str,
    /// A guess (a key or signature that is simply wrong), as opposed to a
    /// genuine credential that has expired or was revoked: only guesses
    /// count as strikes.
    guess: bool,
    /// For a blocked address: seconds until it may try again.
    retry_after: Option<u64>,
}

impl Refused {
    pub fn is_guess(&self) -> bool {
        self.guess
    }

    /// The refusal of a request from an address with too many strikes.
    pub fn blocked(wait: Duration) -> Refused {
        Refused {
            status: StatusCode::TOO_MANY_REQUESTS,
            code: ErrorCode::RateLimited,
            detail: "too many failed authentications from this address; retry later",
            guess: false,
            retry_after: Some(wait.as_secs().max(1)),
        }
    }

    /// The refusal of a sign-in for an id with too many wrong secrets from
    /// this address (the same id from elsewhere is not refused).
    pub fn blocked_id(wait: Duration) -> Refused {
        Refused {
            detail: "too many wrong secrets for this id from this address; retry later",
            ..Refused::blocked(wait)
        }
    }
}

impl From<Refused> for AppError {
    fn from(r: Refused) -> Self {
        match r.retry_after {
            Some(retry_after) => AppError::RateLimited {
                retry_after,
                detail: r.detail.into(),
            },
            None => AppError::invalid(r.status, r.code, r.detail),
        }
    }
}

fn refused(status: StatusCode, code: ErrorCode, detail: &'static str) -> Refused {
    Refused {
        status,
        code,
        detail,
        guess: false,
        retry_after: None,
    }
}

fn guessed(code: ErrorCode, detail: &'static str) -> Refused {
    Refused {
        guess: true,
        ..refused(StatusCode::UNAUTHORIZED, code, detail)
    }
}

fn unauthorized() -> Refused {
    refused(
        StatusCode::UNAUTHORIZED,
        ErrorCode::Unauthorized,
        "send Authorization: Bearer <token> (POST /v1/auth/token) or X-API-Key",
    )
}

/// Whether a request carries any credential at all.
pub fn has_credentials(headers: &HeaderMap) -> bool {
    headers.contains_key(API_KEY_HEADER) || headers.contains_key(header::AUTHORIZATION)
}

impl Auth {
    pub fn new(config: &Config, access: Arc<StoreAccess>) -> anyhow::Result<Auth> {
        let key = secrets::signing_key(
            config.jwt_secret.as_ref().map(|s| s.expose()),
            &config.data_dir,
        )?;
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[ISSUER]);
        validation.set_required_spec_claims(&["exp", "iss", "sub"]);
        validation.leeway = 5;
        for (i, k) in config.admin_api_keys.iter().enumerate() {
            anyhow::ensure!(
                k.expose().chars().count() >= MIN_API_KEY_LEN,
                "admin API key #{} (--admin-api-key / STOCKLINE_ADMIN_API_KEYS) has {} characters; \
                 at least {MIN_API_KEY_LEN} are needed (e.g. `openssl rand -hex 32`)",
                i + 1,
                k.expose().chars().count()
            );
        }
        let api_keys: Vec<ApiKey> = config
            .admin_api_keys
            .iter()
            .map(|k| ApiKey::new(k.expose()))
            .collect();
        if api_keys.is_empty() {
            tracing::warn!("no admin API key configured: admin routes are closed");
        }
        Ok(Auth {
            encoding: EncodingKey::from_secret(&key),
            decoding: DecodingKey::from_secret(&key),
            validation,
            ttl: Duration::from_secs(config.token_ttl_secs.max(1)),
            api_keys,
            access,
            strikes: Strikes::new(
                config.auth_failures_per_address,
                config.auth_failures_per_client,
                Duration::from_secs(config.auth_failure_window_secs),
                config.auth_failure_addresses,
            ),
            hashing: Hashing::new(config)?,
        })
    }

    fn issue(&self, claims: Claims) -> anyhow::Result<TokenResponse> {
        let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)?;
        Ok(TokenResponse {
            access_token: token,
            token_type: "Bearer".into(),
            expires_in: self.ttl.as_secs(),
            role: claims.role,
            store_id: claims.store_id,
            device_id: claims.dev,
            channel_id: claims.ch,
        })
    }

    fn claims(&self, sub: String, role: Role) -> Claims {
        let now = jsonwebtoken::get_current_timestamp();
        Claims {
            sub,
            role,
            store_id: None,
            generation: None,
            key: None,
            dev: None,
            ch: None,
            iss: ISSUER.into(),
            iat: now,
            exp: now + self.ttl.as_secs(),
        }
    }

    pub fn issue_store(&self, store_id: &str, generation: u64) -> anyhow::Result<TokenResponse> {
        self.issue(Claims {
            store_id: Some(store_id.into()),
            generation: Some(generation),
            ..self.claims(format!("store:{store_id}"), Role::Store)
        })
    }

    /// A store token for an enrolled device of `store_id`.
    pub fn issue_device(&self, store_id: &str, device_id: &str) -> anyhow::Result<TokenResponse> {
        self.issue(Claims {
            store_id: Some(store_id.into()),
            dev: Some(device_id.into()),
            ..self.claims(format!("device:{device_id}"), Role::Store)
        })
    }

    /// A channel token at the channel's credential `generation`.
    pub fn issue_channel(
        &self,
        channel_id: &str,
        generation: u64,
    ) -> anyhow::Result<TokenResponse> {
        self.issue(Claims {
            ch: Some(channel_id.into()),
            generation: Some(generation),
            ..self.claims(format!("channel:{channel_id}"), Role::Channel)
        })
    }

    /// An admin token for the API key `key` (a configured one).
    pub fn issue_admin(&self, key: &str) -> Result<TokenResponse, AppError> {
        let api_key = self
            .api_key(key)
            .ok_or_else(|| AppError::from(guessed(ErrorCode::InvalidApiKey, "unknown API key")))?;
        Ok(self.issue(Claims {
            key: Some(api_key.id.clone()),
            ..self.claims(api_key.subject.to_string(), Role::Admin)
        })?)
    }

    /// The configured API key `key` is, if it is one. Every key is
    /// compared, in constant time.
    fn api_key(&self, key: &str) -> Option<&ApiKey> {
        let digest: [u8; 32] = Sha256::digest(key.as_bytes()).into();
        let mut found = None;
        for known in &self.api_keys {
            if bool::from(known.digest.ct_eq(&digest)) {
                found = Some(known);
            }
        }
        found
    }

    /// The caller's principal. Every credential present must be valid, and
    /// all must name the same caller: a bad key or token is refused here,
    /// never treated as anonymous, and never outvoted by a good one.
    pub fn principal(&self, headers: &HeaderMap) -> Result<Principal, Refused> {
        let mut found: Option<Principal> = None;
        let keys = headers
            .get_all(API_KEY_HEADER)
            .iter()
            .map(|v| self.by_key(v));
        let tokens = headers
            .get_all(header::AUTHORIZATION)
            .iter()
            .map(|v| self.by_token(v));
        for principal in keys.chain(tokens) {
            let principal = principal?;
            match &found {
                Some(other) if *other != principal => {
                    return Err(guessed(
                        ErrorCode::InvalidToken,
                        "the request's credentials name different callers; send one",
                    ));
                }
                _ => found = Some(principal),
            }
        }
        Ok(found.unwrap_or(Principal::Anonymous))
    }

    fn by_key(&self, value: &HeaderValue) -> Result<Principal, Refused> {
        value
            .to_str()
            .ok()
            .and_then(|k| self.api_key(k))
            .map(|k| Principal::Admin {
                subject: k.subject.clone(),
            })
            .ok_or_else(|| guessed(ErrorCode::InvalidApiKey, "unknown API key"))
    }

    fn by_token(&self, value: &HeaderValue) -> Result<Principal, Refused> {
        let token = value
            .to_str()
            .ok()
            .and_then(|v| v.strip_prefix("Bearer "))
            .ok_or_else(|| {
                guessed(
                    ErrorCode::InvalidToken,
                    "expected 'Authorization: Bearer <token>'",
                )
            })?;
        let claims = jsonwebtoken::decode::<Claims>(token.trim(), &self.decoding, &self.validation)
            .map_err(|e| match e.kind() {
                // The signature was checked first: a genuine token, late.
                ErrorKind::ExpiredSignature => refused(
                    StatusCode::UNAUTHORIZED,
                    ErrorCode::TokenExpired,
                    "the token has expired; sign in again at POST /v1/auth/token",
                ),
                _ => guessed(
                    ErrorCode::InvalidToken,
                    "the token is malformed, forged or of another issuer",
                ),
            })?
            .claims;
        let revoked = |detail| refused(StatusCode::UNAUTHORIZED, ErrorCode::TokenRevoked, detail);
        match (claims.role, claims.store_id, claims.generation, claims.dev) {
            (Role::Admin, ..) => {
                let key = claims.key.as_deref().unwrap_or_default();
                match self.api_keys.iter().find(|k| k.id == key) {
                    Some(api_key) => Ok(Principal::Admin {
                        subject: api_key.subject.clone(),
                    }),
                    None => Err(revoked(
                        "the API key this admin token came from is no longer configured",
                    )),
                }
            }
            (Role::Store, Some(store_id), None, Some(device)) => {
                if self.access.device_may_act(&device, &store_id) {
                    Ok(Principal::Store {
                        store_id: store_id.into(),
                        device: Some(device.into()),
                    })
                } else {
                    Err(revoked(
                        "this device was revoked or its store deactivated; enrol it again",
                    ))
                }
            }
            (Role::Store, Some(store_id), Some(generation), None) => {
                match self.access.get(&store_id) {
                    Some(Access {
                        active: true,
                        generation: current,
                    }) if current == generation => Ok(Principal::Store {
                        store_id: store_id.into(),
                        device: None,
                    }),
                    _ => Err(revoked(
                        "the store was deactivated or its secret rotated; sign in again",
                    )),
                }
            }
            (Role::Store, ..) => Err(guessed(
                ErrorCode::InvalidToken,
                "a store token must name its store",
            )),
            (Role::Channel, None, Some(generation), None) => {
                let channel_id = claims.ch.unwrap_or_default();
                match self.access.channel(&channel_id) {
                    Some(Access {
                        active: true,
                        generation: current,
                    }) if current == generation => Ok(Principal::Channel {
                        channel_id: channel_id.into(),
                    }),
                    _ => Err(revoked("the sales channel was deactivated; sign in again")),
                }
            }
            (Role::Channel, ..) => Err(guessed(
                ErrorCode::InvalidToken,
                "a channel token must name its channel",
            )),
        }
    }
}
