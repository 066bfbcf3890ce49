//! Holds and chain-wide availability: what a sales channel (the web shop)
//! may do, and what a store does at its counter (hand over, cancel).
//! Every write is keyed, answered like an adjustment: a replay gets the
//! saved answer, status included.

use axum::{extract::State, http::StatusCode, response::Response};
use shared::{
    AvailabilityRequest, CommitHoldRequest, ExtendHoldRequest, Hold, HoldId, PlaceHoldRequest,
    Problem, ProductAvailability, StoreId, api, validate,
};

use ledger::cmd::{CommitHold, ExtendHold, HoldActor, PlaceHold, ReleaseHold};

use super::Routes;
use super::{
    extract::{IdempotencyKey, Json, Path},
    stock::keyed_response,
};
use crate::{AppState, auth::Principal, error::AppError};

/// The most holds a store's pick-ups list answers with.
const PICKUPS: u32 = 500;

pub(super) fn routes(routes: Routes) -> Routes {
    routes
        .add::<api::PlaceHold, _, _>(place)
        .add::<api::GetHold, _, _>(hold)
        .add::<api::ExtendHold, _, _>(extend)
        .add::<api::CommitHold, _, _>(commit)
        .add::<api::ReleaseHold, _, _>(release)
        .add::<api::CheckAvailability, _, _>(availability)
        .add::<api::ListPickups, _, _>(pickups)
}

fn forbidden(detail: &str) -> AppError {
    AppError::invalid(StatusCode::FORBIDDEN, shared::ErrorCode::Forbidden, detail)
}

/// The channel placing or extending a hold; anyone else is refused.
fn channel(principal: &Principal) -> Result<String, AppError> {
    principal
        .channel_id()
        .map(str::to_owned)
        .ok_or_else(|| forbidden("only a sales channel places and extends holds"))
}

/// Who commits: the channel (its holds), or a store (its own lines, at the
/// counter).
fn committer(principal: &Principal) -> Result<HoldActor, AppError> {
    match principal {
        Principal::Channel { channel_id } => Ok(HoldActor::Channel(channel_id.to_string())),
        Principal::Store { store_id, .. } => Ok(HoldActor::Store(store_id.to_string())),
        Principal::Admin { .. } | Principal::Anonymous => Err(forbidden(
            "a hold is committed by its sales channel or by a store it holds at",
        )),
    }
}

/// Who releases: as [`committer`], and an admin too (any hold, every line:
/// undoing what a channel did; the event names the admin).
fn releaser(principal: &Principal) -> Result<HoldActor, AppError> {
    match principal {
        Principal::Admin { subject } => Ok(HoldActor::Admin(subject.to_string())),
        _ => committer(principal),
    }
}

/// What `principal` sees of a hold it may see: a store only its own
/// lines (the other stores' part of an order is none of its business); a
/// channel and an admin the whole hold.
pub fn seen_by(principal: &Principal, mut hold: Hold) -> Hold {
    if let Principal::Store { store_id, .. } = principal {
        hold.lines.retain(|line| line.store_id == **store_id);
    }
    hold
}

/// A keyed hold answer as the caller sees it, charged for the lines it
/// wrote beyond the `charged` ones (a replay writes nothing).
fn answer(
    state: &AppState,
    principal: &Principal,
    mut keyed: ledger::Keyed<Hold>,
    charged: usize,
    status: StatusCode,
) -> Response {
    if let (Ok(hold), false) = (&keyed.outcome, keyed.replayed) {
        let written = hold.lines.len();
        state
            .limits
            .write_items_after(principal, written.saturating_sub(charged));
    }
    keyed.outcome = keyed.outcome.map(|hold| seen_by(principal, hold));
    keyed_response(keyed, status)
}

fn ttl_ms(state: &AppState, asked: Option<u32>) -> i64 {
    i64::from(asked.unwrap_or(state.config.hold_ttl_secs)) * 1000
}

/// Hold stock for an order while the customer pays.
///
/// Every line is held or none is: the demand is summed per store and sku
/// before anything is checked. A line naming `store_id` (click and
/// collect) is taken from that store only; the others are allocated by
/// `allocation` (the stores with the most available first, or a priority
/// list; deactivated stores are passed over) and may be split across stores — the answer's lines say where
/// each unit is held. Held units stay on hand but are no longer available
/// to tills or other holds. The hold lives `ttl_seconds` (central's
/// `--hold-ttl-secs` when absent); then central releases it by itself.
#[utoipa::path(post, path = api::PlaceHold::PATH, tag = "holds",
    params(("Idempotency-Key" = shared::IdempotencyKey, Header, description = "Made once per hold by the channel; 1-128 visible ASCII characters")),
    request_body = PlaceHoldRequest,
    responses(
        (status = 201, description = "Held (or replayed)", body = Hold),
        (status = 403, description = "`forbidden`: only a sales channel holds", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`store_not_found` or `product_not_found`", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`hold_unavailable` (with `shortfalls`: what the channel could hold, and what its limits and the stores' safety stock kept from it), `channel_hold_limit` (with `channel_limit`), `hold_life_exceeded` (`ttl_seconds` past the channel's hold life; with `latest_expires_at`), `channel_inactive`, `store_inactive` (click and collect at a deactivated store), `product_inactive`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn place(
    State(state): State<AppState>,
    principal: Principal,
    IdempotencyKey(key): IdempotencyKey,
    Json(req): Json<PlaceHoldRequest>,
) -> Result<Response, AppError> {
    let channel = channel(&principal)?;
    let mut errors = Vec::new();
    validate::place_hold(&req, &mut errors);
    AppError::check_fields(errors)?;
    // The lines asked for now; the lines allocation made of them once
    // answered.
    let charged = req.lines.len();
    state.limits.write_items(&principal, charged)?;
    let ttl = ttl_ms(&state, req.ttl_seconds);
    let hold_id = format!("hold-{}", uuid::Uuid::new_v4().simple());
    let place = PlaceHold::new(channel, key, hold_id, req, ttl)?;
    let placed = state.ledger.run(place).await?;
    Ok(answer(
        &state,
        &principal,
        placed,
        charged,
        StatusCode::CREATED,
    ))
}

/// A hold, with where each line stands.
///
/// A channel reads its own holds, a store the holds with a line at it (its
/// own lines only), an admin any.
#[utoipa::path(get, path = api::GetHold::PATH, tag = "holds",
    params(("hold_id" = HoldId, Path)),
    responses(
        (status = 200, body = Hold),
        (status = 404, description = "`hold_not_found`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn hold(
    State(state): State<AppState>,
    principal: Principal,
    Path(hold_id): Path<HoldId>,
) -> Result<Json<Hold>, AppError> {
    let hold = seen_by(&principal, state.reader.hold(&hold_id).await?);
    let visible = match &principal {
        Principal::Admin { .. } => true,
        Principal::Channel { channel_id } => hold.channel == **channel_id,
        Principal::Store { .. } => !hold.lines.is_empty(),
        Principal::Anonymous => false,
    };
    if !visible {
        return Err(ledger::Refusal::HoldNotFound {
            hold_id: hold_id.into_inner(),
        }
        .into());
    }
    Ok(Json(hold))
}

/// Keep a hold longer: it now ends `ttl_seconds` from now.
///
/// A hold whose time is up (whether or not central has released it yet)
/// answers 409 `hold_expired`; one committed or released, `hold_ended`.
#[utoipa::path(post, path = api::ExtendHold::PATH, tag = "holds",
    params(
        ("hold_id" = HoldId, Path),
        ("Idempotency-Key" = shared::IdempotencyKey, Header, description = "Made once per extension"),
    ),
    request_body = ExtendHoldRequest,
    responses(
        (status = 200, body = Hold),
        (status = 403, description = "`forbidden`: only a sales channel extends", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`hold_not_found`", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`hold_expired`, `hold_ended` (with `hold_state`), `hold_life_exceeded` (past the channel's hold life from when the hold was placed; with `latest_expires_at`)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn extend(
    State(state): State<AppState>,
    principal: Principal,
    Path(hold_id): Path<HoldId>,
    IdempotencyKey(key): IdempotencyKey,
    Json(req): Json<ExtendHoldRequest>,
) -> Result<Response, AppError> {
    let channel = channel(&principal)?;
    // Each transition saves an answer under its key, as a line does; what
    // it rewrites (an event per store of the hold) is charged once known.
    state.limits.write_items(&principal, 1)?;
    let mut errors = Vec::new();
    validate::extend_hold(&req, &mut errors);
    AppError::check_fields(errors)?;
    let ttl = ttl_ms(&state, req.ttl_seconds);
    let extend = ExtendHold::new(channel, key, hold_id.into_inner(), &req, ttl)?;
    let extended = state.ledger.run(extend).await?;
    Ok(answer(&state, &principal, extended, 1, StatusCode::OK))
}

/// Hand a hold's goods over: on hand and held drop by what left.
///
/// Without `lines`, every active line the caller may touch is taken whole;
/// with them, each named line takes what it says (at most what it holds)
/// and the caller's other lines are released. A store touches only its own
/// lines (a pick-up at its counter).
#[utoipa::path(post, path = api::CommitHold::PATH, tag = "holds",
    params(
        ("hold_id" = HoldId, Path),
        ("Idempotency-Key" = shared::IdempotencyKey, Header, description = "Made once per hand-over"),
    ),
    request_body = CommitHoldRequest,
    responses(
        (status = 200, body = Hold),
        (status = 403, description = "`forbidden`: an admin does not commit", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`hold_not_found` (also another channel's hold, or one with no line at the store)", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`hold_expired`, `hold_ended`, `hold_line_not_found`, `commit_exceeds_held`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn commit(
    State(state): State<AppState>,
    principal: Principal,
    Path(hold_id): Path<HoldId>,
    IdempotencyKey(key): IdempotencyKey,
    Json(req): Json<CommitHoldRequest>,
) -> Result<Response, AppError> {
    let actor = committer(&principal)?;
    let charged = req.lines.as_ref().map_or(1, Vec::len).max(1);
    state.limits.write_items(&principal, charged)?;
    let mut errors = Vec::new();
    validate::commit_hold(&req, &mut errors);
    AppError::check_fields(errors)?;
    let commit = CommitHold::new(actor, key, hold_id.into_inner(), req)?;
    let committed = state.ledger.run(commit).await?;
    Ok(answer(
        &state,
        &principal,
        committed,
        charged,
        StatusCode::OK,
    ))
}

/// Cancel a hold: its units go back to available.
///
/// Its channel releases every line, a store its own lines, an admin any
/// hold whole (undoing what a channel did; the events name the admin).
#[utoipa::path(post, path = api::ReleaseHold::PATH, tag = "holds",
    params(
        ("hold_id" = HoldId, Path),
        ("Idempotency-Key" = shared::IdempotencyKey, Header, description = "Made once per release"),
    ),
    responses(
        (status = 200, body = Hold),
        (status = 404, description = "`hold_not_found`", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`hold_expired`, `hold_ended`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn release(
    State(state): State<AppState>,
    principal: Principal,
    Path(hold_id): Path<HoldId>,
    IdempotencyKey(key): IdempotencyKey,
) -> Result<Response, AppError> {
    let actor = releaser(&principal)?;
    state.limits.write_items(&principal, 1)?;
    let release = ReleaseHold::new(actor, key, hold_id.into_inner())?;
    let released = state.ledger.run(release).await?;
    Ok(answer(&state, &principal, released, 1, StatusCode::OK))
}

/// Available-to-sell of many skus at once, chain-wide, with each store's
/// figures (a product page, a basket), in the order first asked: a sku
/// asked twice is answered once. All are read in one transaction.
#[utoipa::path(post, path = api::CheckAvailability::PATH, tag = "holds",
    request_body = AvailabilityRequest,
    responses(
        (status = 200, body = Vec<ProductAvailability>),
        (status = 404, description = "`product_not_found`: names the first unknown sku", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn availability(
    State(state): State<AppState>,
    Json(req): Json<AvailabilityRequest>,
) -> Result<Json<Vec<ProductAvailability>>, AppError> {
    let mut errors = Vec::new();
    validate::availability(&req, &mut errors);
    AppError::check_fields(errors)?;
    Ok(Json(state.reader.availability_of(req.skus).await?))
}

/// A store's active holds: its pick-ups to hand over, soonest to expire
/// first (at most 500), each with the store's own lines only.
#[utoipa::path(get, path = api::ListPickups::PATH, tag = "holds",
    params(("store_id" = StoreId, Path)),
    responses(
        (status = 200, body = Vec<Hold>),
        (status = 403, description = "`forbidden_store` or `forbidden_channel`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`store_not_found`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn pickups(
    State(state): State<AppState>,
    principal: Principal,
    Path(store_id): Path<StoreId>,
) -> Result<Json<Vec<Hold>>, AppError> {
    principal.may_read_store(&store_id)?;
    // Each with the store's own lines only, whoever reads them.
    Ok(Json(state.reader.holds_at(&store_id, PICKUPS).await?))
}
