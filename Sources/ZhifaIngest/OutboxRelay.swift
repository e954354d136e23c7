import Foundation
import Logging
import Metrics
import ServiceLifecycle
import Synchronization
import ZhifaDomain
import ZhifaKafka
import ZhifaRuntime

/// Sends stored events from the outbox to the events topic, in acceptance order, exactly as the
/// contract says (binary mode, key = caseId, same `ce_id` on every re-send).
///
/// At start it sends everything not yet released (an event whose receipt never arrived is sent
/// again with the same id; consumers deduplicate). While running it sends new events as they are
/// committed, re-sends those whose delivery failed, and re-sends delivered events that got no
/// receipt within `resendAfter`.
public final class OutboxRelay: Service, Sendable {
    private let outbox: Outbox
    private let producer: KafkaProducer
    private let topic: String
    private let releaseOnDelivery: Bool
    private let resendAfter: Duration
    private let logger: Logger
    private let delivered = Mutex<[Int64]>([])
    private let failed = Mutex<[Int64]>([])
    private let deliveredSignal = WakeSignal()
    private let sentCounter: Counter
    private let deliveredCounter: Counter
    private let failedCounter: Counter

    /// Creates a relay.
    public init(outbox: Outbox, producer: KafkaProducer, topic: String, releaseOnDelivery: Bool, resendAfter: Duration,
                metricsFactory: any MetricsFactory, logger: Logger) {
        self.outbox = outbox
        self.producer = producer
        self.topic = topic
        self.releaseOnDelivery = releaseOnDelivery
        self.resendAfter = resendAfter
        self.logger = logger
        sentCounter = Counter(label: "zhifa_outbox_sent_total", factory: metricsFactory)
        deliveredCounter = Counter(label: "zhifa_outbox_delivered_total", factory: metricsFactory)
        failedCounter = Counter(label: "zhifa_outbox_delivery_failed_total", factory: metricsFactory)
    }

    public func run() async throws {
        let marker = Task { await self.markDeliveredLoop() }
        await cancelWhenGracefulShutdown {
            await self.sendLoop()
        }
        // Wait (bounded) for outstanding delivery reports, then record them.
        try? await producer.flush(timeout: .seconds(10))
        marker.cancel()
        await marker.value
        await flushDelivered()
    }

    private func sendLoop() async {
        var cursor: Int64 = 0
        var states = [0, 1]  // first pass: everything not released, receipted or not
        var lastSweep = ContinuousClock.now
        while !Task.isCancelled {
            do {
                let fresh = try await outbox.rows(after: cursor, states: states, limit: 1_000)
                if let last = fresh.last { cursor = last.seq }
                let retrySeqs = failed.withLock { f in defer { f = [] }; return f }
                let retry = try await outbox.rows(seqs: retrySeqs)
                var stale: [OutboxRow] = []
                if !releaseOnDelivery, ContinuousClock.now - lastSweep >= min(resendAfter, .seconds(30)) {
                    lastSweep = .now
                    stale = try await outbox.unreceipted(deliveredBefore: Date().addingTimeInterval(-seconds(resendAfter)), limit: 1_000)
                    if !stale.isEmpty {
                        logger.notice("re-sending delivered events that got no archive receipt", metadata: ["count": "\(stale.count)"])
                    }
                }
                for row in fresh + retry + stale { try await send(row) }
                if fresh.count < 1_000 {
                    states = [0]
                    if retrySeqs.isEmpty { await outbox.stored.wait(timeout: .seconds(1)) }
                }
            } catch is CancellationError {
                return
            } catch {
                logger.error("outbox relay step failed; retrying", metadata: ["error": "\(error)"])
                try? await Task.sleep(for: .seconds(1))
            }
        }
    }

    private func seconds(_ d: Duration) -> Double { Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18 }

    private func send(_ row: OutboxRow) async throws {
        let event = CloudEvent(id: row.id, source: row.source, type: row.type, time: row.time, dataContentType: row.contentType, data: row.data)
        let record = CloudEventKafka.record(for: event, topic: topic, key: row.caseId)
        try await producer.enqueue(record, listener: RelayDelivery(relay: self, id: row.id, seq: row.seq))
        sentCounter.increment()
    }

    fileprivate func deliveryReport(id: String, seq: Int64, ok: Bool) {
        if ok {
            delivered.withLock { $0.append(seq) }
            deliveredCounter.increment()
            deliveredSignal.notify()
        } else {
            failed.withLock { $0.append(seq) }
            failedCounter.increment()
            outbox.stored.notify()
        }
    }

    private func markDeliveredLoop() async {
        while !Task.isCancelled {
            await deliveredSignal.wait(timeout: .seconds(1))
            await flushDelivered()
        }
    }

    private func flushDelivered() async {
        let seqs = delivered.withLock { d in defer { d = [] }; return d }
        guard !seqs.isEmpty else { return }
        do {
            try await outbox.markDelivered(seqs: seqs, release: releaseOnDelivery)
        } catch {
            // Not recorded: those events will be sent again (same ce_id), never lost.
            logger.warning("could not record deliveries; the events will be re-sent", metadata: ["error": "\(error)", "count": "\(seqs.count)"])
        }
    }
}

/// One outbox row's delivery report.
final class RelayDelivery: KafkaDeliveryListener, @unchecked Sendable {
    let relay: OutboxRelay
    let id: String
    let seq: Int64

    init(relay: OutboxRelay, id: String, seq: Int64) {
        self.relay = relay
        self.id = id
        self.seq = seq
    }

    override func delivered(partition: Int32, offset: Int64, error: KafkaError?) {
        relay.deliveryReport(id: id, seq: seq, ok: error == nil)
    }
}

/// Releases outbox events as the archive's receipts arrive.
///
/// Releases are committed in groups in the background: a release lost in a crash only means the
/// event is sent once more, which the archive ignores and answers with a new receipt.
public final class ReceiptReleaser: Service, Sendable {
    private let outbox: Outbox
    private let pending = Mutex<[String]>([])
    private let signal = WakeSignal()
    private let logger: Logger
    private let dedupeDays: Int

    public init(outbox: Outbox, dedupeDays: Int, logger: Logger) {
        self.outbox = outbox
        self.dedupeDays = dedupeDays
        self.logger = logger
    }

    /// Handles one message of the receipts topic (chain heads and other types are ignored).
    public func handle(_ message: KafkaConsumerMessage) async throws -> [KafkaRecord] {
        guard message.headers.text(CloudEventKafka.Header.type) == ArchiveReceipt.type else { return [] }
        guard let value = message.value, let receipt = try? JSONDecoder().decode(ArchiveReceipt.self, from: Data(value)) else {
            throw PermanentFailure("receipt: the value is not an archive receipt")
        }
        pending.withLock { $0.append(receipt.eventId) }
        signal.notify()
        return []
    }

    public func run() async throws {
        await cancelWhenGracefulShutdown {
            var lastPrune = ContinuousClock.now - .seconds(3_600)
            while !Task.isCancelled {
                await self.signal.wait(timeout: .seconds(1))
                await self.flush()
                if ContinuousClock.now - lastPrune >= .seconds(3_600) {
                    lastPrune = .now
                    let cutoff = Date().addingTimeInterval(-Double(self.dedupeDays) * 86_400)
                    if let n = try? await self.outbox.prune(releasedBefore: cutoff), n > 0 {
                        self.logger.info("forgot released events past the duplicate-detection window", metadata: ["count": "\(n)"])
                    }
                }
            }
        }
        await flush()
    }

    private func flush() async {
        let ids = pending.withLock { p in defer { p = [] }; return p }
        guard !ids.isEmpty else { return }
        do { _ = try await outbox.release(ids) } catch {
            logger.warning("could not record receipts; those events will be re-sent and receipted again", metadata: ["error": "\(error)"])
        }
    }
}
