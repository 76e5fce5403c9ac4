//! HTTP handlers of the product service.

use axum::Router;
use axum::extract::State;
use axum::routing::{get, post};
use serde::Deserialize;
use tracemart_contracts::{ErrorBody, Product, ProductBatchRequest, ProductId, ProductPage};
use tracemart_platform::ApiJson;
use tracemart_platform::json::{ApiPath, ApiQuery};
use tracemart_platform::{ServiceName, identity};
use utoipa::OpenApi;

use crate::domain::{Batch, PageRequest, parse_product_id};
use crate::error::ProductError;
use crate::store::ProductStore;

/// The contract of the product service's own routes.
#[derive(OpenApi)]
#[openapi(
    paths(list_products, get_product, batch),
    components(schemas(Product, ProductId, ProductPage, ProductBatchRequest, ErrorBody))
)]
pub struct ProductApi;

pub fn router(store: ProductStore) -> Router {
    // The batch read serves the order service's pricing, not the public catalogue.
    let batch_read = identity::restrict(
        Router::new().route("/products/batch", post(batch)),
        identity::Allow {
            services: &[ServiceName::Order],
            admin: true,
        },
    );
    Router::new()
        .route("/products", get(list_products))
        .route("/products/{product_id}", get(get_product))
        .merge(batch_read)
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
        ("limit" = Option<i64>, Query, minimum = 0, maximum = 500, description = "0 to 500, default 50"),
        ("offset" = Option<i64>, Query, minimum = 0, description = "default 0"),
        ("category" = Option<String>, Query, description = "only this category")),
    responses(
        (status = 200, description = "The page", body = ProductPage),
        (status = 400, description = "A parameter is not a number in range, or given twice", body = ErrorBody)))]
async fn list_products(
    State(store): State<ProductStore>,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<ApiJson<ProductPage>, ProductError> {
    let page = PageRequest::parse(q.limit.as_deref(), q.offset.as_deref(), q.category)?;
    let (products, total) = store.list(&page).await?;
    Ok(ApiJson(ProductPage {
        products,
        total,
        limit: page.limit,
        offset: page.offset,
    }))
}

/// A product.
#[utoipa::path(get, path = "/products/{product_id}", tag = "products",
    params(("product_id" = ProductId, Path, description = "A positive integer")),
    responses(
        (status = 200, description = "The product", body = Product),
        (status = 400, description = "Not a positive integer", body = ErrorBody),
        (status = 404, description = "No such product", body = ErrorBody)))]
async fn get_product(
    State(store): State<ProductStore>,
    ApiPath(raw): ApiPath<String>,
) -> Result<ApiJson<Product>, ProductError> {
    let id = parse_product_id(&raw)?;
    store
        .get(id)
        .await?
        .map(ApiJson)
        .ok_or(ProductError::NotFound(id))
}

/// The products of `product_ids` that exist, by id, each once (at most 1000 ids; unknown ids
/// are left out).
#[utoipa::path(post, path = "/products/batch", tag = "products", request_body = ProductBatchRequest,
    responses(
        (status = 401, description = "No token, or one that is not valid", body = ErrorBody),
        (status = 403, description = "The token's caller may not call this endpoint", body = ErrorBody),
        (status = 200, description = "The products found, by id", body = Vec<Product>),
        (status = 400, description = "Too many ids, an id that is not a positive integer, or a body that is not a JSON object", body = ErrorBody),
        (status = 413, description = "Body over 64 KiB", body = ErrorBody),
        (status = 415, description = "Not application/json", body = ErrorBody)))]
async fn batch(
    State(store): State<ProductStore>,
    ApiJson(req): ApiJson<ProductBatchRequest>,
) -> Result<ApiJson<Vec<Product>>, ProductError> {
    let batch = Batch::try_from(req)?;
    tracing::info!(products.count = batch.ids().len(), "Looking up products");
    Ok(ApiJson(store.batch(batch.ids()).await?))
}
