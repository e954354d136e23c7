import CoreMetrics
import DequeModule
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
    let producer: KafkaProducer
    private let handler: MessageHandler
    private let metrics: WorkerMetrics
    private let logger: Logger
    private let status = Mutex<WorkerStatus>(.starting)
    private let consumerBox = Mutex<KafkaConsumer?>(nil)
    /// Called after each batch of stored offsets (what `zhifa up`'s stop drain waits on).
    let onProgress: (@Sendable () -> Void)?

    /// The worker's state, for `/readyz`.
    public enum WorkerStatus: Sendable, Equatable {
        case starting, running, stopping, stopped
        case failed(String)
    }

    /// Creates a worker for `group` over `topics` (its retry topic is added); `onProgress` is
    /// called each time it has stored offsets.
    public init(
        group: String, topics: [String], settings: WorkerSettings, consumer: KafkaConsumerConfiguration,
        producer: KafkaProducer, metricsFactory: any MetricsFactory, logger: Logger, onProgress: (@Sendable () -> Void)? = nil,
        handler: @escaping MessageHandler
    ) {
        self.onProgress = onProgress
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

    /// Commits the offsets stored so far now, rather than at the next auto-commit.
    public func commitStoredOffsets() async throws {
        guard let consumer = consumerBox.withLock({ $0 }) else { return }
        try await consumer.commit()
    }

    /// Refreshes gauges that are read rather than counted (call before a scrape).
    public func refreshGauges() {
        if let c = consumerBox.withLock({ $0 }) { metrics.lag.record(c.lag) }
    }

    public func run() async throws {
        let scheduler = LaneScheduler(maxInFlight: settings.maxInFlight, concurrency: settings.concurrency)
        let consumerHolder = ConsumerHolder()
        let hooks = KafkaRebalanceHooks(revoking: { partitions in
            guard let consumer = consumerHolder.consumer else { return }
            let epochs = consumer.assignmentEpochs(of: partitions)
            for m in scheduler.revoke(Set(partitions), epochs: epochs) { consumer.abandon(m) }
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

        let run = WorkerRun(worker: self, consumer: consumer, scheduler: scheduler, metrics: metrics)
        let handlers = (0..<settings.concurrency).map { _ in
            Task { await self.handlerLoop(run) }
        }
        let dispatcher = Task { await self.dispatchLoop(run) }
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
        let drainedInTime = await scheduler.drained(within: deadline)
        if !drainedInTime {
            logger.warning("shutdown deadline passed with messages in flight; they will be redelivered", metadata: [
                "inFlight": "\(scheduler.inFlight)",
            ])
            // Their records may still be acknowledged (or failed) later, and their messages
            // reach the run without holding it: it must never be freed.
            _ = Unmanaged.passRetained(run)
        }
        scheduler.stop()
        for h in handlers { await h.value }
        // In-flight messages refer to the run without holding it (see `InFlightMessage.run`).
        withExtendedLifetime(run) {}
        await consumer.close()
        consumerBox.withLock { $0 = nil }
        status.withLock { $0 = .stopped }
        logger.info("worker stopped")
    }

    private func dispatchLoop(_ run: WorkerRun) async {
        let (scheduler, consumer) = (run.scheduler, run.consumer)
        while !Task.isCancelled {
            await scheduler.waitForCapacity()
            let batch = await consumer.nextBatch(max: 1024)
            if batch.isEmpty { break }
            if Task.isCancelled {
                for m in batch { consumer.abandon(m) }
                break
            }
            metrics.consumed.increment(by: Int64(batch.count))
            let now = DispatchTime.now().uptimeNanoseconds
            for m in scheduler.submit(batch.map { InFlightMessage(message: $0, takenAt: now, run: run) }) { consumer.abandon(m) }
            metrics.inFlight.record(scheduler.inFlight)
        }
    }

    private func handlerLoop(_ run: WorkerRun) async {
        var batch = await run.scheduler.next()
        while !batch.isEmpty {
            var handled: [InFlightMessage] = []
            handled.reserveCapacity(batch.count)
            for item in batch {
                if await handle(item) { handled.append(item) }
            }
            batch = run.scheduler.advance(handled)
            if batch.isEmpty { batch = await run.scheduler.next() }
        }
    }

    /// Runs the handler once; returns false when the lane was parked for a retry.
    private func handle(_ item: InFlightMessage) async -> Bool {
        let view = DeadLetterRecord.handlerView(of: item.message)
        do {
            let outputs = try await handler(view)
            // Handled: from here on only the message's coordinates are needed (for its done-mark).
            // Its bytes go with `view` and `outputs` at the end of this call, on this thread, which
            // touched them last, rather than on the thread that serves the delivery reports.
            item.dropPayload()
            if !produceWithoutWaiting(outputs, for: item) { await produce(outputs, for: item) }
            return true
        } catch let failure as PermanentFailure {
            item.attempts += 1
            await deadLetter(item, reason: failure.reason)
            return true
        } catch {
            item.attempts += 1
            item.firstFailure = item.firstFailure ?? Date()
            let reason = (error as? any SafelyDescribedError)?.safeDescription ?? "handler error of type \(type(of: error))"
            if item.attempts >= settings.maxAttempts {
                await deadLetter(item, reason: reason)
                return true
            }
            metrics.retried.increment()
            let delay = backoff(afterAttempt: item.attempts)
            logger.notice("handler failed; retrying later", metadata: [
                "partition": "\(item.message.topicPartition)", "offset": "\(item.message.offset)",
                "attempt": "\(item.attempts)", "retryInMs": "\(delay.components.seconds * 1000 + delay.components.attoseconds / 1_000_000_000_000_000)",
                "error": "\(reason)",
            ])
            let scheduler = item.run.scheduler
            if scheduler.park(item) {
                runAfter(delay) { scheduler.unpark(item) }
            }
            return false
        }
    }

    private func backoff(afterAttempt attempt: Int) -> Duration {
        let factor = 1 << min(attempt - 1, 20)
        let d = settings.initialBackoff * factor
        return d > settings.maxBackoff ? settings.maxBackoff : d
    }

    private func deadLetter(_ item: InFlightMessage, reason: String) async {
        let record = DeadLetterRecord.make(
            for: item.message, group: group, error: reason, attempts: item.attempts, firstFailure: item.firstFailure ?? Date())
        logger.warning("message dead-lettered", metadata: [
            "partition": "\(item.message.topicPartition)", "offset": "\(item.message.offset)",
            "deadLetterTopic": "\(record.topic)", "error": "\(reason)",
        ])
        metrics.deadLettered.increment()
        await produce([record], for: item)
    }

    /// The common cases with no suspension point: no output, or one output that librdkafka's
    /// queue has room for. Returns false with nothing sent otherwise (then `produce` does it all).
    private func produceWithoutWaiting(_ records: [KafkaRecord], for item: InFlightMessage) -> Bool {
        switch records.count {
        case 0:
            item.complete()
            return true
        case 1:
            item.expectOne()
            return (try? producer.tryEnqueue(records[0], listener: item)) ?? false
        default:
            return false
        }
    }

    /// Produces `records`; once all are acknowledged, the message is done and its offset stored.
    private func produce(_ records: [KafkaRecord], for item: InFlightMessage) async {
        switch records.count {
        case 0: item.complete()
        case 1:
            item.expectOne()
            await send(records[0], listener: item)
        default:
            item.expect(outputs: records.count)
            for record in records {
                await send(record, listener: OutputDelivery(completion: item, attempt: 1))
            }
        }
    }

    /// Hands the record to the producer: at once when its local queue has room (no suspension on
    /// the hot path), otherwise after waiting for room.
    fileprivate func send(_ record: KafkaRecord, listener: KafkaDeliveryListener) async {
        do {
            if try producer.tryEnqueue(record, listener: listener) { return }
            try await producer.enqueue(record, listener: listener)
        } catch {
            // The producer is closed: the message stays unfinished and is redelivered after restart.
            logger.error("cannot produce: producer closed; the message will be redelivered", metadata: ["error": "\(error)"])
        }
    }

    fileprivate func redeliver(_ record: KafkaRecord, completion: InFlightMessage, attempt: Int, error: KafkaError) {
        logger.warning("record not acknowledged; sending it again", metadata: [
            "topic": "\(record.topic)", "attempt": "\(attempt)", "error": "\(error)",
        ])
        runAfter(backoff(afterAttempt: min(attempt, 8))) {
            Task { await self.send(record, listener: OutputDelivery(completion: completion, attempt: attempt + 1)) }
        }
    }
}

/// What every in-flight message of one worker run refers to.
///
/// Messages whose outputs were acknowledged are finished in batches: the delivery report only
/// queues the message here, and once the producer has served the batch of reports it came in,
/// `deliveriesServed` stores their offsets under one lock, counts them once and reads the clock once.
final class WorkerRun: KafkaDeliveryBatchObserver, Sendable {
    let worker: KafkaWorker
    let consumer: KafkaConsumer
    let scheduler: LaneScheduler
    let metrics: WorkerMetrics
    private let acknowledged = Mutex<[InFlightMessage]>([])

    init(worker: KafkaWorker, consumer: KafkaConsumer, scheduler: LaneScheduler, metrics: WorkerMetrics) {
        self.worker = worker
        self.consumer = consumer
        self.scheduler = scheduler
        self.metrics = metrics
    }

    /// Called from a delivery report: `item`'s outputs are all acknowledged.
    func finishAfterBatch(_ item: InFlightMessage) {
        let first = acknowledged.withLock { list in
            list.append(item)
            return list.count == 1
        }
        if first { worker.producer.notifyAfterServing(self) }
    }

    func deliveriesServed() {
        let items = acknowledged.withLock { list -> [InFlightMessage] in
            defer { list = [] }
            return list
        }
        finish(items)
    }

    /// The messages' effects are durable: store their offsets.
    func finish(_ items: [InFlightMessage]) {
        guard !items.isEmpty else { return }
        consumer.markDone { mark in for item in items { mark(item.message) } }
        worker.onProgress?()
        scheduler.finished(items.count)
        metrics.processed.increment(by: Int64(items.count))
        let now = DispatchTime.now().uptimeNanoseconds
        for item in items { metrics.latency.recordNanoseconds(Int64(truncatingIfNeeded: now &- item.takenAt)) }
    }
}

/// One consumed message in the worker's hands, from being taken until its effects are durable.
///
/// It is also the delivery listener of its single output record, so the hot path allocates one
/// object per message. `message`, `attempts` and `firstFailure` change only while its lane runs it.
final class InFlightMessage: KafkaDeliveryListener, LaneTableEntry, @unchecked Sendable {
    /// The message; once handled, its coordinates only (`dropPayload`).
    private(set) var message: KafkaConsumerMessage
    /// Its lane: the partition and key (hashed once, here, outside the scheduler's lock).
    let laneKey: LaneKey
    /// While it heads its lane: the lane's state and the messages of its key queued behind it
    /// (the scheduler's; changed only under its lock).
    var laneState: LaneScheduler.LaneState = .ready
    var queuedBehind: Deque<InFlightMessage>? = nil
    /// When the dispatcher took it, in monotonic nanoseconds (`DispatchTime`), for the processing-time metric.
    let takenAt: UInt64
    /// Not retained: a count on one object shared by every message, taken on the dispatcher's
    /// thread and dropped on the delivery thread, cost more than the rest of the message's
    /// bookkeeping. `KafkaWorker.run()` keeps the run alive until no message is in flight (and
    /// for good, if its drain deadline passes), and timers that outlive a message capture the
    /// run themselves.
    unowned(unsafe) let run: WorkerRun
    var attempts = 0
    var firstFailure: Date? = nil
    private let remaining = Atomic<Int>(0)

    init(message: KafkaConsumerMessage, takenAt: UInt64, run: WorkerRun) {
        self.message = message
        self.laneKey = LaneKey(topicPartition: message.topicPartition, key: message.key)
        self.takenAt = takenAt
        self.run = run
    }

    /// Once handled: keeps what the done-mark needs and lets the bytes go.
    func dropPayload() {
        message = message.withoutPayload
    }

    /// Before producing one output with this object as its listener.
    func expectOne() {
        remaining.store(1, ordering: .releasing)
    }

    /// Before producing several outputs, each with its own `OutputDelivery`.
    func expect(outputs: Int) {
        remaining.store(outputs, ordering: .releasing)
    }

    /// The single output was acknowledged (failures come through `failed`).
    override func delivered(partition: Int32, offset: Int64, error: KafkaError?) {
        outputDelivered()
    }

    /// The single output could not be delivered: send it again, rebuilt by the producer.
    override func failed(_ record: KafkaRecord, error: KafkaError) {
        run.worker.redeliver(record, completion: self, attempt: 1, error: error)
    }

    /// One output acknowledged (on the thread serving delivery reports); the last one finishes
    /// the message with the rest of its batch.
    func outputDelivered() {
        if remaining.subtract(1, ordering: .acquiringAndReleasing).newValue == 0 { run.finishAfterBatch(self) }
    }

    /// No outputs: the message's effects are durable now.
    func complete() {
        run.finish([self])
    }
}

/// The delivery report of one of several output records.
final class OutputDelivery: KafkaDeliveryListener, @unchecked Sendable {
    let completion: InFlightMessage
    let attempt: Int

    init(completion: InFlightMessage, attempt: Int) {
        self.completion = completion
        self.attempt = attempt
    }

    /// Acknowledged (failures come through `failed`).
    override func delivered(partition: Int32, offset: Int64, error: KafkaError?) {
        completion.outputDelivered()
    }

    override func failed(_ record: KafkaRecord, error: KafkaError) {
        completion.run.worker.redeliver(record, completion: completion, attempt: attempt, error: error)
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
