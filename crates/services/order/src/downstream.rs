//! The order service's view of user, product and inventory: typed calls that turn answers
//! into domain outcomes.

use std::collections::HashMap;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use tracemart_contracts::{
    LineItem, Money, Product, ProductBatchRequest, ProductId, Reservation, ReserveRequest, User,
    UserId,
};
use tracemart_platform::{CallKind, ServiceClient};

use crate::error::OrderError;

#[derive(Clone)]
pub struct Downstream {
    pub users: ServiceClient,
    pub products: ServiceClient,
    pub inventory: ServiceClient,
    /// How long a reservation holds an unpaid order's stock (the seed: 15 minutes).
    pub reservation_ttl: Duration,
}

fn unexpected(service: &'static str, status: StatusCode) -> OrderError {
    OrderError::Downstream {
        service,
        detail: format!("unexpected status {}", status.as_u16()),
    }
}

impl Downstream {
    pub async fn user(&self, id: UserId) -> Result<User, OrderError> {
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

    /// The prices of the products among `ids` that the product service knows.
    pub async fn prices(&self, ids: &[ProductId]) -> Result<HashMap<ProductId, Money>, OrderError> {
        let req = ProductBatchRequest {
            product_ids: ids.to_vec(),
        };
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
        let found = match (reply.status, reply.body) {
            (StatusCode::OK, Some(found)) => found,
            (status, _) => return Err(unexpected(self.products.service(), status)),
        };
        found
            .into_iter()
            .map(|p| match Money::from_decimal(p.price) {
                Ok(price) => Ok((ProductId(p.id), price)),
                Err(e) => Err(OrderError::Downstream {
                    service: self.products.service(),
                    detail: format!("unreadable price of product {}: {e}", p.id),
                }),
            })
            .collect()
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
            expires_in_minutes: None,
            expires_in_seconds: Some(self.reservation_ttl.as_secs().max(1) as i64),
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

    /// Turns the reservation into a sale (idempotent: safe to retry).
    pub async fn commit(&self, reservation_id: &str) -> Result<Transition, OrderError> {
        self.transition(reservation_id, "commit", CallKind::Idempotent)
            .await
    }

    /// Gives the reservation's stock back. `kind` is [`CallKind::Compensation`] for a
    /// reservation whose answer was lost (sent even through an open circuit), else
    /// [`CallKind::Idempotent`].
    pub async fn release(
        &self,
        reservation_id: &str,
        kind: CallKind,
    ) -> Result<Transition, OrderError> {
        self.transition(reservation_id, "release", kind).await
    }

    async fn transition(
        &self,
        reservation_id: &str,
        action: &'static str,
        kind: CallKind,
    ) -> Result<Transition, OrderError> {
        let (route, path, done) = match action {
            "commit" => (
                "/inventory/reservations/{reservation_id}/commit",
                format!("/inventory/reservations/{reservation_id}/commit"),
                "committed",
            ),
            _ => (
                "/inventory/reservations/{reservation_id}/release",
                format!("/inventory/reservations/{reservation_id}/release"),
                "released",
            ),
        };
        let reply = self
            .inventory
            .call::<(), serde_json::Value>(kind, Method::POST, route, &path, None)
            .await?;
        let error = |body: Option<serde_json::Value>| {
            body.as_ref()
                .and_then(|b| b.get("error"))
                .and_then(|m| m.as_str())
                .map_or_else(
                    || format!("reservation {reservation_id} cannot be {done}"),
                    str::to_owned,
                )
        };
        match reply.status {
            s if s.is_success() => Ok(Transition::Done),
            StatusCode::CONFLICT | StatusCode::NOT_FOUND => {
                Ok(Transition::Refused(error(reply.body)))
            }
            status => Err(unexpected(self.inventory.service(), status)),
        }
    }
}

/// How inventory answered a commit or a release.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transition {
    Done,
    /// Refused: the reservation is in the other final state (or unknown); why, in its words.
    Refused(String),
}
