//! The order service's view of user, product and inventory: typed calls that turn answers
//! into domain outcomes.

use reqwest::{Method, StatusCode};
use tracemart_contracts::{
    LineItem, Product, ProductBatchRequest, Reservation, ReserveRequest, User,
};
use tracemart_platform::{CallKind, ServiceClient};

use crate::error::OrderError;

/// Minutes a reservation holds stock for an unpaid order (the seed's 15).
pub const RESERVATION_MINUTES: i64 = 15;

#[derive(Clone)]
pub struct Downstream {
    pub users: ServiceClient,
    pub products: ServiceClient,
    pub inventory: ServiceClient,
}

fn unexpected(service: &'static str, status: StatusCode) -> OrderError {
    OrderError::Downstream {
        service,
        detail: format!("unexpected status {}", status.as_u16()),
    }
}

impl Downstream {
    pub async fn user(&self, id: i64) -> Result<User, OrderError> {
        let reply = self
            .users
            .call::<(), User>(
                CallKind::Plain,
                Method::GET,
                "/users/{user_id}",
                &format!("/users/{id}"),
                None,
            )
            .await?;
        match (reply.status, reply.body) {
            (StatusCode::OK, Some(user)) => Ok(user),
            (StatusCode::NOT_FOUND, _) => Err(OrderError::UserNotFound(id)),
            (status, _) => Err(unexpected(self.users.service(), status)),
        }
    }

    pub async fn products(&self, ids: Vec<i64>) -> Result<Vec<Product>, OrderError> {
        let req = ProductBatchRequest { product_ids: ids };
        // A POST that only reads: safe to retry.
        let reply = self
            .products
            .call::<_, Vec<Product>>(
                CallKind::Idempotent,
                Method::POST,
                "/products/batch",
                "/products/batch",
                Some(&req),
            )
            .await?;
        match (reply.status, reply.body) {
            (StatusCode::OK, Some(found)) => Ok(found),
            (status, _) => Err(unexpected(self.products.service(), status)),
        }
    }

    /// Reserves under a name chosen here, so a reservation whose answer was lost can still be
    /// released.
    pub async fn reserve(
        &self,
        reservation_id: &str,
        items: &[LineItem],
    ) -> Result<Reservation, OrderError> {
        let req = ReserveRequest {
            items: items.to_vec(),
            expires_in_minutes: RESERVATION_MINUTES,
            reservation_id: Some(reservation_id.to_owned()),
        };
        // Replaying a reservation under its id holds the stock once: safe to retry.
        let reply = self
            .inventory
            .call::<_, serde_json::Value>(
                CallKind::Idempotent,
                Method::POST,
                "/inventory/reserve",
                "/inventory/reserve",
                Some(&req),
            )
            .await?;
        match (reply.status, reply.body) {
            (StatusCode::OK, Some(body)) => {
                serde_json::from_value(body).map_err(|e| OrderError::Downstream {
                    service: self.inventory.service(),
                    detail: format!("unreadable reservation: {e}"),
                })
            }
            (StatusCode::CONFLICT, body) => {
                let msg = body
                    .as_ref()
                    .and_then(|b| b.get("error"))
                    .and_then(|m| m.as_str())
                    .unwrap_or("Insufficient stock")
                    .to_owned();
                Err(OrderError::InsufficientStock(msg))
            }
            (status, _) => Err(unexpected(self.inventory.service(), status)),
        }
    }

    /// Compensation: gives the stock back. Failures are logged; the reservation then expires.
    pub async fn release(&self, reservation_id: &str) {
        let path = format!("/inventory/reservations/{reservation_id}/release");
        let result = self
            .inventory
            .call::<(), serde_json::Value>(
                CallKind::Compensation,
                Method::POST,
                "/inventory/reservations/{reservation_id}/release",
                &path,
                None,
            )
            .await;
        match result {
            Ok(r) if r.status.is_success() => {
                tracing::info!(
                    reservation.id = reservation_id,
                    "Released reservation (compensation)"
                );
            }
            Ok(r) => tracing::error!(
                reservation.id = reservation_id,
                status = r.status.as_u16(),
                "Releasing reservation failed; it will expire"
            ),
            Err(e) => {
                tracing::error!(reservation.id = reservation_id, error = %e, "Releasing reservation failed; it will expire")
            }
        }
    }
}
