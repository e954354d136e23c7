import CoreMetrics
import Foundation
import Logging
import ServiceLifecycle
import Synchronization
import ZhifaKafka

/// Handles one message and returns the records to produce because of it.
///
/// The worker produces the returned records and stores the message's offset only once every one
/// of them is acknowledged, so a crash in between redelivers the message: handlers must be
/// idempotent (keyed on `ce_id`) and return the same records (same `ce_id`s) when replayed.
/// Throw `PermanentFailure` for input that can never succeed (it is dead-lettered at once);
/// any other error is retried with exponential backoff, then dead-lettered.
public typealias MessageHandler = @Sendable (KafkaConsumerMessage) async throws -> [KafkaRecord]

/// The worker runtime every service uses: consume topics in a group, run a handler per message.
///
/// - keeps per-key order while running different keys and partitions concurrently;
/// - retries transient failures with backoff without blocking other keys;
/// - dead-letters what still fails to `<group>.dlq` with provenance headers, and also consumes
///   `<group>.retry`, where `zhifa dlq replay` puts dead letters back;
/// - on SIGTERM (graceful shutdown): stops taking, lets running handlers finish and their records
///   be acknowledged, stores and commits offsets, closes.
public final class KafkaWorker: Service, Sendable {
    /// The consumer group.
    public let group: String
    private let topics: [String]
    private let settings: WorkerSettings
    private let consumerConfiguration: KafkaConsumerConfiguration
    private let producer: KafkaProducer
    private let handler: MessageHandler
    private let metrics: WorkerMetrics
    private let logger: Logger
    private let status = Mutex<WorkerStatus>(.starting)
    private let consumerBox = Mutex<KafkaConsumer?>(nil)

    /// The worker's state, for `/readyz`.
    public enum WorkerStatus: Sendable, Equatable {
        case starting, running, stopping, stopped
        case failed(String)
    }

    /// Creates a worker for `group` over `topics` (its retry topic is added).
    public init(
        group: String, topics: [String], settings: WorkerSettings, consumer: KafkaConsumerConfiguration,
        producer: KafkaProducer, metricsFactory: any MetricsFactory, logger: Logger, handler: @escaping MessageHandler
    ) {
        self.group = group
        self.topics = topics
        self.settings = settings
        self.consumerConfiguration = consumer
        self.producer = producer
        self.handler = handler
        self.metrics = WorkerMetrics(group: group, factory: metricsFactory)
        var l = logger
        l[metadataKey: "group"] = "\(group)"
        self.logger = l
    }

    /// The current state.
    public var currentStatus: WorkerStatus { status.withLock { $0 } }

    /// Messages behind the end of the assigned partitions.
    public var lag: Int64 { consumerBox.withLock { $0?.lag } ?? 0 }

    /// Refreshes gauges that are read rather than counted (call before a scrape).
    public func refreshGauges() {
        if let c = consumerBox.withLock({ $0 }) { metrics.lag.record(c.lag) }
    }

    public func run() async throws {
        let scheduler = LaneScheduler(maxInFlight: settings.maxInFlight)
        let consumerHolder = ConsumerHolder()
        let hooks = KafkaRebalanceHooks(revoking: { partitions in
            guard let consumer = consumerHolder.consumer else { return }
            for m in scheduler.removeUnstarted(of: Set(partitions)) { consumer.abandon(m) }
        })
        let consumer: KafkaConsumer
        do {
            consumer = try KafkaConsumer(configuration: consumerConfiguration, hooks: hooks, logger: logger)
            consumerHolder.consumer = consumer
            try consumer.subscribe(topics + [TopicNames.retry(group)])
        } catch {
            status.withLock { $0 = .failed("\(error)") }
            throw error
        }
        consumerBox.withLock { $0 = consumer }
        status.withLock { $0 = .running }
        logger.info("worker started", metadata: ["topics": "\((topics + [TopicNames.retry(group)]).joined(separator: ","))"])

        let handlers = (0..<settings.concurrency).map { _ in
            Task { await self.handlerLoop(scheduler: scheduler, consumer: consumer) }
        }
        let dispatcher = Task { await self.dispatchLoop(scheduler: scheduler, consumer: consumer) }
        await withTaskCancellationHandler {
            await withGracefulShutdownHandler {
                await dispatcher.value
            } onGracefulShutdown: {
                dispatcher.cancel()
            }
        } onCancel: {
            dispatcher.cancel()
        }
        // Stop taking; drop what has not started; let running handlers finish.
        status.withLock { $0 = .stopping }
        for m in scheduler.removeUnstarted(of: nil) { consumer.abandon(m) }
        let deadline = settings.shutdownDeadline
        let drainedInTime = await withTaskGroup(of: Bool.self) { g in
            g.addTask { await scheduler.drained(); return true }
            g.addTask { try? await Task.sleep(for: deadline); return false }
            let first = await g.next()!
            g.cancelAll()
            return first
        }
        if !drainedInTime {
            logger.warning("shutdown deadline passed with messages in flight; they will be redelivered", metadata: [
                "inFlight": "\(scheduler.inFlight)",
            ])
        }
        scheduler.stop()
        for h in handlers { await h.value }
        await consumer.close()
        consumerBox.withLock { $0 = nil }
        status.withLock { $0 = .stopped }
        logger.info("worker stopped")
    }

    private func dispatchLoop(scheduler: LaneScheduler, consumer: KafkaConsumer) async {
        while !Task.isCancelled {
            await scheduler.waitForCapacity()
            let batch = await consumer.nextBatch(max: 256)
            if batch.isEmpty { break }
            if Task.isCancelled {
                for m in batch { consumer.abandon(m) }
                break
            }
            metrics.consumed.increment(by: Int64(batch.count))
            let now = ContinuousClock.now
            scheduler.submit(batch.map { WorkItem(message: $0, takenAt: now) })
            metrics.inFlight.record(scheduler.inFlight)
        }
    }

    private func handlerLoop(scheduler: LaneScheduler, consumer: KafkaConsumer) async {
        var next = await scheduler.next()
        while let (lane, item) = next {
            let handledHead = await handle(item, lane: lane, scheduler: scheduler, consumer: consumer)
            if handledHead {
                next = scheduler.advance(lane)
                if next == nil { next = await scheduler.next() }
            } else {
                next = await scheduler.next()
            }
        }
    }

    /// Runs the handler once; returns false when the lane was parked for a retry.
    private func handle(_ item: WorkItem, lane: LaneKey, scheduler: LaneScheduler, consumer: KafkaConsumer) async -> Bool {
        let view = DeadLetterRecord.handlerView(of: item.message)
        do {
            let outputs = try await handler(view)
            await produce(outputs, for: item, scheduler: scheduler, consumer: consumer)
            return true
        } catch let failure as PermanentFailure {
            await deadLetter(item, reason: failure.reason, attempts: item.attempts + 1, scheduler: scheduler, consumer: consumer)
            return true
        } catch {
            var retry = item
            retry.attempts += 1
            retry.firstFailure = retry.firstFailure ?? Date()
            let reason = (error as? any SafelyDescribedError)?.safeDescription ?? "handler error of type \(type(of: error))"
            if retry.attempts >= settings.maxAttempts {
                await deadLetter(retry, reason: reason, attempts: retry.attempts, scheduler: scheduler, consumer: consumer)
                return true
            }
            metrics.retried.increment()
            let delay = backoff(afterAttempt: retry.attempts)
            logger.notice("handler failed; retrying later", metadata: [
                "partition": "\(item.message.topicPartition)", "offset": "\(item.message.offset)",
                "attempt": "\(retry.attempts)", "retryInMs": "\(delay.components.seconds * 1000 + delay.components.attoseconds / 1_000_000_000_000_000)",
                "error": "\(reason)",
            ])
            if let id = scheduler.park(lane, head: retry) {
                Task {
                    try? await Task.sleep(for: delay)
                    scheduler.unpark(lane, id: id)
                }
            }
            return false
        }
    }

    private func backoff(afterAttempt attempt: Int) -> Duration {
        let factor = 1 << min(attempt - 1, 20)
        let d = settings.initialBackoff * factor
        return d > settings.maxBackoff ? settings.maxBackoff : d
    }

    private func deadLetter(_ item: WorkItem, reason: String, attempts: Int, scheduler: LaneScheduler, consumer: KafkaConsumer) async {
        let record = DeadLetterRecord.make(
            for: item.message, group: group, error: reason, attempts: attempts, firstFailure: item.firstFailure ?? Date())
        logger.warning("message dead-lettered", metadata: [
            "partition": "\(item.message.topicPartition)", "offset": "\(item.message.offset)",
            "deadLetterTopic": "\(record.topic)", "error": "\(reason)",
        ])
        metrics.deadLettered.increment()
        await produce([record], for: item, scheduler: scheduler, consumer: consumer)
    }

    /// Produces `records`; once all are acknowledged, the message is done and its offset stored.
    private func produce(_ records: [KafkaRecord], for item: WorkItem, scheduler: LaneScheduler, consumer: KafkaConsumer) async {
        let metrics = self.metrics
        let complete: @Sendable () -> Void = {
            consumer.markDone(item.message)
            scheduler.finished()
            metrics.processed.increment()
            metrics.latency.recordNanoseconds(Int64((ContinuousClock.now - item.takenAt) / .nanoseconds(1)))
        }
        if records.isEmpty {
            complete()
            return
        }
        let countdown = Countdown(records.count, complete)
        for record in records {
            await send(record, countdown: countdown, attempt: 1)
        }
    }

    private func send(_ record: KafkaRecord, countdown: Countdown, attempt: Int) async {
        do {
            try await producer.enqueue(record) { [self] result in
                switch result {
                case .success: countdown.tick()
                case .failure(let error):
                    logger.warning("record not acknowledged; sending it again", metadata: [
                        "topic": "\(record.topic)", "attempt": "\(attempt)", "error": "\(error)",
                    ])
                    Task {
                        try? await Task.sleep(for: self.backoff(afterAttempt: min(attempt, 8)))
                        await self.send(record, countdown: countdown, attempt: attempt + 1)
                    }
                }
            }
        } catch {
            // The producer is closed: the message stays unfinished and is redelivered after restart.
            logger.error("cannot produce: producer closed; the message will be redelivered", metadata: ["error": "\(error)"])
        }
    }
}

/// Runs an action after `count` ticks.
final class Countdown: Sendable {
    private let remaining: Atomic<Int>
    private let action: @Sendable () -> Void

    init(_ count: Int, _ action: @escaping @Sendable () -> Void) {
        remaining = Atomic(count)
        self.action = action
    }

    func tick() {
        if remaining.subtract(1, ordering: .acquiringAndReleasing).newValue == 0 { action() }
    }
}

/// Lets the rebalance hook reach the consumer it was created before.
final class ConsumerHolder: @unchecked Sendable {
    private let lock = NSLock()
    private var _consumer: KafkaConsumer?
    var consumer: KafkaConsumer? {
        get { lock.withLock { _consumer } }
        set { lock.withLock { _consumer = newValue } }
    }
}
