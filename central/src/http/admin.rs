//! Admin writes: catalogue, stores, stocktakes, retention. Every one is an
//! event in the change log. (Admin authentication comes with the auth module.)

use axum::{extract::State, http::StatusCode};
use shared::{
    Device, DeviceId, NewProduct, NewStore, Problem, Product, ProductUpdate, PruneReport,
    SafetyStock, SetStockRequest, SetStockResult, Sku, Store, StoreCredentials, StoreId,
    StoreStatus, api, validate,
};

use super::Routes;
use super::extract::{Json, Path};
use crate::{
    AppState,
    auth::{generate_secret, hash_generated},
    error::AppError,
};
use ledger::cmd::{
    CreateProduct, CreateStore, DeleteProduct, Prune, RevokeDevice, RotateSecret, SetSafetyStock,
    SetStock, SetStoreActive, UpdateProduct,
};

pub(super) fn routes(routes: Routes) -> Routes {
    routes
        .add::<api::CreateProduct, _, _>(create_product)
        .add::<api::UpdateProduct, _, _>(update_product)
        .add::<api::DeleteProduct, _, _>(delete_product)
        .add::<api::CreateStore, _, _>(create_store)
        .add::<api::ListStoreStatuses, _, _>(list_stores)
        .add::<api::DeactivateStore, _, _>(deactivate_store)
        .add::<api::ActivateStore, _, _>(activate_store)
        .add::<api::RotateStoreSecret, _, _>(rotate_secret)
        .add::<api::SetSafetyStock, _, _>(set_safety_stock)
        .add::<api::SetStock, _, _>(set_stock)
        .add::<api::ListDevices, _, _>(list_devices)
        .add::<api::RevokeDevice, _, _>(revoke_device)
        .add::<api::PruneLog, _, _>(prune)
}

/// Create a product (version 1, active).
#[utoipa::path(post, path = api::CreateProduct::PATH, tag = "admin",
    request_body = NewProduct,
    responses(
        (status = 201, body = Product),
        (status = 409, description = "`product_exists`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn create_product(
    State(state): State<AppState>,
    Json(new): Json<NewProduct>,
) -> Result<(StatusCode, Json<Product>), AppError> {
    let mut errors = Vec::new();
    validate::new_product(&new, &mut errors);
    AppError::check_fields(errors)?;
    let product = state.ledger.run(CreateProduct(new)).await??;
    Ok((StatusCode::CREATED, Json(product)))
}

/// Change a product's name or price; with `expected_version`, only if it did not move.
#[utoipa::path(patch, path = api::UpdateProduct::PATH, tag = "admin",
    params(("sku" = Sku, Path)),
    request_body = ProductUpdate,
    responses(
        (status = 200, body = Product),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`version_conflict` (with `current_product`) or `product_inactive`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn update_product(
    State(state): State<AppState>,
    Path(sku): Path<Sku>,
    Json(update): Json<ProductUpdate>,
) -> Result<Json<Product>, AppError> {
    let mut errors = Vec::new();
    if let Some(name) = &update.name {
        validate::product_name("name", name, &mut errors);
    }
    if let Some(price) = update.price_cents {
        validate::price("price_cents", price, &mut errors);
    }
    AppError::check_fields(errors)?;
    Ok(Json(
        state
            .ledger
            .run(UpdateProduct {
                sku: sku.into(),
                update,
            })
            .await??,
    ))
}

/// Delete a product: it stays, inactive, with its history. Deleting again changes nothing.
#[utoipa::path(delete, path = api::DeleteProduct::PATH, tag = "admin",
    params(("sku" = Sku, Path)),
    responses(
        (status = 200, body = Product),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn delete_product(
    State(state): State<AppState>,
    Path(sku): Path<Sku>,
) -> Result<Json<Product>, AppError> {
    Ok(Json(state.ledger.run(DeleteProduct(sku.into())).await??))
}

/// Register a store. The answer holds its client secret: the only time
/// central shows it (it keeps a salted hash).
#[utoipa::path(post, path = api::CreateStore::PATH, tag = "admin",
    request_body = NewStore,
    responses(
        (status = 201, body = StoreCredentials),
        (status = 409, description = "`store_exists`", body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn create_store(
    State(state): State<AppState>,
    Json(mut new): Json<NewStore>,
) -> Result<(StatusCode, Json<StoreCredentials>), AppError> {
    let mut errors = Vec::new();
    validate::new_store(&new, &mut errors);
    AppError::check_fields(errors)?;
    let (secret, hash) = state.auth.hashing.secret(new.client_secret.take()).await?;
    let store = state
        .ledger
        .run(CreateStore {
            new,
            secret_hash: hash,
        })
        .await??;
    Ok((
        StatusCode::CREATED,
        Json(StoreCredentials {
            client_id: store.store_id.clone(),
            store,
            client_secret: secret,
        }),
    ))
}

/// Every store, with how far its replica follows the change log.
#[utoipa::path(get, path = api::ListStoreStatuses::PATH, tag = "admin",
    responses((status = 200, body = Vec<StoreStatus>)))]
pub async fn list_stores(
    State(state): State<AppState>,
) -> Result<Json<Vec<StoreStatus>>, AppError> {
    let head = state.notifier.head();
    let stores = state.reader.stores().await?;
    Ok(Json(
        stores
            .into_iter()
            .map(|store| StoreStatus {
                replication: state.positions.get(&store.store_id, head),
                store,
            })
            .collect(),
    ))
}

/// Deactivate a store: its tokens stop working and it cannot sign in.
#[utoipa::path(post, path = api::DeactivateStore::PATH, tag = "admin",
    params(("store_id" = StoreId, Path)),
    responses(
        (status = 200, body = Store),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn deactivate_store(
    State(state): State<AppState>,
    Path(store_id): Path<StoreId>,
) -> Result<Json<Store>, AppError> {
    Ok(Json(
        state
            .ledger
            .run(SetStoreActive {
                store_id: store_id.into(),
                active: false,
            })
            .await??,
    ))
}

/// Activate a store again (it signs in anew).
#[utoipa::path(post, path = api::ActivateStore::PATH, tag = "admin",
    params(("store_id" = StoreId, Path)),
    responses(
        (status = 200, body = Store),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn activate_store(
    State(state): State<AppState>,
    Path(store_id): Path<StoreId>,
) -> Result<Json<Store>, AppError> {
    Ok(Json(
        state
            .ledger
            .run(SetStoreActive {
                store_id: store_id.into(),
                active: true,
            })
            .await??,
    ))
}

/// Give a store a new secret; the old one and every token issued with it
/// stop working at once.
#[utoipa::path(post, path = api::RotateStoreSecret::PATH, tag = "admin",
    params(("store_id" = StoreId, Path)),
    responses(
        (status = 200, body = StoreCredentials),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn rotate_secret(
    State(state): State<AppState>,
    Path(store_id): Path<StoreId>,
) -> Result<Json<StoreCredentials>, AppError> {
    let secret = generate_secret();
    let hash = hash_generated(&secret);
    let store = state
        .ledger
        .run(RotateSecret {
            store_id: store_id.into(),
            secret_hash: hash,
        })
        .await??;
    Ok(Json(StoreCredentials {
        client_id: store.store_id.clone(),
        store,
        client_secret: secret,
    }))
}

/// Set a store's safety stock: units of each of its levels that no sales
/// channel may hold, so they stay on sale at its tills. Holds placed
/// before keep what they hold.
#[utoipa::path(put, path = api::SetSafetyStock::PATH, tag = "admin",
    params(("store_id" = StoreId, Path)),
    request_body = SafetyStock,
    responses(
        (status = 200, body = Store),
        (status = 404, description = "`store_not_found`", body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn set_safety_stock(
    State(state): State<AppState>,
    Path(store_id): Path<StoreId>,
    Json(safety): Json<SafetyStock>,
) -> Result<Json<Store>, AppError> {
    let mut errors = Vec::new();
    validate::safety_stock(&safety, &mut errors);
    AppError::check_fields(errors)?;
    let set = SetSafetyStock {
        store_id: store_id.into(),
        units: safety.units,
    };
    Ok(Json(state.ledger.run(set).await??))
}

/// A store's devices (tills), enrolled and revoked, oldest first. At most
/// as many are enrolled as `--max-devices-per-store`; revoked ones stay
/// listed, as the events they made still name them.
#[utoipa::path(get, path = api::ListDevices::PATH, tag = "admin",
    params(("store_id" = StoreId, Path)),
    responses(
        (status = 200, body = Vec<Device>),
        (status = 404, description = "`store_not_found`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn list_devices(
    State(state): State<AppState>,
    Path(store_id): Path<StoreId>,
) -> Result<Json<Vec<Device>>, AppError> {
    Ok(Json(state.reader.devices_of(&store_id).await?))
}

/// Revoke a device: its credential and every token it holds stop working
/// at once; the store's secret and other devices are untouched. What it
/// recorded stays. Revoking a revoked device answers it as it is.
#[utoipa::path(post, path = api::RevokeDevice::PATH, tag = "admin",
    params(("device_id" = DeviceId, Path)),
    responses(
        (status = 200, body = Device),
        (status = 404, description = "`device_not_found`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn revoke_device(
    State(state): State<AppState>,
    Path(device_id): Path<DeviceId>,
) -> Result<Json<Device>, AppError> {
    Ok(Json(
        state.ledger.run(RevokeDevice(device_id.into())).await??,
    ))
}

/// Stocktake: set a level to the counted figure.
#[utoipa::path(put, path = api::SetStock::PATH, tag = "admin",
    params(("store_id" = StoreId, Path), ("sku" = Sku, Path)),
    request_body = SetStockRequest,
    responses(
        (status = 200, body = SetStockResult),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`version_conflict`", body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn set_stock(
    State(state): State<AppState>,
    Path((store_id, sku)): Path<(StoreId, Sku)>,
    Json(req): Json<SetStockRequest>,
) -> Result<Json<SetStockResult>, AppError> {
    let mut errors = Vec::new();
    validate::set_stock(req.on_hand, req.reason.as_deref(), &mut errors);
    AppError::check_fields(errors)?;
    Ok(Json(
        state
            .ledger
            .run(SetStock {
                store_id: store_id.into(),
                sku: sku.into(),
                req,
            })
            .await??,
    ))
}

/// Run retention now (it also runs on a timer): prune old events and
/// expired idempotency keys.
#[utoipa::path(post, path = api::PruneLog::PATH, tag = "admin",
    responses((status = 200, body = PruneReport)))]
pub async fn prune(State(state): State<AppState>) -> Result<Json<PruneReport>, AppError> {
    Ok(Json(
        state.ledger.run(Prune(state.config.prune_policy())).await?,
    ))
}
