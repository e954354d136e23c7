import CoreMetrics
import Metrics

/// The worker runtime's metrics, labelled by consumer group.
struct WorkerMetrics: Sendable {
    let consumed: Counter
    let processed: Counter
    let retried: Counter
    let deadLettered: Counter
    let inFlight: Gauge
    let lag: Gauge
    let latency: Metrics.Timer

    init(group: String, factory: any MetricsFactory) {
        let d = [("group", group)]
        consumed = Counter(label: "zhifa_worker_consumed_total", dimensions: d, factory: factory)
        processed = Counter(label: "zhifa_worker_processed_total", dimensions: d, factory: factory)
        retried = Counter(label: "zhifa_worker_retried_total", dimensions: d, factory: factory)
        deadLettered = Counter(label: "zhifa_worker_dead_lettered_total", dimensions: d, factory: factory)
        inFlight = Gauge(label: "zhifa_worker_in_flight", dimensions: d, factory: factory)
        lag = Gauge(label: "zhifa_worker_consumer_lag", dimensions: d, factory: factory)
        latency = Metrics.Timer(label: "zhifa_worker_processing_seconds", dimensions: d, preferredDisplayUnit: .seconds, factory: factory)
    }
}
