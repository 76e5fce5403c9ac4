//! Methods, route templates and server span names as `&'static str`, so that metric labels and
//! span names cost no allocation per request.
//!
//! Only bounded sets are interned: the standard methods and the route templates of the routers
//! (axum's `MatchedPath`, never a raw path), and their pairs. Each distinct string is leaked
//! once, on the first request that uses it.

use std::collections::{HashMap, HashSet};
use std::sync::{LazyLock, PoisonError, RwLock};

use http::Method;

static ROUTES: LazyLock<RwLock<HashSet<&'static str>>> = LazyLock::new(Default::default);
static SPAN_NAMES: LazyLock<RwLock<HashMap<(&'static str, &'static str), &'static str>>> =
    LazyLock::new(Default::default);

/// The standard methods' names; `None` for extension methods, which are not interned.
pub(crate) fn method(m: &Method) -> Option<&'static str> {
    Some(match *m {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        Method::CONNECT => "CONNECT",
        Method::TRACE => "TRACE",
        _ => return None,
    })
}

/// The interned copy of a route template.
pub(crate) fn route(template: &str) -> &'static str {
    if let Some(s) = ROUTES
        .read()
        .unwrap_or_else(PoisonError::into_inner)
        .get(template)
    {
        return s;
    }
    let mut routes = ROUTES.write().unwrap_or_else(PoisonError::into_inner);
    if let Some(s) = routes.get(template) {
        return s;
    }
    let s: &'static str = Box::leak(template.into());
    routes.insert(s);
    s
}

/// `"{method} {route}"`, the server span's name, interned.
pub(crate) fn span_name(method: &'static str, route: &'static str) -> &'static str {
    if let Some(s) = SPAN_NAMES
        .read()
        .unwrap_or_else(PoisonError::into_inner)
        .get(&(method, route))
    {
        return s;
    }
    SPAN_NAMES
        .write()
        .unwrap_or_else(PoisonError::into_inner)
        .entry((method, route))
        .or_insert_with(|| Box::leak(format!("{method} {route}").into_boxed_str()))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_same_text_gives_the_same_string_once() {
        let a = route(&String::from("/orders/{order_id}"));
        let b = route(&String::from("/orders/{order_id}"));
        assert_eq!(a, "/orders/{order_id}");
        assert!(std::ptr::eq(a, b));
        let name = span_name("GET", a);
        assert_eq!(name, "GET /orders/{order_id}");
        assert!(std::ptr::eq(name, span_name("GET", b)));
        assert_eq!(method(&Method::PATCH), Some("PATCH"));
        assert_eq!(method(&Method::from_bytes(b"PROPFIND").unwrap()), None);
    }
}
