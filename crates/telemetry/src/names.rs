//! The seed's telemetry names, written once. Service code never spells these as strings.

/// Span names of the order flow (the seed's `create_order` and its steps).
pub mod span {
    pub const CREATE_ORDER: &str = "create_order";
    pub const VALIDATE_USER: &str = "validate_user";
    pub const VALIDATE_PRODUCTS: &str = "validate_products";
    pub const RESERVE_INVENTORY: &str = "reserve_inventory";
    pub const CALCULATE_TOTAL_AMOUNT: &str = "calculate_total_amount";
    pub const CREATE_ORDER_RECORD: &str = "create_order_record";
    pub const PUBLISH_ORDER_CREATED_EVENT: &str = "publish_order_created_event";
    pub const GET_ORDER: &str = "get_order";
}

/// Span event names. The seed's Korean step events are kept verbatim, so its dashboards match.
pub mod event {
    pub const USER_VALIDATED: &str = "사용자 검증 완료";
    pub const PRODUCTS_VALIDATED: &str = "상품 정보 검증 완료";
    pub const INVENTORY_RESERVED: &str = "재고 예약 완료";
    pub const ORDER_FAILED: &str = "주문 생성 실패";
    pub const ITEM_CALCULATED: &str = "item_calculated";
    pub const ORDER_RECORD_WRITTEN: &str = "order_record_written";
    /// On the CLIENT span of the call that changed its circuit breaker's state.
    pub const CIRCUIT_OPENED: &str = "circuit_breaker.opened";
    pub const CIRCUIT_HALF_OPENED: &str = "circuit_breaker.half_opened";
    pub const CIRCUIT_CLOSED: &str = "circuit_breaker.closed";
}

/// Baggage keys set by the order service and logged downstream.
pub mod baggage {
    pub const ORDER_USER_ID: &str = "order.user_id";
    pub const ORDER_CORRELATION_ID: &str = "order.correlation_id";
}

/// Metric names as the seed registers them (the `_total` suffix is added by the encoder).
pub mod metric {
    pub const ORDERS_CREATED: &str = "orders_created";
    pub const ORDER_AMOUNT: &str = "order_amount";
    pub const ORDER_PROCESSING_DURATION_SECONDS: &str = "order_processing_duration_seconds";
    pub const HTTP_REQUESTS: &str = "http_requests";
    pub const HTTP_REQUEST_DURATION_SECONDS: &str = "http_request_duration_seconds";
    pub const DATABASE_QUERY_DURATION_SECONDS: &str = "database_query_duration_seconds";
    pub const EXTERNAL_API_CALLS: &str = "external_api_calls";
    pub const CIRCUIT_BREAKER_STATE: &str = "circuit_breaker_state";
    pub const HTTP_CONNECTIONS_OPEN: &str = "http_connections_open";
    pub const HTTP_CONNECTIONS_DROPPED: &str = "http_connections_dropped";
    pub const EVENTS_PUBLISHED: &str = "events_published";
    pub const EVENTS_DELIVERED: &str = "events_delivered";
    pub const EVENTS_DELIVERY_FAILED: &str = "events_delivery_failed";
    pub const EVENTS_DEAD_LETTERED: &str = "events_dead_lettered";
    pub const EVENTS_CONSUMED: &str = "events_consumed";
    pub const EVENT_RELAY_LAG_SECONDS: &str = "event_relay_lag_seconds";
    pub const EVENT_OUTBOX_PENDING: &str = "event_outbox_pending";
    pub const EVENT_DEAD_LETTERS: &str = "event_dead_letters";
    pub const SAGA_DURATION_SECONDS: &str = "saga_duration_seconds";
    pub const ORDERS_COMPLETED: &str = "orders_completed";
}

/// Attributes of messaging spans (OpenTelemetry semantic conventions for messaging).
pub mod messaging {
    /// `messaging.system` of the embedded transport: an outbox relayed over HTTP.
    pub const SYSTEM_EMBEDDED: &str = "tracemart";
    /// `messaging.operation.type` of the span that writes a message to an outbox.
    pub const OPERATION_SEND: &str = "send";
    /// `messaging.operation.type` of the span that handles a delivered message.
    pub const OPERATION_PROCESS: &str = "process";
}

/// Routes with special handling in the server middleware.
pub mod route {
    /// Where a relay delivers batches of messages. Its requests get no server span: each
    /// message they carry gets a CONSUMER span of its own, linked to its producer.
    pub const EVENTS: &str = "/events";
}

/// Response headers that tie an answer to its trace.
pub mod header {
    pub const REQUEST_ID: &str = "x-request-id";
    pub const TRACE_ID: &str = "x-trace-id";
    pub const SPAN_ID: &str = "x-span-id";
}
