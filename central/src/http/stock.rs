//! Store stock: adjustments (single and batch) and level reads.

use std::collections::HashSet;

use axum::{
    extract::State,
    http::{HeaderValue, StatusCode},
    response::{IntoResponse, Response},
};
use shared::{
    AdjustRequest, AdjustResult, BatchAdjustRequest, BatchAdjustResponse, BatchItemResult,
    ErrorCode, FieldError, Page, Problem, Sku, StockLevel, StoreId, api, validate,
};

use ledger::{
    Keyed, Writer,
    cmd::{Adjust, Batch},
};

use super::Routes;
use super::extract::{IdempotencyKey, Json, Path, Query, page_limit};
use crate::{
    AppState,
    auth::Principal,
    error::{AppError, problem_response, refusal_problem},
    observability,
};

pub(super) fn routes(routes: Routes) -> Routes {
    routes
        .add::<api::AdjustStock, _, _>(adjust)
        .add::<api::AdjustStockBatch, _, _>(batch)
        .add::<api::ListLevels, _, _>(levels)
        .add::<api::GetLevel, _, _>(level)
}

/// The write's store, and the enrolled device making it (recorded in the
/// event), as the caller's credential proved.
fn writer(principal: &Principal, store_id: StoreId) -> Writer {
    Writer {
        store_id: store_id.into(),
        device_id: principal.device_id().map(str::to_owned),
    }
}

/// Set on an answer that was saved earlier under the same idempotency key.
pub const REPLAYED_HEADER: &str = "idempotent-replayed";

/// Adjust one level.
///
/// Guarded adjustments never take a level below zero (409
/// `insufficient_stock`); recorded facts always apply and raise a
/// `discrepancy` event if they do. A replay of the same key and payload gets
/// the saved answer, status included, and applies nothing.
#[utoipa::path(post, path = api::AdjustStock::PATH, tag = "stock",
    params(
        ("store_id" = StoreId, Path, description = "Store id"),
        ("Idempotency-Key" = shared::IdempotencyKey, Header, description = "Made once per write by the client; 1-128 visible ASCII characters"),
    ),
    request_body = AdjustRequest,
    responses(
        (status = 200, description = "Applied (or replayed)", body = AdjustResult),
        (status = 404, description = "`store_not_found` or `product_not_found`", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`insufficient_stock`, `level_out_of_range` or `version_conflict` (with the current level), `product_inactive`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn adjust(
    State(state): State<AppState>,
    principal: Principal,
    Path(store_id): Path<StoreId>,
    IdempotencyKey(key): IdempotencyKey,
    Json(req): Json<AdjustRequest>,
) -> Result<Response, AppError> {
    observability::record_target(&store_id, Some(&req.sku));
    principal.may_write_store(&store_id)?;
    let mut errors = Vec::new();
    validate::adjust("", &req, &mut errors);
    AppError::check_fields(errors)?;
    state.limits.write_items(&principal, 1)?;
    let writer = writer(&principal, store_id);
    let adjusted = state.ledger.run(Adjust::new(writer, key, req)?).await?;
    observability::adjustment(&adjusted);
    Ok(keyed_response(adjusted, StatusCode::OK))
}

/// A keyed write's answer: its result with `ok` as status, or its refusal
/// as a problem; marked when it was a replay of a saved answer.
pub fn keyed_response<T: serde::Serialize>(keyed: Keyed<T>, ok: StatusCode) -> Response {
    let mut response = match keyed.outcome {
        Ok(result) => (ok, Json(result)).into_response(),
        Err(refusal) => problem_response(&refusal_problem(&refusal)),
    };
    if keyed.replayed {
        response
            .headers_mut()
            .insert(REPLAYED_HEADER, HeaderValue::from_static("true"));
    }
    response
}

/// Adjust many levels of one store.
///
/// Each item has its own idempotency key and gets its own answer (`status`
/// plus `result` or `problem`), exactly what a single call would answer. With
/// `atomic: true` the items are a basket: all apply or none does, and the
/// items that would have passed answer 424 `batch_aborted`.
#[utoipa::path(post, path = api::AdjustStockBatch::PATH, tag = "stock",
    params(("store_id" = StoreId, Path, description = "Store id")),
    request_body = BatchAdjustRequest,
    responses(
        (status = 200, description = "Per-item results", body = BatchAdjustResponse),
        (status = 422, description = "Invalid items, `batch_too_large`, or `idempotency_key_reused`: two lines share a key (nothing applied)", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn batch(
    State(state): State<AppState>,
    principal: Principal,
    Path(store_id): Path<StoreId>,
    Json(req): Json<BatchAdjustRequest>,
) -> Result<Json<BatchAdjustResponse>, AppError> {
    observability::record_target(&store_id, None);
    principal.may_write_store(&store_id)?;
    let max = state.config.max_batch_items;
    if req.items.len() > max {
        return Err(AppError::invalid(
            StatusCode::UNPROCESSABLE_ENTITY,
            ErrorCode::BatchTooLarge,
            format!("{} items; at most {max} per batch", req.items.len()),
        ));
    }
    let mut errors = Vec::new();
    if req.items.is_empty() {
        errors.push(FieldError::new("items", "at least one item"));
    }
    let mut keys = HashSet::new();
    let mut repeated = Vec::new();
    for (i, item) in req.items.iter().enumerate() {
        let prefix = format!("items[{i}].");
        if let Err(message) = validate::idempotency_key(&item.idempotency_key) {
            errors.push(FieldError::new(format!("{prefix}idempotency_key"), message));
        } else if !keys.insert(item.idempotency_key.as_str()) {
            repeated.push(FieldError::new(
                format!("{prefix}idempotency_key"),
                "used by another item of this batch",
            ));
        }
        validate::adjust(&prefix, &item.request(), &mut errors);
    }
    AppError::check_fields(errors)?;
    // Well formed, but each line's key must name that line alone: a key
    // two lines share is a key used for another request (422, as the IETF
    // Idempotency-Key draft answers one), refused before anything is
    // applied or saved.
    if !repeated.is_empty() {
        return Err(AppError::Invalid {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            code: ErrorCode::IdempotencyKeyReused,
            detail: "two lines of the batch share an idempotency key".into(),
            errors: repeated,
        });
    }
    // Each line is a saved answer, refused or not: it costs one.
    state.limits.write_items(&principal, req.items.len())?;
    let batch = Batch::new(writer(&principal, store_id), req)?;
    let outcome = state.ledger.run(batch).await?;
    let results = outcome
        .items
        .into_iter()
        .map(|(idempotency_key, adjusted)| {
            observability::adjustment(&adjusted);
            match adjusted.outcome {
                Ok(result) => BatchItemResult {
                    idempotency_key,
                    status: 200,
                    result: Some(result),
                    problem: None,
                },
                Err(refusal) => {
                    let problem = refusal_problem(&refusal);
                    BatchItemResult {
                        idempotency_key,
                        status: problem.status,
                        result: None,
                        problem: Some(problem),
                    }
                }
            }
        })
        .collect();
    Ok(Json(BatchAdjustResponse {
        atomic: outcome.atomic,
        committed: outcome.committed,
        results,
    }))
}

/// One level. A level never written reads as 0 at version 0.
#[utoipa::path(get, path = api::GetLevel::PATH, tag = "stock",
    params(("store_id" = StoreId, Path), ("sku" = Sku, Path)),
    responses(
        (status = 200, body = StockLevel),
        (status = 404, description = "Unknown store or product", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn level(
    State(state): State<AppState>,
    Path((store_id, sku)): Path<(StoreId, Sku)>,
) -> Result<Json<StockLevel>, AppError> {
    Ok(Json(state.reader.level(&store_id, &sku).await?))
}

/// All levels of a store, by sku, cursor-paginated.
#[utoipa::path(get, path = api::ListLevels::PATH, tag = "stock",
    params(("store_id" = StoreId, Path), api::PageQuery),
    responses(
        (status = 200, body = Page<StockLevel>),
        (status = 400, description = "Bad `limit`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Unknown store", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn levels(
    State(state): State<AppState>,
    Path(store_id): Path<StoreId>,
    Query(page): Query<api::PageQuery>,
) -> Result<Json<Page<StockLevel>>, AppError> {
    let limit = page_limit(&page, state.config.max_page)?;
    Ok(Json(
        state
            .reader
            .levels(&store_id, page.cursor.as_deref(), limit)
            .await?,
    ))
}
