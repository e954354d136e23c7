import Foundation
import Logging
import Metrics
import ServiceLifecycle
import Synchronization
import ZhifaDomain
import ZhifaKafka
import ZhifaRuntime

/// Consumes the input topics in the archive's group and appends every message, in batches: one
/// transaction (one fsync) per batch, then a receipt per archived event, then the offsets.
///
/// The batches run as a pipeline of three stages, each on its own: reading (validating) a batch,
/// appending it, and sending its receipts then storing its offsets. While batch N is appended,
/// N + 1 is read and the receipts of the batches before N are sent; appends stay one at a time in
/// consumption order, offsets are stored in that order too, and at most `batchesInFlight` batches
/// are between the read and the offsets.
///
/// Nothing is dead-lettered: an invalid message is archived, marked invalid. A batch that cannot
/// be stored or receipted is retried (appending is idempotent on the event id) until it can; its
/// offsets are stored only afterwards, so a crash redelivers it and nothing is lost or doubled.
/// A batch whose append did not happen (the service stopped) is never followed by a later one.
public final class ArchiveConsumer: Service, Sendable {
    let store: any ArchiveStore
    let intake: ArchiveIntake
    let producer: KafkaProducer
    let configuration: KafkaConsumerConfiguration
    let topics: [String]
    let receiptsTopic: String
    let batchSize: Int
    let logger: Logger
    let appended: Counter
    let duplicates: Counter
    let invalid: Counter
    let status = Mutex<String?>("starting")
    let lagValue = Atomic<Int64>(0)
    let consumerBox = Mutex<KafkaConsumer?>(nil)
    /// Called after each batch's offsets are stored (what `zhifa up`'s stop drain waits on).
    let onProgress: (@Sendable () -> Void)?
    let stopping = Atomic<Bool>(false)
    /// End a retry's back-off early when the service stops (one per stage: both may be backing off).
    let appendRetryWake = WakeSignal()
    let receiptRetryWake = WakeSignal()

    /// Batches taken but not yet finished (offsets stored) before the next is taken. While one
    /// is appended, the next ones are read and the earlier ones wait for their receipts'
    /// acknowledgements (a linger and a round trip to the brokers).
    static let batchesInFlight = 4

    public init(store: any ArchiveStore, intake: ArchiveIntake, producer: KafkaProducer, configuration: KafkaConsumerConfiguration, topics: [String],
                receiptsTopic: String, batchSize: Int, metricsFactory: any MetricsFactory, logger: Logger, onProgress: (@Sendable () -> Void)? = nil) {
        self.onProgress = onProgress
        self.store = store
        self.intake = intake
        self.producer = producer
        self.configuration = configuration
        self.topics = topics
        self.receiptsTopic = receiptsTopic
        self.batchSize = batchSize
        self.logger = logger
        appended = Counter(label: "zhifa_archive_entries_appended_total", factory: metricsFactory)
        duplicates = Counter(label: "zhifa_archive_duplicates_total", factory: metricsFactory)
        invalid = Counter(label: "zhifa_archive_invalid_entries_total", factory: metricsFactory)
    }

    /// nil while running; otherwise why it is not (for `/readyz`).
    public var notRunning: String? { status.withLock { $0 } }

    /// Messages behind the end of the assigned partitions.
    public var lag: Int64 { consumerBox.withLock { $0?.lag } ?? 0 }

    /// Commits the offsets stored so far now, rather than at the next auto-commit.
    public func commitStoredOffsets() async throws {
        guard let consumer = consumerBox.withLock({ $0 }) else { return }
        try await consumer.commit()
    }

    public func run() async throws {
        let consumer = try KafkaConsumer(configuration: configuration, logger: logger)
        try consumer.subscribe(topics)
        consumerBox.withLock { $0 = consumer }
        status.withLock { $0 = nil }
        logger.info("archive consuming", metadata: ["topics": "\(topics.joined(separator: ","))", "group": "\(configuration.groupId)"])
        let loop = Task {
            // Taken batches finish even during shutdown: their stages run in fresh tasks, which
            // are not cancelled with this one, and the loop waits for the last of them.
            var appending: Task<AppendOutcome?, Never>? = nil
            // Batches not yet finished, oldest first.
            var unfinished: [Task<Bool, Never>] = []
            while !Task.isCancelled {
                let batch = await consumer.nextBatch(max: self.batchSize)
                if batch.isEmpty { break }
                let receivedAt = Date()
                let messages = await self.read(batch, receivedAt: receivedAt)
                let previousAppend = appending
                let append = Task { () -> AppendOutcome? in
                    if let previousAppend, await previousAppend.value == nil { return nil }
                    return await self.append(messages)
                }
                let previousFinish = unfinished.last
                let finish = Task { () -> Bool in
                    var sent = false
                    if let outcome = await append.value {
                        sent = await self.sendReceipts(outcome, invalid: messages.count { !$0.valid }, at: receivedAt)
                    }
                    _ = await previousFinish?.value  // offsets are stored in batch order
                    for m in batch { sent ? consumer.markDone(m) : consumer.abandon(m) }
                    self.onProgress?()
                    return sent
                }
                appending = append
                unfinished.append(finish)
                // At most `Self.batchesInFlight` batches between the read and the offsets.
                if unfinished.count >= Self.batchesInFlight, await unfinished.removeFirst().value == false { break }
            }
            _ = await unfinished.last?.value
        }
        await withTaskCancellationHandler {
            await withGracefulShutdownHandler { await loop.value } onGracefulShutdown: {
                self.stop(loop)
            }
        } onCancel: {
            self.stop(loop)
        }
        status.withLock { $0 = "stopped" }
        await consumer.close()
        consumerBox.withLock { $0 = nil }
        logger.info("archive stopped consuming")
    }

    /// Stops taking batches and ends any retry back-off at once, so shutdown does not wait it out.
    private func stop(_ loop: Task<Void, Never>) {
        stopping.store(true, ordering: .relaxed)
        appendRetryWake.notify()
        receiptRetryWake.notify()
        loop.cancel()
    }

    /// Reads (validates) a batch, its first half on a child task, keeping its order.
    func read(_ batch: [KafkaConsumerMessage], receivedAt now: Date) async -> [IncomingMessage] {
        let intake = self.intake
        guard batch.count >= 64 else { return batch.map { intake.read($0, receivedAt: now) } }
        let first = batch[..<(batch.count / 2)]
        async let a = first.map { intake.read($0, receivedAt: now) }
        let b = batch[first.endIndex...].map { intake.read($0, receivedAt: now) }
        return await a + b
    }

    /// Appends a batch, retrying until it is stored; nil if the service stops first (the batch is
    /// then redelivered).
    func append(_ messages: [IncomingMessage]) async -> AppendOutcome? {
        await untilDone("could not store a batch; retrying (nothing is acknowledged until it is stored)", messages: messages.count,
                        wake: appendRetryWake) {
            let outcome = try await self.store.append(messages)
            if outcome.appended > 0 { self.appended.increment(by: outcome.appended) }
            if outcome.duplicates > 0 { self.duplicates.increment(by: outcome.duplicates) }
            for chain in outcome.newLogs {
                self.logger.notice("a topic-partition's log started again at a lower offset (a restarted embedded broker, or a recreated topic); its messages go on in a chain of their own",
                                   metadata: ["chain": "\(chain)"])
            }
            return outcome
        }
    }

    /// Sends a stored batch's receipts, retrying until they are acknowledged; false if the service
    /// stops first.
    func sendReceipts(_ outcome: AppendOutcome, invalid invalidCount: Int, at time: Date) async -> Bool {
        if invalidCount > 0 { invalid.increment(by: invalidCount) }
        return await untilDone("could not send a stored batch's receipts; retrying (its offsets wait for them)", messages: outcome.receipts.count,
                               wake: receiptRetryWake) {
            let timeText = ChinaTime.format(time)
            let records = outcome.receipts.map { r in
                InternalEvents.record(topic: self.receiptsTopic, key: r.eventId, id: "receipt-\(r.eventId)-\(r.entryHash.prefix(12))",
                                      type: ArchiveReceipt.type, service: "archive", time: timeText, json: r.jsonBytes)
            }
            if !records.isEmpty { _ = try await self.producer.sendAll(records) }
            return true
        } != nil
    }

    /// Runs `step` until it succeeds, backing off exponentially (100 ms to 10 s) between attempts;
    /// nil once the service is stopping and the step has failed. `wake` ends a back-off early
    /// (the service is stopping).
    func untilDone<T: Sendable>(_ what: String, messages: Int, wake: WakeSignal, _ step: @Sendable () async throws -> T) async -> T? {
        var delay = Duration.milliseconds(100)
        var attempt = 0
        while true {
            attempt += 1
            do {
                return try await step()
            } catch {
                if stopping.load(ordering: .relaxed) { return nil }
                logger.error("\(what)", metadata: ["messages": "\(messages)", "attempt": "\(attempt)", "error": "\(error)"])
                await wake.wait(timeout: delay)
                delay = min(delay * 2, .seconds(10))
            }
        }
    }
}

/// Publishes every chain's head to the receipts topic when it moved (key = chain), so a copy of
/// each head lives outside the archive's own file. Run by a `PeriodicService`.
public struct HeadPublisher: Sendable {
    public static let type = "cn.zhifa.archive.chainhead.v1"
    let store: any ArchiveStore
    let producer: KafkaProducer
    let topic: String
    let logger: Logger

    public init(store: any ArchiveStore, producer: KafkaProducer, topic: String, logger: Logger) {
        self.store = store
        self.producer = producer
        self.topic = topic
        self.logger = logger
    }

    /// Publishes the heads that moved since they were last published (the store records that).
    public func publishMoved() async {
        do {
            var moved: [ChainHead] = []
            for h in try await store.heads() {
                if try await store.publishedHead(h.chain)?.sequence != h.sequence { moved.append(h) }
            }
            guard !moved.isEmpty else { return }
            let records = try moved.map {
                try InternalEvents.record(topic: topic, key: $0.chain, id: "chainhead-\($0.chain)-\($0.sequence)", type: Self.type, service: "archive", payload: $0)
            }
            _ = try await producer.sendAll(records)
            try await store.recordPublished(moved)
        } catch is CancellationError {
            // A hard stop (not a graceful one): nothing is lost, the next start publishes them.
            logger.info("chain heads not published: the service was cancelled while stopping; the next start publishes them")
        } catch {
            logger.warning("could not publish chain heads yet; retrying at the next interval", metadata: ["error": "\(error)"])
        }
    }
}

/// Applies the retention schedule. Run by a `PeriodicService`.
public struct RetentionSweeper: Sendable {
    let store: any ArchiveStore
    let rules: RetentionRules
    let logger: Logger

    public init(store: any ArchiveStore, rules: RetentionRules, logger: Logger) {
        self.store = store
        self.rules = rules
        self.logger = logger
    }

    /// Removes expired payloads, leaving tombstones.
    public func sweep() async {
        do {
            let n = try await store.applyRetention(rules: rules, now: Date())
            if n > 0 { logger.notice("retention: payloads past their period removed, tombstones written", metadata: ["removed": "\(n)"]) }
        } catch is CancellationError {
            // Stopping: the next start sweeps again.
        } catch {
            logger.warning("retention sweep failed; will retry", metadata: ["error": "\(error)"])
        }
    }
}
