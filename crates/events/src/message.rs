//! A message as it travels from an outbox to a consumer, and the batch a relay delivers.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

/// One message: its id (the consumer's deduplication key), topic, ordering key, JSON payload
/// and the producer's trace context.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Message {
    pub id: String,
    pub topic: String,
    /// Messages with the same key reach a consumer in the order they were written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// Kept as the producer wrote it: parsed only by the handler that knows its type.
    pub payload: Box<RawValue>,
    /// `traceparent`, `tracestate` and `baggage` of the span that published it.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// When it was written to the outbox (RFC 3339).
    pub created_at: String,
    /// 1 for the first delivery, 2 for the first retry, ...
    #[serde(default = "first_attempt")]
    pub attempt: u32,
}

fn first_attempt() -> u32 {
    1
}

impl Message {
    /// The payload as `T`.
    pub fn payload<'a, T: Deserialize<'a>>(&'a self) -> Result<T, serde_json::Error> {
        serde_json::from_str(self.payload.get())
    }
}

/// `POST /events`: what a relay delivers in one request.
#[derive(Debug, Serialize, Deserialize)]
pub struct Batch {
    pub messages: Vec<Message>,
}

/// The consumer's answer: one receipt per message.
#[derive(Debug, Serialize, Deserialize)]
pub struct BatchReply {
    pub results: Vec<Receipt>,
}

/// What happened to one delivered message.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Receipt {
    pub id: String,
    pub outcome: Outcome,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// A consumer's verdict on a message.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Its effect happened now.
    Processed,
    /// Its effect had happened before (a redelivery): nothing was done.
    Duplicate,
    /// Handling failed; a later attempt may succeed.
    Failed,
    /// It can never be handled (unknown topic, unreadable payload): dead-letter it now.
    Rejected,
}

impl Outcome {
    /// Whether the relay may stop delivering it.
    pub fn is_acknowledged(self) -> bool {
        matches!(self, Self::Processed | Self::Duplicate)
    }

    /// The `result` label of `events_consumed_total`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Processed => "processed",
            Self::Duplicate => "duplicate",
            Self::Failed => "failed",
            Self::Rejected => "rejected",
        }
    }
}
