//! The payment service's domain: a `POST /payments` body parsed once into the payment it asks
//! about, with an order id, a positive amount in whole cents and a currency the shop takes.

use tracemart_contracts::currency::{self, Currency};
use tracemart_contracts::{Money, OrderId, PaymentRequest, UserId};

use crate::error::PaymentError;
use crate::store::StoredPayment;

/// The largest amount a payment may name: 10^12 dollars, in cents.
pub(crate) const MAX_AMOUNT_MINOR: i64 = 100_000_000_000_000;

/// What `POST /payments` asks: the payment of `order_id`, expected to be of `amount` in
/// `currency` by `user_id`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PaymentQuery {
    pub(crate) order_id: OrderId,
    pub(crate) user_id: UserId,
    pub(crate) amount: Money,
    pub(crate) currency: Currency,
}

impl TryFrom<PaymentRequest> for PaymentQuery {
    type Error = PaymentError;

    fn try_from(req: PaymentRequest) -> Result<Self, PaymentError> {
        let order_id = OrderId::parse(&req.order_id)
            .ok_or_else(|| invalid("order_id must be an order's id (a UUID)"))?;
        let amount = Money::from_exact_decimal(req.amount)
            .ok()
            .filter(|m| (1..=MAX_AMOUNT_MINOR).contains(&m.minor()))
            .ok_or_else(|| {
                invalid(format!(
                    "amount must be a whole number of cents from 0.01 to {}, not {}",
                    MAX_AMOUNT_MINOR / 100,
                    req.amount
                ))
            })?;
        let currency = Currency::parse(&req.currency)
            .ok_or_else(|| invalid(currency::unsupported(&req.currency)))?;
        Ok(Self {
            order_id,
            user_id: req.user_id,
            amount,
            currency,
        })
    }
}

impl PaymentQuery {
    /// Whether `stored` is the payment this asks about: same user, amount and currency.
    pub(crate) fn matches(&self, stored: &StoredPayment) -> bool {
        stored.payment.user_id == self.user_id.0
            && stored.amount_minor == self.amount.minor()
            && stored.payment.currency == self.currency.code()
    }
}

fn invalid(message: impl Into<String>) -> PaymentError {
    PaymentError::InvalidField(message.into())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn request(amount: f64, currency: &str) -> PaymentRequest {
        PaymentRequest {
            order_id: "0190a6f4-e89b-72d3-a456-426614174000".into(),
            user_id: UserId(4),
            amount,
            currency: currency.into(),
        }
    }

    #[test]
    fn a_payment_query_names_a_positive_amount_in_whole_cents_of_usd() {
        let q = PaymentQuery::try_from(request(12.34, "USD")).unwrap();
        assert_eq!((q.amount.minor(), q.currency), (1234, Currency::Usd));
        for (amount, currency, why) in [
            (0.0, "USD", "amount"),
            (1e-300, "USD", "amount"),
            (-5.0, "USD", "amount"),
            (0.015, "USD", "amount"),
            (1e13, "USD", "amount"),
            (5.0, "€", "currency"),
            (5.0, "usd", "currency"),
            (5.0, "XXX", "currency"),
        ] {
            let err = PaymentQuery::try_from(request(amount, currency))
                .unwrap_err()
                .to_string();
            assert!(err.contains(why), "{amount} {currency}: {err}");
        }
        let mut bad_id = request(5.0, "USD");
        bad_id.order_id = "order-7".into();
        assert!(PaymentQuery::try_from(bad_id).is_err());
    }
}
