import CRdKafka
import Foundation
import Logging
import Synchronization

/// Hooks the consumer calls on its poll thread when the group changes its assignment.
public struct KafkaRebalanceHooks: Sendable {
    /// Partitions just assigned to this member.
    public var assigned: @Sendable ([KafkaTopicPartition]) -> Void
    /// Partitions about to be revoked: drop queued, not-yet-started work of these partitions
    /// (calling `KafkaConsumer.abandon`), and let started work finish; the revoke waits for it.
    public var revoking: @Sendable ([KafkaTopicPartition]) -> Void

    /// Creates hooks.
    public init(
        assigned: @escaping @Sendable ([KafkaTopicPartition]) -> Void = { _ in },
        revoking: @escaping @Sendable ([KafkaTopicPartition]) -> Void = { _ in }
    ) {
        self.assigned = assigned
        self.revoking = revoking
    }
}

/// A start position for a manually assigned partition.
public struct KafkaPartitionStart: Sendable {
    /// Topic and partition.
    public var topicPartition: KafkaTopicPartition
    /// Offset to start at, or `beginning` / `end`.
    public var offset: Int64

    /// Start at the earliest retained message.
    public static let beginning: Int64 = Int64(RD_KAFKA_OFFSET_BEGINNING)
    /// Start after the last message.
    public static let end: Int64 = Int64(RD_KAFKA_OFFSET_END)

    /// Creates a start position.
    public init(_ topicPartition: KafkaTopicPartition, offset: Int64) {
        self.topicPartition = topicPartition
        self.offset = offset
    }
}

/// A Kafka consumer over librdkafka, at-least-once by default.
///
/// - Group membership with `subscribe`; or manual `assign` for readers such as `zhifa tail`.
/// - Messages arrive as an `AsyncSequence` (`messages`) or in batches (`nextBatch`).
/// - `enable.auto.offset.store=false`: the application calls `markDone` when a message's effects
///   are durable; the consumer stores the offset of the contiguous finished run per partition and
///   auto-commits stored offsets.
/// - On revoke, buffered messages of the revoked partitions are dropped, started ones are given
///   until `revokeDeadline` to finish, their offsets are stored and committed, then the revoke
///   completes.
/// - One poll loop on a dedicated thread; the main queue is forwarded to the consumer queue.
public final class KafkaConsumer: Sendable {
    private let handle: RDKafkaHandle
    private let core: ConsumerCore
    private let control = PollControl()
    private let closeStarted = Atomic<Bool>(false)
    private let closed = OneShot<Void>()
    private let started = Atomic<Bool>(false)
    private let logger: Logger

    /// Creates a consumer. Call `subscribe` or `assign` to start it.
    public init(
        configuration: KafkaConsumerConfiguration, hooks: KafkaRebalanceHooks = KafkaRebalanceHooks(),
        logger: Logger
    ) throws(KafkaError) {
        self.logger = logger
        let core = ConsumerCore(
            capacity: configuration.bufferCapacity, revokeDeadline: configuration.revokeDeadline, hooks: hooks,
            logger: logger)
        self.core = core
        let conf = try RDKafkaConf.make(configuration.librdkafkaProperties())
        self.handle = try RDKafkaHandle(kind: RD_KAFKA_CONSUMER, conf: conf, logger: logger) { rk, err, list in
            core.rebalance(rk: rk, err: err, list: list)
        }
        core.rk = handle.rk
        rd_kafka_poll_set_consumer(handle.rk)
    }

    /// Joins the consumer group and subscribes to `topics`.
    public func subscribe(_ topics: [String]) throws(KafkaError) {
        let list = rd_kafka_topic_partition_list_new(Int32(topics.count))!
        defer { rd_kafka_topic_partition_list_destroy(list) }
        for t in topics { rd_kafka_topic_partition_list_add(list, t, RD_KAFKA_PARTITION_UA) }
        let err = rd_kafka_subscribe(handle.rk, list)
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR else {
            throw KafkaError(code: .subscription, rdKafka: err, detail: "subscribe to \(topics.joined(separator: ","))")
        }
        startPolling()
    }

    /// Reads the given partitions without joining a group (no offsets are committed).
    public func assign(_ starts: [KafkaPartitionStart]) throws(KafkaError) {
        let list = rd_kafka_topic_partition_list_new(Int32(starts.count))!
        defer { rd_kafka_topic_partition_list_destroy(list) }
        for s in starts {
            let e = rd_kafka_topic_partition_list_add(list, s.topicPartition.topic, s.topicPartition.partition)!
            e.pointee.offset = s.offset
        }
        core.trackOffsets = false
        let err = rd_kafka_assign(handle.rk, list)
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR else {
            throw KafkaError(code: .subscription, rdKafka: err, detail: "assign")
        }
        startPolling()
    }

    /// The messages, in partition order. Ends when the consumer is closed.
    public var messages: KafkaConsumerMessages { KafkaConsumerMessages(core: core) }

    /// Up to `max` messages, waiting for at least one; empty once the consumer is closed.
    public func nextBatch(max: Int) async -> [KafkaConsumerMessage] { await core.popBatch(max: max) }

    /// Up to `max` messages, waiting for at least one until `deadline`; empty once the deadline
    /// has passed or the consumer is closed. The poll thread ends the wait (it checks after every
    /// poll of at most 100 ms), so no timer or extra task is involved.
    public func nextBatch(max: Int, until deadline: ContinuousClock.Instant) async -> [KafkaConsumerMessage] {
        await core.popBatch(max: max, deadline: deadline)
    }

    /// Marks a message done: its effects are durable. Stores the partition's offset once every
    /// earlier message handed out is done too. Marks from a previous assignment are ignored.
    public func markDone(_ message: KafkaConsumerMessage) {
        core.markDone(message)
    }

    /// Marks several messages done at once, one lock for the lot: `body` calls `mark` with each
    /// (same rules as `markDone(_:)`; a closure rather than a generic sequence, so the caller's
    /// loop runs at full speed across modules). Keep `body` short: the consumer is locked.
    public func markDone(batch body: (_ mark: (KafkaConsumerMessage) -> Void) -> Void) {
        core.markDone(batch: body)
    }

    /// Marks a message that this member will not process (its partition is being revoked).
    public func abandon(_ message: KafkaConsumerMessage) {
        core.abandon(message)
    }

    /// The assignment epoch of each of `partitions` this member holds. Every assignment of a
    /// partition gets a larger epoch than the one before, and its messages carry it
    /// (`assignmentEpoch`), so a revoking hook can tell which messages still on their way are of
    /// the assignment being revoked. Empty without offset tracking.
    public func assignmentEpochs(of partitions: [KafkaTopicPartition]) -> [KafkaTopicPartition: UInt64] {
        core.assignmentEpochs(of: partitions)
    }

    /// Stops fetching the given partitions (messages already buffered are still delivered).
    public func pause(_ partitions: [KafkaTopicPartition]) throws(KafkaError) {
        try pauseResume(partitions, pause: true)
    }

    /// Resumes fetching the given partitions.
    public func resume(_ partitions: [KafkaTopicPartition]) throws(KafkaError) {
        try pauseResume(partitions, pause: false)
    }

    /// Commits the stored offsets now (off the cooperative pool).
    public func commit() async throws(KafkaError) {
        core.flushStores()
        let handle = self.handle
        let err = await DedicatedThread.run(name: "zk:commit") { rd_kafka_commit(handle.rk, nil, 0) }
        if err != RD_KAFKA_RESP_ERR_NO_ERROR && err != RD_KAFKA_RESP_ERR__NO_OFFSET {
            throw KafkaError(code: .commit, rdKafka: err, detail: "commit")
        }
    }

    /// Partitions currently assigned.
    public func assignment() -> [KafkaTopicPartition] {
        var list: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>? = nil
        guard rd_kafka_assignment(handle.rk, &list) == RD_KAFKA_RESP_ERR_NO_ERROR, let list else { return [] }
        defer { rd_kafka_topic_partition_list_destroy(list) }
        return (0..<Int(list.pointee.cnt)).map { i in
            let e = list.pointee.elems[i]
            return KafkaTopicPartition(topic: String(cString: e.topic), partition: e.partition)
        }
    }

    /// Messages behind the end of the assigned partitions (updated about once a second).
    public var lag: Int64 { control.lag.load(ordering: .relaxed) }

    /// Messages fetched and waiting to be taken.
    public var buffered: Int { core.bufferedCount }

    /// Commits stored offsets, leaves the group, and destroys the client.
    ///
    /// Take no more messages and finish the ones in hand (`markDone`) before calling this:
    /// buffered messages are dropped and redelivered later, never lost.
    public func close() async {
        guard !closeStarted.exchange(true, ordering: .acquiringAndReleasing) else {
            await closed.value
            return
        }
        if !started.load(ordering: .acquiring) {
            // Never polled: close on a dedicated thread here.
            let handle = self.handle
            let core = self.core
            await DedicatedThread.run(name: "zk:cons-close") {
                Self.shutdown(handle: handle, core: core)
            }
            closed.fulfill(())
            return
        }
        control.running.store(false, ordering: .releasing)
        core.stopPushing()
        await closed.value
    }

    private func startPolling() {
        guard !started.exchange(true, ordering: .acquiringAndReleasing) else { return }
        let handle = self.handle
        let core = self.core
        let control = self.control
        let closed = self.closed
        let logger = self.logger
        _ = DedicatedThread.start(name: "zk:cons-poll") {
            let loop = ConsumerPollLoop(rk: handle.rk, core: core, logger: logger)
            var lastLag = ContinuousClock.now
            while control.running.load(ordering: .acquiring) {
                let batch = loop.pollBatch(timeoutMs: 100, max: 1024)
                if !batch.isEmpty, !core.push(consume batch) { break }
                let now = ContinuousClock.now
                core.expireWaiter(now: now)
                if now - lastLag >= .seconds(1) {
                    lastLag = now
                    control.lag.store(loop.currentLag(), ordering: .relaxed)
                }
                if loop.fatal { break }
            }
            Self.shutdown(handle: handle, core: core)
            loop.destroy()
            closed.fulfill(())
        }
    }

    /// Final sequence, on the poll thread: drop the buffer, commit, leave the group, destroy.
    private static func shutdown(handle: RDKafkaHandle, core: ConsumerCore) {
        core.stopPushing()
        core.dropBuffered()
        core.flushStores()
        if core.trackOffsets {
            let err = rd_kafka_commit(handle.rk, nil, 0)
            if err != RD_KAFKA_RESP_ERR_NO_ERROR && err != RD_KAFKA_RESP_ERR__NO_OFFSET {
                core.logger.warning("final offset commit failed; uncommitted messages will be redelivered", metadata: [
                    "error": "\(String(cString: rd_kafka_err2name(err)))",
                ])
            }
        }
        _ = rd_kafka_consumer_close(handle.rk)
        core.destroyStoreHandles()
        handle.destroy()
        core.finish()
    }

    private func pauseResume(_ partitions: [KafkaTopicPartition], pause: Bool) throws(KafkaError) {
        let list = rd_kafka_topic_partition_list_new(Int32(partitions.count))!
        defer { rd_kafka_topic_partition_list_destroy(list) }
        for p in partitions { rd_kafka_topic_partition_list_add(list, p.topic, p.partition) }
        let err = pause ? rd_kafka_pause_partitions(handle.rk, list) : rd_kafka_resume_partitions(handle.rk, list)
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR else {
            throw KafkaError(code: .consume, rdKafka: err, detail: pause ? "pause" : "resume")
        }
    }
}

/// The consumer's messages as an `AsyncSequence`.
public struct KafkaConsumerMessages: AsyncSequence, Sendable {
    public typealias Element = KafkaConsumerMessage
    let core: ConsumerCore

    /// Iterates the messages; ends when the consumer closes.
    public struct AsyncIterator: AsyncIteratorProtocol {
        let core: ConsumerCore
        public mutating func next() async -> KafkaConsumerMessage? { await core.popBatch(max: 1).first }
    }

    public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(core: core) }
}
