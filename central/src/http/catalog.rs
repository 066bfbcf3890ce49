//! Catalogue reads: products, availability across stores, the store list.

use axum::{Router, extract::State, routing::get};
use serde::Deserialize;
use shared::{Page, Problem, Product, ProductAvailability, Sku, Store};

use super::extract::{Json, PageQuery, Path, Query};
use crate::{AppState, error::AppError};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/products", get(products))
        .route("/v1/products/{sku}", get(product))
        .route("/v1/stores", get(stores))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ProductsQuery {
    /// Include deleted (inactive) products.
    #[serde(default)]
    pub include_deleted: bool,
}

/// The catalogue, by sku, cursor-paginated.
#[utoipa::path(get, path = "/v1/products", tag = "catalog",
    params(PageQuery, ProductsQuery),
    responses(
        (status = 200, body = Page<Product>),
        (status = 400, description = "Bad query", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn products(
    State(state): State<AppState>,
    Query(page): Query<PageQuery>,
    Query(filter): Query<ProductsQuery>,
) -> Result<Json<Page<Product>>, AppError> {
    let limit = page.limit(state.config.max_page)?;
    Ok(Json(
        state
            .reader
            .products(page.cursor.as_deref(), limit, filter.include_deleted)
            .await?,
    ))
}

/// A product with its availability: the chain-wide total and each store's level.
#[utoipa::path(get, path = "/v1/products/{sku}", tag = "catalog",
    params(("sku" = Sku, Path)),
    responses(
        (status = 200, body = ProductAvailability),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn product(
    State(state): State<AppState>,
    Path(sku): Path<Sku>,
) -> Result<Json<ProductAvailability>, AppError> {
    Ok(Json(state.reader.availability(&sku).await?))
}

/// Every store of the chain.
#[utoipa::path(get, path = "/v1/stores", tag = "catalog",
    responses((status = 200, body = Vec<Store>)))]
pub async fn stores(State(state): State<AppState>) -> Result<Json<Vec<Store>>, AppError> {
    Ok(Json(state.reader.stores().await?))
}
