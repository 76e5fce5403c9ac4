//! The seed's telemetry names, written once. Service code never spells these as strings.
//!
//! Spans, their attributes and the typed events all take their names from here
//! (`Span::internal(site, span::GET_ORDER)`, `KeyValue::new(attr::order::ID, id)`), so a key or
//! a name has one spelling and cannot drift between the places that use it.

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
    pub const AUTHORIZE_PAYMENT: &str = "authorize_payment";
}

/// Span event names. The seed's Korean step events are kept verbatim, so its dashboards match.
pub mod event {
    pub const USER_VALIDATED: &str = "사용자 검증 완료";
    pub const PRODUCTS_VALIDATED: &str = "상품 정보 검증 완료";
    pub const INVENTORY_RESERVED: &str = "재고 예약 완료";
    pub const ORDER_FAILED: &str = "주문 생성 실패";
    pub const ITEM_CALCULATED: &str = "item_calculated";
    pub const ORDER_RECORD_WRITTEN: &str = "order_record_written";
    /// On a saga step's CONSUMER span, once per event appended to the order's history.
    pub const ORDER_EVENT_APPENDED: &str = "order_event_appended";
    /// On the CLIENT span of the call that changed its circuit breaker's state.
    pub const CIRCUIT_OPENED: &str = "circuit_breaker.opened";
    pub const CIRCUIT_HALF_OPENED: &str = "circuit_breaker.half_opened";
    pub const CIRCUIT_CLOSED: &str = "circuit_breaker.closed";
    /// On the span a fault injected on purpose touched: a request's SERVER span, a database
    /// operation's CLIENT span, `authorize_payment`, or a delivery's CONSUMER span.
    pub const FAULT_INJECTED: &str = "fault.injected";
}

/// Baggage keys set by the order service and logged downstream: the same keys as the
/// attributes they become on downstream spans.
pub mod baggage {
    pub const ORDER_USER_ID: &str = super::attr::order::USER_ID;
    pub const ORDER_CORRELATION_ID: &str = super::attr::order::CORRELATION_ID;
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
    pub const FAULTS_INJECTED: &str = "faults_injected";
}

/// Attributes of messaging spans (OpenTelemetry semantic conventions for messaging).
pub mod messaging {
    /// `messaging.system` of the embedded transport: an outbox relayed over HTTP.
    pub const SYSTEM_EMBEDDED: &str = "tracemart";
    /// `messaging.system` when the shop's events travel through RabbitMQ.
    pub const SYSTEM_RABBITMQ: &str = "rabbitmq";
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
    /// Probes, scrapes and the API description: answered and counted in the RED metrics, but
    /// not traced. They come every few seconds from machines, each a one-span trace that says
    /// nothing about a request's path through the shop, and they would bury the orders in the
    /// console's search (and its store) while their rate and latency are in the metrics.
    pub const UNTRACED: [&str; 4] = ["/health", "/health/ready", "/metrics", "/openapi.json"];
}

/// Response headers that tie an answer to its trace.
pub mod header {
    pub const REQUEST_ID: &str = "x-request-id";
    pub const TRACE_ID: &str = "x-trace-id";
    pub const SPAN_ID: &str = "x-span-id";
}

/// Attribute and field keys of spans, span events and the typed events' log lines, grouped by
/// domain. OpenTelemetry semantic-convention names where one exists; the seed's older names
/// (`http.method`, `db.table`, ...) sit next to them because its dashboards query them.
pub mod attr {
    /// Where a span was made, from its [`SpanSite`](crate::SpanSite): the attributes
    /// tracing-opentelemetry put on every span, kept for the queries that use them.
    pub mod code {
        pub const FILE_PATH: &str = "code.file.path";
        pub const MODULE_NAME: &str = "code.module.name";
        pub const LINE_NUMBER: &str = "code.line.number";
        /// The `tracing` target of the span.
        pub const TARGET: &str = "target";
    }

    pub mod http {
        pub const REQUEST_METHOD: &str = "http.request.method";
        pub const ROUTE: &str = "http.route";
        pub const RESPONSE_STATUS_CODE: &str = "http.response.status_code";
        pub const REQUEST_RESEND_COUNT: &str = "http.request.resend_count";
        /// Time from sending a request to its answer, without the wait for a bulkhead slot.
        pub const REQUEST_DURATION_MS: &str = "http.request.duration_ms";
        /// The seed's names, before the conventions renamed them.
        pub const METHOD: &str = "http.method";
        pub const TARGET: &str = "http.target";
        pub const URL: &str = "http.url";
        pub const STATUS_CODE: &str = "http.status_code";
    }

    pub mod url {
        pub const FULL: &str = "url.full";
        pub const PATH: &str = "url.path";
        pub const SCHEME: &str = "url.scheme";
    }

    /// The other end of a CLIENT span.
    pub mod peer {
        pub const SERVER_ADDRESS: &str = "server.address";
        pub const SERVICE: &str = "peer.service";
    }

    /// The `x-request-id` a span serves; log lines inside it carry it too.
    pub mod request {
        pub const ID: &str = "request_id";
    }

    pub mod db {
        pub const SYSTEM: &str = "db.system";
        pub const SYSTEM_NAME: &str = "db.system.name";
        pub const OPERATION: &str = "db.operation";
        pub const OPERATION_NAME: &str = "db.operation.name";
        pub const COLLECTION_NAME: &str = "db.collection.name";
        pub const TABLE: &str = "db.table";
        pub const DURATION_MS: &str = "db.duration_ms";
    }

    pub mod messaging {
        pub const SYSTEM: &str = "messaging.system";
        pub const OPERATION_TYPE: &str = "messaging.operation.type";
        pub const OPERATION_NAME: &str = "messaging.operation.name";
        pub const DESTINATION_NAME: &str = "messaging.destination.name";
        pub const CONSUMER_GROUP_NAME: &str = "messaging.consumer.group.name";
        pub const MESSAGE_ID: &str = "messaging.message.id";
        pub const MESSAGE_CONVERSATION_ID: &str = "messaging.message.conversation_id";
        pub const MESSAGE_BODY_SIZE: &str = "messaging.message.body.size";
        /// 1 for a message's first delivery (no convention counts deliveries).
        pub const DELIVERY_ATTEMPT: &str = "tracemart.delivery.attempt";
    }

    pub mod error {
        pub const TYPE: &str = "error.type";
        pub const MESSAGE: &str = "error.message";
    }

    /// The `exception` span event's attributes.
    pub mod exception {
        pub const TYPE: &str = "exception.type";
        pub const MESSAGE: &str = "exception.message";
    }

    /// The seed's outcome of a business operation.
    pub mod operation {
        pub const TYPE: &str = "operation_type";
        pub const RESULT: &str = "operation.result";
        pub const DURATION_MS: &str = "operation.duration_ms";
    }

    pub mod order {
        pub const ID: &str = "order.id";
        pub const USER_ID: &str = "order.user_id";
        pub const CORRELATION_ID: &str = "order.correlation_id";
        pub const ITEMS_COUNT: &str = "order.items_count";
        pub const TOTAL_AMOUNT: &str = "order.total_amount";
        pub const CURRENCY: &str = "order.currency";
        pub const STATUS: &str = "order.status";
        pub const EVENT_TYPE: &str = "order.event.type";
    }

    pub mod user {
        pub const ID: &str = "user.id";
        pub const SEGMENT: &str = "user.segment";
        pub const MEMBERSHIP: &str = "user.membership";
    }

    pub mod products {
        pub const COUNT: &str = "products.count";
        pub const VALIDATED: &str = "products.validated";
        pub const IDS: &str = "products.ids";
        pub const TOTAL_VALUE: &str = "products.total_value";
    }

    pub mod reservation {
        pub const ID: &str = "reservation.id";
        pub const EXPIRES_AT: &str = "reservation.expires_at";
    }

    /// The seed's `item_calculated` event, one per priced line.
    pub mod item {
        pub const PRODUCT_ID: &str = "product_id";
        pub const QUANTITY: &str = "quantity";
        pub const UNIT_PRICE: &str = "unit_price";
        pub const ITEM_TOTAL: &str = "item_total";
    }

    /// The seed's `calculate_total_amount` span.
    pub mod total {
        pub const AMOUNT: &str = "total.amount";
        pub const CURRENCY: &str = "total.currency";
    }

    pub mod payment {
        pub const AMOUNT: &str = "payment.amount";
        pub const CURRENCY: &str = "payment.currency";
        pub const STATUS: &str = "payment.status";
    }

    /// The seed's attributes of the span that publishes `order.created`.
    pub mod published {
        pub const EVENT_TYPE: &str = "event.type";
        pub const ORDER_ID: &str = "event.order_id";
    }

    pub mod resilience {
        /// The downstream service a breaker guards (also a metric label).
        pub const TARGET_SERVICE: &str = "target_service";
        pub const BULKHEAD_WAIT_MS: &str = "bulkhead.wait_ms";
    }

    /// Faults injected on purpose (`tracemart chaos`): set on the span they touched, so that
    /// an injected failure can be told from a real one.
    pub mod fault {
        /// Always `true` where present.
        pub const INJECTED: &str = "fault.injected";
        /// `latency`, `error`, `hang`, `drop`, `db_latency`, `decline`, `event_duplicate`,
        /// `event_delay` or `event_loss`.
        pub const TYPE: &str = "fault.type";
        /// The fault's id in its service's list.
        pub const ID: &str = "fault.id";
    }

    /// Resource attributes: who emits the telemetry.
    pub mod resource {
        pub const SERVICE_VERSION: &str = "service.version";
        pub const SERVICE_INSTANCE_ID: &str = "service.instance.id";
        /// The convention's older name, kept for the seed's dashboards.
        pub const DEPLOYMENT_ENVIRONMENT: &str = "deployment.environment";
        pub const DEPLOYMENT_ENVIRONMENT_NAME: &str = "deployment.environment.name";
        pub const HOST_NAME: &str = "host.name";
    }

    /// Fields of the typed events' log lines, as the seed's log lines name them.
    pub mod log {
        pub const ORDER_ID: &str = "order_id";
        pub const USER_ID: &str = "user_id";
        pub const ITEMS_COUNT: &str = "items_count";
        pub const TOTAL_AMOUNT: &str = "total_amount";
        pub const ERROR: &str = "error";
        pub const ERROR_TYPE: &str = "error_type";
        pub const TOPIC: &str = "topic";
        pub const DESTINATION: &str = "destination";
        pub const MESSAGE_ID: &str = "message_id";
        pub const KEY: &str = "key";
        pub const ATTEMPT: &str = "attempt";
        pub const NEXT_ATTEMPT_AT: &str = "next_attempt_at";
        pub const OUTCOME: &str = "outcome";
        pub const SERVICE: &str = "service";
        pub const ENDPOINT: &str = "endpoint";
    }
}
