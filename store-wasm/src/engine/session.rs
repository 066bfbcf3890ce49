//! The store's session with central: a token renewed before it expires, one
//! fresh sign-in on a 401 (never a loop), and what each call tells the node
//! about its contact with central.

use shared::{
    ErrorCode, Problem,
    api::{self, Call, Endpoint},
};

use super::{Clock, Engine, EngineError, Nearby, Storage, Transport, TransportError};

/// `value` as the id type `I` a call's path takes. What central sent or the
/// till was set up with is a valid id; one that is not is refused here, as
/// central would refuse it, never sent again.
pub(super) fn id<I: TryFrom<String, Error = String>>(value: &str) -> Result<I, TransportError> {
    I::try_from(value.to_owned()).map_err(|detail| {
        TransportError::Problem(Box::new(Problem::new(
            400,
            ErrorCode::ValidationFailed,
            Some(detail),
        )))
    })
}

impl<S: Storage, T: Transport, C: Clock> Engine<S, T, C> {
    /// A valid token, signing in when there is none or it is about to expire.
    async fn token(&self) -> Result<String, TransportError> {
        let now = self.clock.now_ms();
        if let Some((token, expires)) = &self.state.borrow().token
            && now + self.config.refresh_margin_ms < *expires
        {
            return Ok(token.clone());
        }
        let request = self.config.credential.token_request(&self.config.store_id);
        let answer = self
            .transport
            .call::<api::SignIn>(None, Call::with(&(), &request))
            .await
            .inspect_err(|e| self.note_refusal(e))?;
        let expires = now + answer.expires_in as i64 * 1000;
        self.state.borrow_mut().token = Some((answer.access_token.clone(), expires));
        // Central answered: the till is online, whatever the call after.
        self.heard_from_central();
        Ok(answer.access_token)
    }

    /// Sends `call` with a token; a 401 means one fresh sign-in and one
    /// more try, never a loop.
    pub(super) async fn authed<E: Endpoint>(
        &self,
        call: Call<'_, E>,
    ) -> Result<E::Response, TransportError> {
        let token = self.token().await?;
        match self.transport.call(Some(&token), call).await {
            Err(e) if e.status() == Some(401) => {
                self.state.borrow_mut().token = None;
                let token = self.token().await?;
                self.transport
                    .call(Some(&token), call)
                    .await
                    .inspect_err(|e| self.note_refusal(e))
            }
            other => other,
        }
    }

    /// Signs in afresh: how the page checks the credentials a cashier typed.
    pub async fn sign_in(&self) -> Result<(), EngineError> {
        self.state.borrow_mut().token = None;
        self.token().await.inspect_err(|e| self.note_failure(e))?;
        Ok(())
    }

    /// A 401 that a fresh sign-in did not cure: the till's credentials are
    /// no longer good, which the page must say (sales stay queued).
    fn note_refusal(&self, error: &TransportError) {
        if let TransportError::Problem(problem) = error
            && problem.status == 401
        {
            self.state.borrow_mut().signed_out = Some((**problem).clone());
        }
    }

    pub(super) fn heard_from_central(&self) {
        let mut state = self.state.borrow_mut();
        state.online = true;
        state.replica.last_contact_ms = Some(self.clock.now_ms());
        state.backoff.reset();
        // Central took a call with the till's token: its credentials hold.
        state.signed_out = None;
    }

    pub(super) fn note_failure(&self, error: &TransportError) {
        if error.is_transient() {
            self.state.borrow_mut().online = false;
        }
    }

    /// How long to wait before trying central again (exponential, jittered).
    pub fn retry_delay_ms(&self) -> u64 {
        let random = self.clock.random();
        self.state.borrow_mut().backoff.next_delay_ms(random)
    }

    /// Every store's figure for `sku`, asked of central now: the one read
    /// that needs the network ("available nearby").
    pub async fn nearby(&self, sku: &str) -> Result<Vec<Nearby>, EngineError> {
        let sku = id(sku).inspect_err(|e| self.note_failure(e))?;
        let answer = self
            .authed(Call::<api::GetProduct>::to(&sku))
            .await
            .inspect_err(|e| self.note_failure(e))?;
        self.heard_from_central();
        let state = self.state.borrow();
        Ok(answer
            .stores
            .into_iter()
            .map(|s| Nearby {
                name: state
                    .replica
                    .stores
                    .get(&s.store_id)
                    .map(|st| st.name.clone()),
                store_id: s.store_id,
                available: s.available,
            })
            .collect())
    }
}
