//! The product service's domain: a page of the catalogue and a batch of ids, parsed once from
//! the request, and product ids.

use tracemart_contracts::{ProductBatchRequest, ProductId};

use crate::error::ProductError;

/// Most ids one batch may ask for.
pub(crate) const MAX_BATCH: usize = 1000;
/// Most products one page holds, and how many it holds when not asked.
pub(crate) const MAX_PAGE: i64 = 500;
pub(crate) const DEFAULT_PAGE: i64 = 50;

/// Which page of the catalogue: `limit` 0 to 500 (default 50), `offset` 0 or more, and
/// optionally one category.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PageRequest {
    pub(crate) limit: i64,
    pub(crate) offset: i64,
    pub(crate) category: Option<String>,
}

impl PageRequest {
    /// The page the query parameters ask for (each absent one at its default).
    pub(crate) fn parse(
        limit: Option<&str>,
        offset: Option<&str>,
        category: Option<String>,
    ) -> Result<Self, ProductError> {
        Ok(Self {
            limit: bounded(limit, "limit", DEFAULT_PAGE, 0, MAX_PAGE)?,
            offset: bounded(offset, "offset", 0, 0, i64::MAX)?,
            category,
        })
    }
}

/// An integer query parameter from `min` to `max`; absent means `default`.
fn bounded(
    raw: Option<&str>,
    name: &str,
    default: i64,
    min: i64,
    max: i64,
) -> Result<i64, ProductError> {
    let Some(raw) = raw else { return Ok(default) };
    raw.parse::<i64>()
        .ok()
        .filter(|n| (min..=max).contains(n))
        .ok_or_else(|| {
            ProductError::InvalidQuery(format!("{name} must be an integer from {min} to {max}"))
        })
}

/// The ids of a batch: at most [`MAX_BATCH`], sorted, each once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Batch(Vec<ProductId>);

impl TryFrom<ProductBatchRequest> for Batch {
    type Error = ProductError;

    fn try_from(req: ProductBatchRequest) -> Result<Self, ProductError> {
        if req.product_ids.len() > MAX_BATCH {
            return Err(ProductError::InvalidField(format!(
                "product_ids may hold at most {MAX_BATCH} ids"
            )));
        }
        let mut ids = req.product_ids;
        ids.sort_unstable();
        ids.dedup();
        Ok(Self(ids))
    }
}

impl Batch {
    pub(crate) fn ids(&self) -> &[ProductId] {
        &self.0
    }
}

/// A product id from a path: a positive integer, else 400.
pub(crate) fn parse_product_id(raw: &str) -> Result<ProductId, ProductError> {
    ProductId::parse(raw).ok_or_else(|| ProductError::InvalidId(raw.chars().take(64).collect()))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_page_is_bounded_and_defaulted() {
        let page = PageRequest::parse(None, Some("10"), Some("toys".into())).unwrap();
        assert_eq!((page.limit, page.offset), (DEFAULT_PAGE, 10));
        for (limit, offset) in [
            (Some("501"), None),
            (Some("-1"), None),
            (None, Some("-1")),
            (Some("x"), None),
        ] {
            assert!(
                PageRequest::parse(limit, offset, None).is_err(),
                "{limit:?} {offset:?}"
            );
        }
    }

    #[test]
    fn a_batch_is_sorted_once_and_bounded() {
        let ids = |v: &[i64]| ProductBatchRequest {
            product_ids: v.iter().map(|&i| ProductId(i)).collect(),
        };
        let batch = Batch::try_from(ids(&[3, 1, 3])).unwrap();
        assert_eq!(batch.ids(), &[ProductId(1), ProductId(3)]);
        assert!(Batch::try_from(ids(&vec![1; MAX_BATCH + 1])).is_err());
    }
}
