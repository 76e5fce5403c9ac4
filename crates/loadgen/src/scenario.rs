//! What each synthetic request is: the scenario mix, the routes, harvested order ids.

use std::fmt;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::Method;
use rand::Rng;
use rand::seq::IndexedRandom;
use serde::Serialize;

use crate::base_url::BaseUrl;
use crate::order_body::{PRODUCTS, USERS, order_body};

/// At most this many harvested order ids are kept (older ones are overwritten).
const ORDER_ID_POOL: usize = 10_000;
/// Share of browse requests that list the catalog rather than read one product.
const BROWSE_LIST_PERCENT: u32 = 20;

/// One kind of request, as reported in the per-request table and the samples.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RequestKind {
    /// `POST /orders`.
    CreateOrder,
    /// `GET /orders/{id}`.
    GetOrder,
    /// `GET /products`.
    ListProducts,
    /// `GET /products/{id}`.
    GetProduct,
    /// `GET /users/{id}`, on the user service.
    GetUser,
}

impl RequestKind {
    /// Every kind, in report order.
    pub const ALL: [Self; 5] = [
        Self::CreateOrder,
        Self::GetOrder,
        Self::ListProducts,
        Self::GetProduct,
        Self::GetUser,
    ];

    /// The route template, e.g. `GET /orders/{id}`.
    pub fn label(self) -> &'static str {
        match self {
            Self::CreateOrder => "POST /orders",
            Self::GetOrder => "GET /orders/{id}",
            Self::ListProducts => "GET /products",
            Self::GetProduct => "GET /products/{id}",
            Self::GetUser => "GET /users/{id}",
        }
    }
}

impl fmt::Display for RequestKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

impl Serialize for RequestKind {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.label())
    }
}

/// Relative weights of the mix scenario (`order=1,get=3,browse=6`, `user=2`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Mix {
    /// Weight of `POST /orders`.
    pub order: u32,
    /// Weight of `GET /orders/{id}`.
    pub get: u32,
    /// Weight of product browsing.
    pub browse: u32,
    /// Weight of `GET /users/{id}` (reading a user needs `--token`).
    #[serde(skip_serializing_if = "is_zero")]
    pub user: u32,
}

fn is_zero(weight: &u32) -> bool {
    *weight == 0
}

impl Default for Mix {
    fn default() -> Self {
        Self {
            order: 1,
            get: 3,
            browse: 6,
            user: 0,
        }
    }
}

impl Mix {
    /// Only order creation.
    pub const ORDER: Self = Self {
        order: 1,
        get: 0,
        browse: 0,
        user: 0,
    };
    /// Only order reads.
    pub const GET: Self = Self {
        order: 0,
        get: 1,
        browse: 0,
        user: 0,
    };
    /// Only product browsing.
    pub const BROWSE: Self = Self {
        order: 0,
        get: 0,
        browse: 1,
        user: 0,
    };

    /// Parses `order=1,get=3,browse=6,user=2`; missing keys weigh 0, `get-order` is an alias
    /// of `get`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut mix = Self {
            order: 0,
            get: 0,
            browse: 0,
            user: 0,
        };
        for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (key, weight) = part.split_once('=').ok_or_else(|| {
                format!("`{part}` is not key=weight (e.g. order=1,get=3,browse=6)")
            })?;
            let weight: u32 = weight
                .trim()
                .parse()
                .map_err(|_| format!("weight `{weight}` of `{key}` is not a whole number"))?;
            match key.trim() {
                "order" => mix.order = weight,
                "get" | "get-order" => mix.get = weight,
                "browse" => mix.browse = weight,
                "user" => mix.user = weight,
                other => {
                    return Err(format!(
                        "unknown mix key `{other}` (use order, get, browse, user)"
                    ));
                }
            }
        }
        if mix.total() == 0 {
            return Err("the mix needs at least one positive weight".into());
        }
        Ok(mix)
    }

    fn total(self) -> u64 {
        u64::from(self.order) + u64::from(self.get) + u64::from(self.browse) + u64::from(self.user)
    }

    /// Whether any request goes to the order service.
    pub fn uses_orders(self) -> bool {
        self.order > 0 || self.get > 0
    }

    /// Whether any request goes to the product service.
    pub fn uses_products(self) -> bool {
        self.browse > 0
    }

    /// Whether any request goes to the user service.
    pub fn uses_users(self) -> bool {
        self.user > 0
    }
}

/// A request ready to send.
#[derive(Debug, Clone)]
pub(crate) struct RequestSpec {
    /// What it is, for the report.
    pub(crate) kind: RequestKind,
    /// HTTP method.
    pub(crate) method: Method,
    /// Absolute URL.
    pub(crate) uri: String,
    /// JSON body; empty for GETs.
    pub(crate) body: Bytes,
}

/// Order ids harvested from `201 Created` answers, shared by all request tasks.
#[derive(Debug, Clone, Default)]
pub(crate) struct OrderIds(Arc<Mutex<Pool>>);

#[derive(Debug, Default)]
struct Pool {
    ids: Vec<String>,
    next: usize,
}

impl OrderIds {
    /// Remembers an id, overwriting the oldest once the pool is full.
    pub(crate) fn push(&self, id: String) {
        let Ok(mut pool) = self.0.lock() else { return };
        if pool.ids.len() < ORDER_ID_POOL {
            pool.ids.push(id);
        } else {
            let slot = pool.next;
            pool.ids[slot] = id;
            pool.next = (slot + 1) % ORDER_ID_POOL;
        }
    }

    /// A random known id, if any.
    pub(crate) fn pick(&self, rng: &mut impl Rng) -> Option<String> {
        let pool = self.0.lock().ok()?;
        pool.ids.choose(rng).cloned()
    }

    /// How many ids are known.
    pub(crate) fn len(&self) -> usize {
        self.0.lock().map(|p| p.ids.len()).unwrap_or(0)
    }

    /// Whether no id is known yet.
    pub(crate) fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Where each service the load reaches listens.
#[derive(Debug, Clone)]
pub(crate) struct Targets {
    pub(crate) orders: BaseUrl,
    pub(crate) products: BaseUrl,
    pub(crate) users: BaseUrl,
}

/// Turns the mix into a stream of concrete requests.
#[derive(Debug, Clone)]
pub(crate) struct Planner {
    mix: Mix,
    orders: BaseUrl,
    products: BaseUrl,
    users: BaseUrl,
    ids: OrderIds,
}

impl Planner {
    /// A planner over `mix`, sending order traffic to `targets.orders`, browsing to
    /// `targets.products` and user reads to `targets.users`.
    pub(crate) fn new(mix: Mix, targets: Targets, ids: OrderIds) -> Self {
        Self {
            mix,
            orders: targets.orders,
            products: targets.products,
            users: targets.users,
            ids,
        }
    }

    /// The next request; a read with no known order id becomes an order creation.
    pub(crate) fn next(&self, rng: &mut impl Rng) -> RequestSpec {
        let roll = rng.random_range(0..self.mix.total());
        let order = u64::from(self.mix.order);
        let get = order + u64::from(self.mix.get);
        let browse = get + u64::from(self.mix.browse);
        if roll >= browse {
            let id = rng.random_range(1..=USERS);
            return self.get(
                RequestKind::GetUser,
                self.users.join(&format!("/users/{id}")),
            );
        }
        if roll < order {
            self.create_order(rng)
        } else if roll < get {
            match self.ids.pick(rng) {
                Some(id) => self.get(
                    RequestKind::GetOrder,
                    self.orders.join(&format!("/orders/{id}")),
                ),
                None => self.create_order(rng),
            }
        } else if rng.random_range(0..100) < BROWSE_LIST_PERCENT {
            self.get(RequestKind::ListProducts, self.products.join("/products"))
        } else {
            let id = rng.random_range(1..=PRODUCTS);
            self.get(
                RequestKind::GetProduct,
                self.products.join(&format!("/products/{id}")),
            )
        }
    }

    /// A `POST /orders` with a fresh random body.
    pub(crate) fn create_order(&self, rng: &mut impl Rng) -> RequestSpec {
        let body = serde_json::to_vec(&order_body(rng)).unwrap_or_default();
        RequestSpec {
            kind: RequestKind::CreateOrder,
            method: Method::POST,
            uri: self.orders.join("/orders"),
            body: Bytes::from(body),
        }
    }

    fn get(&self, kind: RequestKind, uri: String) -> RequestSpec {
        RequestSpec {
            kind,
            method: Method::GET,
            uri,
            body: Bytes::new(),
        }
    }

    /// The harvested order ids this planner reads from.
    pub(crate) fn order_ids(&self) -> &OrderIds {
        &self.ids
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    use super::*;

    fn targets() -> Targets {
        Targets {
            orders: BaseUrl::parse("http://o").unwrap(),
            products: BaseUrl::parse("http://p").unwrap(),
            users: BaseUrl::parse("http://u").unwrap(),
        }
    }

    #[test]
    fn user_reads_go_to_the_user_service_with_ids_of_demo_users() {
        let planner = Planner::new(
            Mix::parse("user=1").unwrap(),
            targets(),
            OrderIds::default(),
        );
        let mut rng = StdRng::seed_from_u64(3);
        for _ in 0..200 {
            let spec = planner.next(&mut rng);
            assert_eq!(spec.kind, RequestKind::GetUser);
            let id: u64 = spec
                .uri
                .strip_prefix("http://u/users/")
                .unwrap()
                .parse()
                .unwrap();
            assert!((1..=USERS).contains(&id), "{id}");
        }
    }

    #[test]
    fn mix_parses_weights_and_rejects_nonsense() {
        assert_eq!(
            Mix::parse("order=1,get=3,browse=6"),
            Ok(Mix {
                order: 1,
                get: 3,
                browse: 6,
                user: 0
            })
        );
        assert_eq!(
            Mix::parse("get-order=2,user=1"),
            Ok(Mix {
                order: 0,
                get: 2,
                browse: 0,
                user: 1
            })
        );
        for bad in ["", "order=0", "order", "pay=1", "order=-1", "order=x"] {
            assert!(Mix::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_planner_follows_the_mix_weights() {
        let ids = OrderIds::default();
        ids.push("abc".into());
        let planner = Planner::new(
            Mix {
                order: 1,
                get: 0,
                browse: 3,
                user: 0,
            },
            targets(),
            ids,
        );
        let mut rng = StdRng::seed_from_u64(1);
        let specs: Vec<_> = (0..4000).map(|_| planner.next(&mut rng)).collect();
        let orders = specs
            .iter()
            .filter(|s| s.kind == RequestKind::CreateOrder)
            .count();
        assert!((800..1200).contains(&orders), "{orders} orders of 4000");
        assert!(specs.iter().all(|s| s.kind != RequestKind::GetOrder));
        assert!(
            specs
                .iter()
                .filter(|s| s.kind != RequestKind::CreateOrder)
                .all(|s| s.uri.starts_with("http://p/products"))
        );
    }

    #[test]
    fn reads_without_known_orders_create_one_instead() {
        let planner = Planner::new(Mix::GET, targets(), OrderIds::default());
        let mut rng = StdRng::seed_from_u64(1);
        assert_eq!(planner.next(&mut rng).kind, RequestKind::CreateOrder);
        planner.order_ids().push("o-1".into());
        assert_eq!(planner.next(&mut rng).uri, "http://o/orders/o-1");
    }
}
