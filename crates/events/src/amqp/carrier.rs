//! A [`Message`] as an AMQP message and back: the payload is the body; the id, topic and
//! ordering key are properties and headers; the producer's `traceparent`, `tracestate` and
//! `baggage` travel as headers of their own names, where any instrumented AMQP client finds
//! them.

use std::collections::BTreeMap;

use lapin::BasicProperties;
use lapin::message::Delivery;
use lapin::types::{AMQPValue, FieldTable};
use serde_json::value::RawValue;

use super::topology::long_string;
use crate::message::Message;

/// The header holding a message's ordering key.
const KEY: &str = "tracemart-key";
/// The header holding when a message was written to its outbox (RFC 3339).
const CREATED_AT: &str = "tracemart-created-at";
/// Set by quorum queues on a redelivery: how many times the message was delivered before.
const DELIVERY_COUNT: &str = "x-delivery-count";
/// Persistent: written to disk by the broker before it confirms.
const PERSISTENT: u8 = 2;

/// The properties `message` is published with.
pub(crate) fn properties(message: &Message) -> BasicProperties {
    let mut headers = FieldTable::default();
    for (name, value) in &message.headers {
        headers.insert(name.as_str().into(), long_string(value));
    }
    if let Some(key) = &message.key {
        headers.insert(KEY.into(), long_string(key));
    }
    headers.insert(CREATED_AT.into(), long_string(&message.created_at));
    BasicProperties::default()
        .with_message_id(message.id.as_str().into())
        .with_type(message.topic.as_str().into())
        .with_content_type("application/json".into())
        .with_delivery_mode(PERSISTENT)
        .with_headers(headers)
}

/// The message a delivery carries; why not, for one no consumer could read (not published
/// by a relay).
pub(crate) fn message(delivery: &Delivery) -> Result<Message, String> {
    let p = &delivery.properties;
    let id = p
        .message_id()
        .as_ref()
        .map(|id| id.as_str().to_owned())
        .ok_or("no message_id")?;
    // The type property names the topic; the routing key does too, until dead-lettering.
    let topic = p.kind().as_ref().map_or_else(
        || delivery.routing_key.as_str().to_owned(),
        |t| t.as_str().to_owned(),
    );
    let body = String::from_utf8(delivery.data.clone())
        .map_err(|e| format!("message {id}: a body that is not UTF-8: {e}"))?;
    let payload = RawValue::from_string(body)
        .map_err(|e| format!("message {id}: a body that is not JSON: {e}"))?;
    let mut headers = BTreeMap::new();
    let mut key = None;
    let mut created_at = String::new();
    let mut delivered_before = 0;
    for (name, value) in p
        .headers()
        .as_ref()
        .map(FieldTable::inner)
        .into_iter()
        .flatten()
    {
        match (name.as_str(), text(value)) {
            (KEY, Some(v)) => key = Some(v),
            (CREATED_AT, Some(v)) => created_at = v,
            (DELIVERY_COUNT, _) => delivered_before = count(value),
            // The broker's own (x-death, ...) are not the producer's context.
            (n, Some(v)) if !n.starts_with("x-") => {
                headers.insert(n.to_owned(), v);
            }
            _ => {}
        }
    }
    Ok(Message {
        id,
        topic,
        key,
        payload,
        headers,
        created_at,
        attempt: delivered_before.saturating_add(1),
    })
}

fn text(value: &AMQPValue) -> Option<String> {
    match value {
        AMQPValue::LongString(s) => std::str::from_utf8(s.as_bytes()).ok().map(str::to_owned),
        AMQPValue::ShortString(s) => Some(s.as_str().to_owned()),
        _ => None,
    }
}

fn count(value: &AMQPValue) -> u32 {
    let n = match value {
        AMQPValue::LongLongInt(n) => *n,
        AMQPValue::LongInt(n) => i64::from(*n),
        AMQPValue::LongUInt(n) => i64::from(*n),
        AMQPValue::ShortInt(n) => i64::from(*n),
        AMQPValue::ShortUInt(n) => i64::from(*n),
        _ => 0,
    };
    u32::try_from(n).unwrap_or(0)
}
