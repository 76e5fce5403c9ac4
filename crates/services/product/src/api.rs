//! HTTP handlers of the product service.

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::routing::{get, post};
use serde::Deserialize;
use tracemart_contracts::{ErrorBody, Product, ProductBatchRequest, ProductPage};
use tracemart_platform::{ApiError, ApiJson, parse_id, parse_query_int};
use utoipa::OpenApi;

use crate::store::ProductStore;

/// Most ids one batch may ask for.
const MAX_BATCH: usize = 1000;
const MAX_PAGE: i64 = 500;

/// The contract of the product service's own routes.
#[derive(OpenApi)]
#[openapi(
    paths(list_products, get_product, batch),
    components(schemas(Product, ProductPage, ProductBatchRequest, ErrorBody))
)]
pub struct ProductApi;

pub fn router(store: ProductStore) -> Router {
    Router::new()
        .route("/products", get(list_products))
        .route("/products/batch", post(batch))
        .route("/products/{product_id}", get(get_product))
        .with_state(store)
}

#[derive(Deserialize)]
struct ListQuery {
    limit: Option<String>,
    offset: Option<String>,
    category: Option<String>,
}

/// A page of the catalogue, optionally of one category.
#[utoipa::path(get, path = "/products", tag = "products",
    params(
        ("limit" = Option<i64>, Query, description = "0 to 500, default 50"),
        ("offset" = Option<i64>, Query, description = "default 0"),
        ("category" = Option<String>, Query, description = "only this category")),
    responses(
        (status = 200, description = "The page", body = ProductPage),
        (status = 400, description = "A parameter is not a number in range", body = ErrorBody)))]
async fn list_products(
    State(store): State<ProductStore>,
    Query(q): Query<ListQuery>,
) -> Result<ApiJson<ProductPage>, ApiError> {
    let limit = parse_query_int(q.limit.as_deref(), "limit", 50, 0..=MAX_PAGE)?;
    let offset = parse_query_int(q.offset.as_deref(), "offset", 0, 0..=i64::MAX)?;
    let (products, total) = store.list(q.category.as_deref(), limit, offset)?;
    Ok(ApiJson(ProductPage {
        products,
        total,
        limit,
        offset,
    }))
}

/// A product.
#[utoipa::path(get, path = "/products/{product_id}", tag = "products",
    params(("product_id" = i64, Path, description = "A positive integer")),
    responses(
        (status = 200, description = "The product", body = Product),
        (status = 400, description = "Not a positive integer", body = ErrorBody),
        (status = 404, description = "No such product", body = ErrorBody)))]
async fn get_product(
    State(store): State<ProductStore>,
    Path(raw): Path<String>,
) -> Result<ApiJson<Product>, ApiError> {
    let id = parse_id(&raw, "product")?;
    store
        .get(id)?
        .map(ApiJson)
        .ok_or_else(|| ApiError::not_found("product_not_found", format!("Product not found: {id}")))
}

/// The products of `product_ids` that exist (at most 1000 ids; unknown ids are left out).
#[utoipa::path(post, path = "/products/batch", tag = "products", request_body = ProductBatchRequest,
    responses(
        (status = 200, description = "The products found, by id", body = Vec<Product>),
        (status = 400, description = "Too many ids, or a malformed body", body = ErrorBody)))]
async fn batch(
    State(store): State<ProductStore>,
    ApiJson(req): ApiJson<ProductBatchRequest>,
) -> Result<ApiJson<Vec<Product>>, ApiError> {
    if req.product_ids.len() > MAX_BATCH {
        return Err(ApiError::bad_request(
            "invalid_field",
            format!("product_ids may hold at most {MAX_BATCH} ids"),
        ));
    }
    let mut ids = req.product_ids;
    ids.sort_unstable();
    ids.dedup();
    tracing::info!(products.count = ids.len(), "Looking up products");
    Ok(ApiJson(store.batch(&ids)?))
}
