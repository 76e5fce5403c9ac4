//! The inventory service's bodies and parameters as its OpenAPI document states them, bounds
//! included. The handlers read [`tracemart_contracts::ReserveRequest`] and check the same
//! bounds in `domain.rs`; these types only describe them.

use tracemart_contracts::ProductId;
use utoipa::openapi::schema::{AllOfBuilder, AnyOfBuilder, ObjectBuilder, Type};
use utoipa::openapi::{RefOr, Schema};
use utoipa::{PartialSchema, ToSchema};

/// The fields of `POST /inventory/reserve`.
#[derive(ToSchema)]
#[allow(dead_code)] // documentation only
struct ReserveFields {
    /// 1 to 100 lines; a repeated product's quantities are added up.
    #[schema(min_items = 1, max_items = 100)]
    items: Vec<ReserveLine>,
    /// How long to hold the stock, 1 s to a day; wins over `expires_in_minutes`.
    #[schema(minimum = 1, maximum = 86400)]
    expires_in_seconds: Option<i64>,
    /// How long to hold the stock, 1 to 1440 minutes.
    #[schema(minimum = 1, maximum = 1440)]
    expires_in_minutes: Option<i64>,
    /// The caller's name for the reservation (a new UUID if absent): replaying it holds once,
    /// and releasing it first refuses it.
    #[schema(pattern = "^[A-Za-z0-9-]{1,64}$")]
    reservation_id: Option<String>,
}

/// One line of a reservation.
#[derive(ToSchema)]
#[allow(dead_code)] // documentation only
pub(crate) struct ReserveLine {
    product_id: ProductId,
    /// 1 to 1,000,000 units.
    #[schema(minimum = 1, maximum = 1_000_000)]
    quantity: i64,
}

/// `POST /inventory/reserve`: the fields, with `expires_in_seconds` or `expires_in_minutes`
/// given (not null).
pub(crate) struct ReserveBody;

impl PartialSchema for ReserveBody {
    fn schema() -> RefOr<Schema> {
        let given = |field: &str| {
            ObjectBuilder::new()
                .property(field, ObjectBuilder::new().schema_type(Type::Integer))
                .required(field)
        };
        AllOfBuilder::new()
            .item(ReserveFields::schema())
            .item(
                AnyOfBuilder::new()
                    .item(given("expires_in_seconds"))
                    .item(given("expires_in_minutes")),
            )
            .into()
    }
}

impl ToSchema for ReserveBody {}

/// A reservation's id in a path: 1 to 64 letters, digits or `-`.
pub(crate) struct ReservationIdParam;

impl PartialSchema for ReservationIdParam {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .pattern(Some("^[A-Za-z0-9-]{1,64}$"))
            .description(Some("1 to 64 letters, digits or `-`."))
            .into()
    }
}

impl ToSchema for ReservationIdParam {}
