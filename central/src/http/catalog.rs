//! Catalogue reads: products, availability across stores, the store list.

use axum::extract::State;
use shared::{Page, Problem, Product, ProductAvailability, Sku, Store, api};

use super::Routes;
use super::extract::{Json, Path, Query, page_limit};
use crate::{AppState, error::AppError};

pub(super) fn routes(routes: Routes) -> Routes {
    routes
        .add::<api::ListProducts, _, _>(products)
        .add::<api::GetProduct, _, _>(product)
        .add::<api::ListStores, _, _>(stores)
}

/// The catalogue, by sku, cursor-paginated.
#[utoipa::path(get, path = api::ListProducts::PATH, tag = "catalog",
    params(api::ProductsQuery),
    responses(
        (status = 200, body = Page<Product>),
        (status = 400, description = "Bad query", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn products(
    State(state): State<AppState>,
    Query(query): Query<api::ProductsQuery>,
) -> Result<Json<Page<Product>>, AppError> {
    let limit = page_limit(&query.page(), state.config.max_page)?;
    Ok(Json(
        state
            .reader
            .products(query.cursor.as_deref(), limit, query.include_deleted)
            .await?,
    ))
}

/// A product with its availability: the chain-wide total and each store's level.
#[utoipa::path(get, path = api::GetProduct::PATH, tag = "catalog",
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
#[utoipa::path(get, path = api::ListStores::PATH, tag = "catalog",
    responses((status = 200, body = Vec<Store>)))]
pub async fn stores(State(state): State<AppState>) -> Result<Json<Vec<Store>>, AppError> {
    Ok(Json(state.reader.stores().await?))
}
