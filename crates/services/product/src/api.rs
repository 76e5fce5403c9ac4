//! HTTP handlers of the product service.

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::routing::{get, post};
use serde::Deserialize;
use tracemart_contracts::{Product, ProductBatchRequest};
use tracemart_platform::{ApiError, ApiJson, parse_id, parse_query_int};

use crate::store::ProductStore;

/// Most ids one batch may ask for.
const MAX_BATCH: usize = 1000;
const MAX_PAGE: i64 = 500;

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

async fn list_products(
    State(store): State<ProductStore>,
    Query(q): Query<ListQuery>,
) -> Result<ApiJson<serde_json::Value>, ApiError> {
    let limit = parse_query_int(q.limit.as_deref(), "limit", 50, 0..=MAX_PAGE)?;
    let offset = parse_query_int(q.offset.as_deref(), "offset", 0, 0..=i64::MAX)?;
    let (products, total) = store.list(q.category.as_deref(), limit, offset)?;
    Ok(ApiJson(serde_json::json!({
        "products": products,
        "total": total,
        "limit": limit,
        "offset": offset,
    })))
}

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
