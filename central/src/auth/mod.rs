//! Authentication and authorisation.
//!
//! Stores sign in with their client id and secret and get a short-lived JWT
//! (HS256, `role: store`, their store id, and the credential generation it
//! was issued at). Admins use an `X-API-Key` from the configuration, or an
//! admin JWT obtained with one. [`IdentifyLayer`] turns the request's
//! credentials into a [`Principal`] once, up front; routes then require what
//! they need ([`RequireLayer`]).

mod access;
mod layers;
mod secrets;

use std::{sync::Arc, time::Duration};

use axum::extract::FromRequestParts;
use axum::http::{HeaderMap, StatusCode, header, request::Parts};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, errors::ErrorKind};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use shared::{ErrorCode, Role, TokenResponse};

pub use access::{Access, StoreAccess};
pub use layers::{AdmitLayer, IdentifyLayer, RequireLayer};
pub use secrets::{generate as generate_secret, hash as hash_secret, verify as verify_secret};

use crate::{config::Config, error::AppError};

pub const API_KEY_HEADER: &str = "x-api-key";
const ISSUER: &str = "stockline-central";

/// Who is calling, as established by [`Identify`]. Cloned by every
/// extractor that asks, so its strings are shared.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    Anonymous,
    Store { store_id: Arc<str> },
    Admin { subject: Arc<str> },
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
                    Principal::Store { store_id } => write!(f, "store:{store_id}"),
                    Principal::Admin { subject } => f.write_str(subject),
                }
            }
        }
        (*self != Principal::Anonymous).then_some(Subject(self))
    }

    pub fn store_id(&self) -> Option<&str> {
        match self {
            Principal::Store { store_id } => Some(store_id),
            _ => None,
        }
    }

    /// A store writes only its own stock; an admin writes any.
    pub fn may_write_store(&self, store_id: &str) -> Result<(), AppError> {
        match self {
            Principal::Admin { .. } => Ok(()),
            Principal::Store { store_id: own } if **own == *store_id => Ok(()),
            Principal::Store { store_id: own } => Err(AppError::invalid(
                StatusCode::FORBIDDEN,
                ErrorCode::ForbiddenStore,
                format!("signed in as store '{own}', cannot write store '{store_id}'"),
            )),
            Principal::Anonymous => Err(unauthorized().into()),
        }
    }
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
    iss: String,
    iat: u64,
    exp: u64,
}

/// Issues and checks credentials.
pub struct Auth {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    ttl: Duration,
    /// SHA-256 of each configured API key (keys are never held in clear),
    /// and the admin subject it stands for.
    api_keys: Vec<([u8; 32], Arc<str>)>,
    pub access: Arc<StoreAccess>,
}

/// Why a request's credentials were refused. Copied into the request
/// (extensions must be `Clone`), answered by [`Admit`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refused {
    status: StatusCode,
    code: ErrorCode,
    detail: &'static str,
}

impl From<Refused> for AppError {
    fn from(r: Refused) -> Self {
        AppError::invalid(r.status, r.code, r.detail)
    }
}

fn refused(status: StatusCode, code: ErrorCode, detail: &'static str) -> Refused {
    Refused {
        status,
        code,
        detail,
    }
}

fn unauthorized() -> Refused {
    refused(
        StatusCode::UNAUTHORIZED,
        ErrorCode::Unauthorized,
        "send Authorization: Bearer <token> (POST /v1/auth/token) or X-API-Key",
    )
}

fn invalid_token(detail: &'static str) -> Refused {
    refused(StatusCode::UNAUTHORIZED, ErrorCode::InvalidToken, detail)
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
        let api_keys = config
            .admin_api_keys
            .iter()
            .map(|k| {
                let digest: [u8; 32] = Sha256::digest(k.expose().as_bytes()).into();
                let short: String = digest[..4].iter().map(|b| format!("{b:02x}")).collect();
                (digest, Arc::from(format!("admin:key-{short}")))
            })
            .collect::<Vec<_>>();
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
        })
    }

    fn issue(
        &self,
        sub: String,
        role: Role,
        store_id: Option<String>,
        generation: Option<u64>,
    ) -> anyhow::Result<TokenResponse> {
        let now = jsonwebtoken::get_current_timestamp();
        let claims = Claims {
            sub,
            role,
            store_id: store_id.clone(),
            generation,
            iss: ISSUER.into(),
            iat: now,
            exp: now + self.ttl.as_secs(),
        };
        let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)?;
        Ok(TokenResponse {
            access_token: token,
            token_type: "Bearer".into(),
            expires_in: self.ttl.as_secs(),
            role,
            store_id,
        })
    }

    pub fn issue_store(&self, store_id: &str, generation: u64) -> anyhow::Result<TokenResponse> {
        let sub = format!("store:{store_id}");
        self.issue(sub, Role::Store, Some(store_id.into()), Some(generation))
    }

    pub fn issue_admin(&self, subject: String) -> anyhow::Result<TokenResponse> {
        self.issue(subject, Role::Admin, None, None)
    }

    /// The admin subject an API key stands for, if it is a configured key.
    pub fn admin_for_key(&self, key: &str) -> Option<Arc<str>> {
        let digest: [u8; 32] = Sha256::digest(key.as_bytes()).into();
        self.api_keys
            .iter()
            .find(|(known, _)| *known == digest)
            .map(|(_, subject)| subject.clone())
    }

    /// The caller's principal. Credentials that are present must be valid:
    /// a bad key or token is refused here, never treated as anonymous.
    pub fn principal(&self, headers: &HeaderMap) -> Result<Principal, Refused> {
        if let Some(key) = headers.get(API_KEY_HEADER) {
            let subject = key
                .to_str()
                .ok()
                .and_then(|k| self.admin_for_key(k))
                .ok_or_else(|| {
                    refused(
                        StatusCode::UNAUTHORIZED,
                        ErrorCode::InvalidApiKey,
                        "unknown API key",
                    )
                })?;
            return Ok(Principal::Admin { subject });
        }
        let Some(authorization) = headers.get(header::AUTHORIZATION) else {
            return Ok(Principal::Anonymous);
        };
        let token = authorization
            .to_str()
            .ok()
            .and_then(|v| v.strip_prefix("Bearer "))
            .ok_or_else(|| invalid_token("expected 'Authorization: Bearer <token>'"))?;
        let claims = jsonwebtoken::decode::<Claims>(token.trim(), &self.decoding, &self.validation)
            .map_err(|e| match e.kind() {
                ErrorKind::ExpiredSignature => refused(
                    StatusCode::UNAUTHORIZED,
                    ErrorCode::TokenExpired,
                    "the token has expired; sign in again at POST /v1/auth/token",
                ),
                _ => invalid_token("the token is malformed, forged or of another issuer"),
            })?
            .claims;
        match (claims.role, claims.store_id, claims.generation) {
            (Role::Admin, _, _) => Ok(Principal::Admin {
                subject: claims.sub.into(),
            }),
            (Role::Store, Some(store_id), Some(generation)) => match self.access.get(&store_id) {
                Some(Access {
                    active: true,
                    generation: current,
                }) if current == generation => Ok(Principal::Store {
                    store_id: store_id.into(),
                }),
                _ => Err(refused(
                    StatusCode::UNAUTHORIZED,
                    ErrorCode::TokenRevoked,
                    "the store was deactivated or its secret rotated; sign in again",
                )),
            },
            (Role::Store, _, _) => Err(invalid_token("a store token must name its store")),
        }
    }
}
