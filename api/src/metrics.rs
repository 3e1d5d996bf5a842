//! Prometheus metrics of this process.

use std::sync::Mutex;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// The media type of the exposition.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: String,
    /// The route pattern, never the raw path: paths carry ids and webhook tokens.
    route: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    method: String,
    route: String,
}

type DurationFamily = Family<RouteLabels, Histogram, fn() -> Histogram>;

fn duration_histogram() -> Histogram {
    // 1 ms to about 8 s.
    Histogram::new(exponential_buckets(0.001, 2.0, 14))
}

/// The registry and the metrics the service records.
pub struct Metrics {
    registry: Mutex<Registry>,
    requests: Family<RequestLabels, Counter>,
    durations: DurationFamily,
    login_failures: Counter,
    messages_dispatched: Family<OutcomeLabels, Counter>,
    provider_requests: Counter,
    webhook_deliveries: Family<OutcomeLabels, Counter>,
    webhook_rate_limited: Family<LimitLabels, Counter>,
    reconciled_records: Family<ReconcileLabels, Counter>,
    reconcile_failures: Counter,
    reconcile_lag: Gauge<f64, std::sync::atomic::AtomicU64>,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReconcileLabels {
    /// `reply` or `receipt`.
    kind: &'static str,
    /// `found` (the provider had it, we did not) or `applied` (stored now).
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LimitLabels {
    limit: &'static str,
}

impl Metrics {
    /// Registers every metric.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("nextal");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register("http_requests", "HTTP requests answered", requests.clone());
        let durations: DurationFamily = Family::new_with_constructor(duration_histogram);
        registry.register(
            "http_request_duration_seconds",
            "Time to answer HTTP requests",
            durations.clone(),
        );
        let login_failures = Counter::default();
        registry.register(
            "login_failures",
            "Failed or throttled sign-ins",
            login_failures.clone(),
        );
        let messages_dispatched = Family::<OutcomeLabels, Counter>::default();
        registry.register(
            "messages_dispatched",
            "Outbound messages by hand-over outcome (sent, failed, retried, in_doubt, settled, cancelled)",
            messages_dispatched.clone(),
        );
        let provider_requests = Counter::default();
        registry.register(
            "provider_requests",
            "Send requests made to SMS providers",
            provider_requests.clone(),
        );
        let webhook_deliveries = Family::<OutcomeLabels, Counter>::default();
        registry.register(
            "webhook_deliveries",
            "Webhook deliveries by outcome (applied, duplicate, provider_inactive, unmatched, stale, unreadable, failed)",
            webhook_deliveries.clone(),
        );
        let webhook_rate_limited = Family::<LimitLabels, Counter>::default();
        registry.register(
            "webhook_rate_limited",
            "Webhook requests refused with 429 by a rate limit (integration, address)",
            webhook_rate_limited.clone(),
        );
        let reconciled_records = Family::<ReconcileLabels, Counter>::default();
        registry.register(
            "reconciled_records",
            "Replies and receipts read back from providers' records that webhooks had not brought (found), and of those the ones stored (applied)",
            reconciled_records.clone(),
        );
        let reconcile_failures = Counter::default();
        registry.register(
            "reconcile_failures",
            "Integrations whose reconciliation round failed (provider or database errors)",
            reconcile_failures.clone(),
        );
        let reconcile_lag = Gauge::<f64, std::sync::atomic::AtomicU64>::default();
        registry.register(
            "reconcile_lag_seconds",
            "After the last round, how far behind now the least recently read integration's provider records are",
            reconcile_lag.clone(),
        );
        Self {
            registry: Mutex::new(registry),
            reconciled_records,
            reconcile_failures,
            reconcile_lag,
            webhook_rate_limited,
            webhook_deliveries,
            requests,
            durations,
            login_failures,
            messages_dispatched,
            provider_requests,
        }
    }

    /// Records one answered request.
    pub fn observe_request(&self, method: &str, route: &str, status: u16, seconds: f64) {
        self.requests
            .get_or_create(&RequestLabels {
                method: method.to_owned(),
                route: route.to_owned(),
                status,
            })
            .inc();
        self.durations
            .get_or_create(&RouteLabels {
                method: method.to_owned(),
                route: route.to_owned(),
            })
            .observe(seconds);
    }

    /// Counts a failed or throttled sign-in.
    pub fn login_failed(&self) {
        self.login_failures.inc();
    }

    /// Counts what a dispatch round did: messages by `outcome` label, and the send
    /// requests made to providers.
    pub fn dispatched(&self, outcomes: &[(&'static str, usize)], provider_requests: usize) {
        for &(outcome, count) in outcomes {
            if count > 0 {
                self.messages_dispatched
                    .get_or_create(&OutcomeLabels { outcome })
                    .inc_by(count as u64);
            }
        }
        self.provider_requests.inc_by(provider_requests as u64);
    }

    /// Counts one webhook delivery by what became of it.
    pub fn webhook_applied(&self, outcome: &'static str) {
        self.webhook_deliveries
            .get_or_create(&OutcomeLabels { outcome })
            .inc();
    }

    /// Counts what a reconciliation round found and applied, by `(kind, outcome)`, the
    /// integrations whose round failed, and `lag`: how far behind the least recently read
    /// integration is, when any was read.
    pub fn reconciled(
        &self,
        records: &[(&'static str, &'static str, usize)],
        failures: usize,
        lag: Option<f64>,
    ) {
        for &(kind, outcome, count) in records {
            self.reconciled_records
                .get_or_create(&ReconcileLabels { kind, outcome })
                .inc_by(count as u64);
        }
        self.reconcile_failures.inc_by(failures as u64);
        if let Some(lag) = lag {
            self.reconcile_lag.set(lag);
        }
    }

    /// Counts one webhook request refused by the `limit` rate limit.
    pub fn webhook_rate_limited(&self, limit: &'static str) {
        self.webhook_rate_limited
            .get_or_create(&LimitLabels { limit })
            .inc();
    }

    /// The OpenMetrics text exposition.
    pub fn render(&self) -> Result<String, std::fmt::Error> {
        let mut text = String::new();
        let registry = self
            .registry
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        prometheus_client::encoding::text::encode(&mut text, &registry)?;
        Ok(text)
    }
}
