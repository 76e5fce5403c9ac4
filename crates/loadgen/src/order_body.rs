//! Realistic `POST /orders` bodies: many users, distinct products, Korean addresses.

use rand::Rng;
use rand::seq::IndexedRandom;
use serde::Serialize;

/// Users the order scenario buys for: `1..=USERS`.
pub const USERS: u64 = 1000;
/// Products the order and browse scenarios touch: `1..=PRODUCTS`.
pub const PRODUCTS: u64 = 100;

const CITIES: [&str; 8] = [
    "Seoul", "Busan", "Incheon", "Daegu", "Daejeon", "Gwangju", "Suwon", "Ulsan",
];
const STREETS: [&str; 8] = [
    "Teheran-ro",
    "Sejong-daero",
    "Haeundae-ro",
    "Gangnam-daero",
    "Dongseong-ro",
    "Jungang-ro",
    "Olympic-ro",
    "Eulji-ro",
];

/// The `POST /orders` body, as the order service's contract expects it.
#[derive(Debug, Clone, Serialize)]
pub struct OrderBody {
    /// `1..=1000`.
    pub user_id: u64,
    /// One to three distinct products.
    pub items: Vec<OrderItem>,
    /// A Korean address.
    pub shipping_address: ShippingAddress,
}

/// One line of an order.
#[derive(Debug, Clone, Serialize)]
pub struct OrderItem {
    /// `1..=100`.
    pub product_id: u64,
    /// `1..=3`.
    pub quantity: u32,
}

/// The shipping address of an order.
#[derive(Debug, Clone, Serialize)]
pub struct ShippingAddress {
    /// A Korean city.
    pub city: String,
    /// Always `KR`.
    pub country: String,
    /// Street number and name.
    pub street: String,
}

/// A random but realistic order: spread over many users and products.
pub fn order_body(rng: &mut impl Rng) -> OrderBody {
    let lines = rng.random_range(1..=3);
    let products = rand::seq::index::sample(rng, PRODUCTS as usize, lines);
    let items = products
        .into_iter()
        .map(|index| OrderItem {
            product_id: index as u64 + 1,
            quantity: rng.random_range(1..=3),
        })
        .collect();
    let city = CITIES.choose(rng).copied().unwrap_or("Seoul");
    let street = STREETS.choose(rng).copied().unwrap_or("Teheran-ro");
    OrderBody {
        user_id: rng.random_range(1..=USERS),
        items,
        shipping_address: ShippingAddress {
            city: city.to_owned(),
            country: "KR".to_owned(),
            street: format!("{} {street}", rng.random_range(1..=999)),
        },
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use rand::SeedableRng;
    use rand::rngs::StdRng;

    use super::*;

    #[test]
    fn order_bodies_stay_within_the_catalog_and_user_range() {
        let mut rng = StdRng::seed_from_u64(7);
        let mut users = HashSet::new();
        for _ in 0..2000 {
            let body = order_body(&mut rng);
            assert!((1..=USERS).contains(&body.user_id));
            assert!((1..=3).contains(&body.items.len()));
            let distinct: HashSet<_> = body.items.iter().map(|i| i.product_id).collect();
            assert_eq!(
                distinct.len(),
                body.items.len(),
                "duplicate product in {body:?}"
            );
            for item in &body.items {
                assert!((1..=PRODUCTS).contains(&item.product_id));
                assert!((1..=3).contains(&item.quantity));
            }
            assert_eq!(body.shipping_address.country, "KR");
            users.insert(body.user_id);
        }
        assert!(users.len() > 500, "bodies should spread over many users");
    }
}
