import Foundation
import Logging
import Synchronization
import ZhifaDomain
import ZhifaKafka
import ZhifaRuntime

/// What a simulation sent, written by `--summary PATH` so tests can compare what arrived.
public struct SimulationSummary: Codable, Sendable {
    public var seed: UInt64
    public var start: String
    public var transport: String
    public var cases: Int
    public var events: Int
    public var byType: [String: Int]
    public var kinds: [String: Int]
    public var caseIds: [String]
    public var eventIds: [String]
    /// Events the receiver confirmed (Kafka acknowledgement, or HTTP 202).
    public var accepted: Int
    /// HTTP 200 duplicate answers.
    public var duplicates: Int
    /// Events refused (4xx) or not delivered.
    public var failed: Int
    /// Cases by kind, for tests that look for specific ones.
    public var majorCaseIds: [String]
    public var avGapCaseIds: [String]
    public var avMissingCaseIds: [String]
    public var revokedCaseIds: [String]
}

/// Where simulated events go.
public protocol EventSink: Sendable {
    /// Sends one event; returns how it was received.
    func send(_ event: SimulatedEvent) async throws -> SinkOutcome
    /// Waits for everything sent to be confirmed.
    func finish() async throws
}

/// How one event was received.
public enum SinkOutcome: Sendable { case accepted, duplicate, failed(String) }

/// Straight to Kafka, as a Kafka-speaking terminal does.
public final class KafkaSink: EventSink {
    let producer: KafkaProducer
    let topic: String
    let failures = Mutex<[String]>([])

    public init(producer: KafkaProducer, topic: String) {
        self.producer = producer
        self.topic = topic
    }

    public func send(_ event: SimulatedEvent) async throws -> SinkOutcome {
        try await producer.enqueue(CloudEventKafka.record(for: event.event, topic: topic)) { [self] r in
            if case .failure(let e) = r { self.failures.withLock { $0.append("\(e)") } }
        }
        return .accepted
    }

    public func finish() async throws { try await producer.flush(timeout: .seconds(120)) }

    /// Delivery failures reported after `send` returned.
    public var deliveryFailures: Int { failures.withLock { $0.count } }
}

/// Through the HTTP ingest, signed as each event's device.
public final class HTTPSink: EventSink {
    let client: IngestClient
    let logger: Logger

    public init(client: IngestClient, logger: Logger) {
        self.client = client
        self.logger = logger
    }

    public func send(_ event: SimulatedEvent) async throws -> SinkOutcome {
        let body = StructuredCloudEvent.serialize(event.event)
        for attempt in 1...20 {
            let r = try await client.send(body, deviceId: event.deviceId)
            switch r.status {
            case 202: return .accepted
            case 200: return .duplicate
            case 503:
                try await Task.sleep(for: .seconds(min(r.retryAfter ?? 1, 5)))
                if attempt == 20 { return .failed("503 after 20 attempts") }
            default:
                let detail = (r.json as? [String: Any])?["detail"] as? String ?? ""
                return .failed("HTTP \(r.status): \(detail)")
            }
        }
        return .failed("not accepted")
    }

    public func finish() async throws {}
}

/// Sends simulated cases at a steady rate: events of one case in order, several cases at once.
public enum SimulationRunner {
    /// Sends every case's events through `sink` at `rate` events per second.
    public static func run(
        _ cases: [SimulatedCase], rate: Int, sink: any EventSink, concurrency: Int = 8, seed: UInt64, start: Date, transport: String,
        logger: Logger
    ) async throws -> SimulationSummary {
        let total = cases.reduce(0) { $0 + $1.events.count }
        let pace = Pacer(rate: rate)
        let state = RunState()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<max(1, concurrency) {
                group.addTask {
                    while true {
                        let i = state.next.wrappingAdd(1, ordering: .relaxed).oldValue
                        guard i < cases.count else { return }
                        for e in cases[i].events {
                            await pace.wait()
                            let outcome = try await sink.send(e)
                            state.results.withLock { r in
                                switch outcome {
                                case .accepted: r.accepted += 1
                                case .duplicate: r.duplicates += 1
                                case .failed(let why):
                                    r.failed += 1
                                    logger.warning("event not accepted", metadata: ["id": "\(e.event.id)", "type": "\(e.event.type)", "reason": "\(why)"])
                                }
                            }
                        }
                    }
                }
            }
            try await group.waitForAll()
        }
        try await sink.finish()
        var r = state.results.withLock { $0 }
        if let k = sink as? KafkaSink { r.failed += k.deliveryFailures; r.accepted -= k.deliveryFailures }
        var byType: [String: Int] = [:]
        for c in cases { for e in c.events { byType[e.event.type, default: 0] += 1 } }
        func count(_ p: (SimulatedCase) -> Bool) -> Int { cases.filter(p).count }
        return SimulationSummary(
            seed: seed, start: ChinaTime.format(start), transport: transport, cases: cases.count, events: total, byType: byType,
            kinds: [
                "general": count { $0.procedure == .general }, "simple": count { $0.procedure == .simple }, "major": count(\.major),
                "revoked": count(\.revoked), "avGap": count(\.avGap), "avMissing": count(\.avMissing), "minor": count(\.minor),
                "confidential": count(\.confidential), "warningOnly": count(\.warningOnly),
            ],
            caseIds: cases.map(\.caseId), eventIds: cases.flatMap { $0.events.map(\.event.id) },
            accepted: r.accepted, duplicates: r.duplicates, failed: r.failed,
            majorCaseIds: cases.filter(\.major).map(\.caseId), avGapCaseIds: cases.filter(\.avGap).map(\.caseId),
            avMissingCaseIds: cases.filter(\.avMissing).map(\.caseId), revokedCaseIds: cases.filter(\.revoked).map(\.caseId))
    }
}

/// Counters shared by the sending tasks.
final class RunState: Sendable {
    let next = Atomic<Int>(0)
    let results = Mutex<(accepted: Int, duplicates: Int, failed: Int)>((0, 0, 0))
}

/// Spaces calls at a fixed rate across tasks.
final class Pacer: Sendable {
    private let interval: Duration
    private let nextSlot: Mutex<ContinuousClock.Instant>

    init(rate: Int) {
        interval = .nanoseconds(1_000_000_000 / Int64(max(rate, 1)))
        nextSlot = Mutex(.now)
    }

    func wait() async {
        let slot = nextSlot.withLock { s -> ContinuousClock.Instant in
            let now = ContinuousClock.now
            if s < now - .milliseconds(50) { s = now }
            let mine = s
            s = s + interval
            return mine
        }
        if slot > .now + .milliseconds(1) { try? await Task.sleep(until: slot, clock: .continuous) }
    }
}
