//! The auth layers. Plain tower services rather than `from_fn` middleware:
//! those clone their inner service and box two futures per request, and a
//! waiting long-poll carried each box (~1 KB apiece).

use std::{
    future::Future,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll, ready},
};

use axum::{
    extract::Request,
    http::StatusCode,
    response::{IntoResponse, Response},
};
use shared::{ErrorCode, api::Callers};
use tower::{Layer, Service};

use super::{Auth, Principal, Refused, has_credentials, unauthorized};
use crate::{error::AppError, http::client_ip::client_ip};

/// Identifies the caller once, up front: the [`Principal`], or why its
/// credentials are refused ([`Refused`]), goes into the request's
/// extensions. A guess counts as a strike against the client's address. It runs before the request span is made, so the span starts
/// with the principal; [`AdmitLayer`], inside the span, answers refusals.
#[derive(Clone)]
pub struct IdentifyLayer(pub Arc<Auth>);

impl<S> Layer<S> for IdentifyLayer {
    type Service = Identify<S>;

    fn layer(&self, inner: S) -> Identify<S> {
        Identify {
            auth: self.0.clone(),
            inner,
        }
    }
}

#[derive(Clone)]
pub struct Identify<S> {
    auth: Arc<Auth>,
    inner: S,
}

impl<S: Service<Request>> Service<Request> for Identify<S> {
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request) -> S::Future {
        if has_credentials(request.headers()) {
            let address = client_ip(request.extensions()).bucket();
            // A blocked address's credentials are not even looked at: a
            // right guess is refused like a wrong one.
            let identified = match self.auth.strikes.blocked(address, None) {
                Some(wait) => Err(Refused::blocked(wait)),
                None => self.auth.principal(request.headers()),
            };
            match identified {
                Ok(principal) => request.extensions_mut().insert(principal).map(drop),
                Err(refused) => {
                    if refused.is_guess() {
                        self.auth.strikes.strike(address, None);
                    }
                    request.extensions_mut().insert(refused).map(drop)
                }
            };
        }
        self.inner.call(request)
    }
}

/// Refuses a request whose credentials [`IdentifyLayer`] refused: present
/// credentials must be valid, never treated as anonymous.
#[derive(Debug, Clone, Copy)]
pub struct AdmitLayer;

impl<S> Layer<S> for AdmitLayer {
    type Service = Gate<S, Admit>;

    fn layer(&self, inner: S) -> Self::Service {
        Gate { inner, rule: Admit }
    }
}

/// Route layer: who may use a group of routes, as their endpoints
/// declare ([`Callers`]).
#[derive(Debug, Clone, Copy)]
pub struct RequireLayer(pub Callers);

impl<S> Layer<S> for RequireLayer {
    type Service = Gate<S, RequireLayer>;

    fn layer(&self, inner: S) -> Self::Service {
        Gate { inner, rule: *self }
    }
}

/// What a [`Gate`] checks.
pub trait Rule {
    /// `Some` refusal to answer instead of passing the request on.
    fn check(&self, request: &Request) -> Option<AppError>;
}

#[derive(Debug, Clone, Copy)]
pub struct Admit;

impl Rule for Admit {
    fn check(&self, request: &Request) -> Option<AppError> {
        request
            .extensions()
            .get::<Refused>()
            .cloned()
            .map(Into::into)
    }
}

impl Rule for RequireLayer {
    fn check(&self, request: &Request) -> Option<AppError> {
        let principal = request.extensions().get::<Principal>();
        match (self.0, principal) {
            (Callers::Anyone, _) => None,
            (_, None | Some(Principal::Anonymous)) => Some(unauthorized().into()),
            (Callers::Admins, Some(Principal::Store { .. } | Principal::Channel { .. })) => {
                Some(AppError::invalid(
                    StatusCode::FORBIDDEN,
                    ErrorCode::Forbidden,
                    "admin routes need an admin API key or admin token",
                ))
            }
            (Callers::Stores, Some(Principal::Channel { .. })) => Some(super::channel_refused()),
            (Callers::Stores | Callers::Holders | Callers::Admins, _) => None,
        }
    }
}

/// Passes a request on, or answers the refusal its rule finds.
#[derive(Debug, Clone)]
pub struct Gate<S, R> {
    inner: S,
    rule: R,
}

impl<S, R> Service<Request> for Gate<S, R>
where
    S: Service<Request, Response = Response>,
    R: Rule,
{
    type Response = Response;
    type Error = S::Error;
    type Future = Gated<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        match self.rule.check(&request) {
            Some(refusal) => Gated::Refused {
                response: Some(refusal.into_response()),
            },
            None => Gated::Passed {
                future: self.inner.call(request),
            },
        }
    }
}

pin_project_lite::pin_project! {
    /// The response future of a [`Gate`].
    #[project = GatedProj]
    pub enum Gated<F> {
        Refused { response: Option<Response> },
        Passed { #[pin] future: F },
    }
}

impl<F, E> Future for Gated<F>
where
    F: Future<Output = Result<Response, E>>,
{
    type Output = Result<Response, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project() {
            GatedProj::Refused { response } => match response.take() {
                Some(response) => Poll::Ready(Ok(response)),
                // Polled again after it answered: a caller's bug; pending
                // is what a finished future may do.
                None => Poll::Pending,
            },
            GatedProj::Passed { future } => Poll::Ready(ready!(future.poll(cx))),
        }
    }
}
