import CRdKafka
import DequeModule
import Foundation
import Logging

/// The consumer's shared state: the handoff buffer between the poll thread and the application,
/// the per-partition done-ledgers, and the rebalance procedure. Guarded by one condition lock.
final class ConsumerCore: @unchecked Sendable {
    let logger: Logger
    let capacity: Int
    let revokeDeadline: Duration
    let hooks: KafkaRebalanceHooks
    /// Set once before polling starts.
    var rk: OpaquePointer!
    /// False for assign-only readers: nothing is tracked or committed.
    var trackOffsets = true
    /// Partitions revoked while the poll thread was between `consumer_poll` calls (poll thread only).
    var revokedDuringPoll: Set<KafkaTopicPartition> = []

    private let cond = NSCondition()
    private var buffer = Deque<KafkaConsumerMessage>()
    /// The application task waiting for messages, with the time after which it takes "none" instead.
    private var waiter: (max: Int, deadline: ContinuousClock.Instant?, continuation: CheckedContinuation<[KafkaConsumerMessage], Never>)?
    private var pushing = true
    private var finished = false
    /// The assigned partitions' ledgers, by slot: a partition keeps its slot across assignments, and
    /// a message carries its slot, so a done-mark indexes instead of hashing (the epoch tells
    /// assignments apart). Nil while the slot's partition is not assigned.
    private var ledgerSlots: [PartitionLedger?] = []
    private var slotOf: [KafkaTopicPartition: Int32] = [:]
    private var nextEpoch: UInt64 = 1
    private var revokeWaiting = false
    private var storeHandles: [String: OpaquePointer] = [:]

    init(capacity: Int, revokeDeadline: Duration, hooks: KafkaRebalanceHooks, logger: Logger) {
        self.capacity = max(1, capacity)
        self.revokeDeadline = revokeDeadline
        self.hooks = hooks
        self.logger = logger
    }

    var bufferedCount: Int {
        cond.lock()
        defer { cond.unlock() }
        return buffer.count
    }

    // MARK: poll thread → application

    /// Adds polled messages, waiting while the buffer is full. Returns false once stopped.
    func push(_ batch: consuming [KafkaConsumerMessage]) -> Bool {
        var handoff: (CheckedContinuation<[KafkaConsumerMessage], Never>, [KafkaConsumerMessage])? = nil
        var batch = batch
        cond.lock()
        while buffer.count >= capacity && pushing { cond.wait() }
        guard pushing else {
            cond.unlock()
            return false
        }
        var last: PartitionLedger? = nil
        for i in batch.indices {
            if trackOffsets {
                if last == nil || last!.topicPartition.partition != batch[i].partition || last!.topicPartition.topic != batch[i].topic {
                    last = ledgerLocked(of: batch[i].topicPartition)
                }
                guard let ledger = last else { continue }  // not assigned (any more)
                // In place: the message's storage is referenced once, so this copies nothing.
                batch[i].assignmentEpoch = ledger.epoch
                batch[i].ledgerSlot = ledger.slot
                ledger.append(offset: batch[i].offset)
            }
            buffer.append(batch[i])
        }
        if let w = waiter, !buffer.isEmpty {
            waiter = nil
            handoff = (w.continuation, takeLocked(max: w.max))
        }
        cond.unlock()
        if let (c, msgs) = handoff { c.resume(returning: msgs) }
        return true
    }

    /// Takes up to `max` messages, waiting for at least one; empty once finished or, with a
    /// deadline, once it has passed (the poll thread checks it after every poll, so within the
    /// poll timeout).
    func popBatch(max: Int, deadline: ContinuousClock.Instant? = nil) async -> [KafkaConsumerMessage] {
        if let ready = tryTake(max: max, deadline: deadline) { return ready }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (c: CheckedContinuation<[KafkaConsumerMessage], Never>) in
                if let ready = takeOrWait(max: max, deadline: deadline, c) { c.resume(returning: ready) }
            }
        } onCancel: {
            cancelWaiter()
        }
    }

    /// Messages if any are buffered, `[]` if finished or past the deadline, nil if the caller must wait.
    private func tryTake(max: Int, deadline: ContinuousClock.Instant?) -> [KafkaConsumerMessage]? {
        cond.lock()
        defer { cond.unlock() }
        if !buffer.isEmpty { return takeLocked(max: max) }
        if let deadline, deadline <= .now { return [] }
        return finished ? [] : nil
    }

    /// Like `tryTake`, but registers the continuation instead of returning nil.
    private func takeOrWait(
        max: Int, deadline: ContinuousClock.Instant?, _ c: CheckedContinuation<[KafkaConsumerMessage], Never>
    ) -> [KafkaConsumerMessage]? {
        cond.lock()
        defer { cond.unlock() }
        if !buffer.isEmpty { return takeLocked(max: max) }
        if finished || Task.isCancelled { return [] }
        if let deadline, deadline <= .now { return [] }
        waiter = (max, deadline, c)
        return nil
    }

    /// Poll thread, after every poll: a waiter whose deadline has passed gets no messages.
    func expireWaiter(now: ContinuousClock.Instant) {
        cond.lock()
        guard let w = waiter, let deadline = w.deadline, deadline <= now else {
            cond.unlock()
            return
        }
        waiter = nil
        cond.unlock()
        w.continuation.resume(returning: [])
    }

    private func cancelWaiter() {
        cond.lock()
        let w = waiter
        waiter = nil
        cond.unlock()
        w?.continuation.resume(returning: [])
    }

    private func takeLocked(max: Int) -> [KafkaConsumerMessage] {
        let n = Swift.min(max, buffer.count)
        var out: [KafkaConsumerMessage] = []
        out.reserveCapacity(n)
        for _ in 0..<n { out.append(buffer.removeFirst()) }
        cond.signal()
        return out
    }

    // MARK: done-marks

    /// Offsets are passed to librdkafka once per this many finished messages of a partition (and
    /// whenever the partition has nothing pending, and before every commit on revoke or close).
    static let storeEvery: Int64 = 64

    func markDone(_ m: KafkaConsumerMessage) {
        cond.lock()
        defer { cond.unlock() }
        markDoneLocked(m)
        if revokeWaiting { cond.broadcast() }
    }

    /// Several messages under one acquisition of the lock: `body` calls `mark` for each.
    func markDone(batch body: (_ mark: (KafkaConsumerMessage) -> Void) -> Void) {
        cond.lock()
        defer { cond.unlock() }
        body { markDoneLocked($0) }
        if revokeWaiting { cond.broadcast() }
    }

    /// The ledger of the partition's current assignment, if it is assigned.
    private func ledgerLocked(of partition: KafkaTopicPartition) -> PartitionLedger? {
        slotOf[partition].flatMap { ledgerSlots[Int($0)] }
    }

    /// The live ledger of the assignment `m` was handed out under, if any.
    private func ledgerLocked(of m: KafkaConsumerMessage) -> PartitionLedger? {
        guard trackOffsets else { return nil }
        let found = m.ledgerSlot >= 0 ? ledgerSlots[Int(m.ledgerSlot)] : ledgerLocked(of: m.topicPartition)
        guard let ledger = found, ledger.alive, ledger.epoch == m.assignmentEpoch else { return nil }
        return ledger
    }

    private func markDoneLocked(_ m: KafkaConsumerMessage) {
        guard let ledger = ledgerLocked(of: m) else { return }
        if let upTo = ledger.markDone(offset: m.offset) {
            if ledger.entries.isEmpty || upTo - (ledger.lastStored ?? -1) >= Self.storeEvery {
                storeLocked(ledger)
            }
        }
    }

    /// Passes the partition's finished run to librdkafka's offset store.
    private func storeLocked(_ ledger: PartitionLedger) {
        guard let upTo = ledger.unstored else { return }
        let tp = ledger.topicPartition
        ledger.unstored = nil
        ledger.lastStored = upTo
        let err = rd_kafka_offset_store(storeHandleLocked(tp.topic), tp.partition, upTo)
        if err != RD_KAFKA_RESP_ERR_NO_ERROR {
            logger.warning("offset store failed; the message will be redelivered", metadata: [
                "partition": "\(tp)", "error": "\(String(cString: rd_kafka_err2name(err)))",
            ])
        }
    }

    /// Stores every finished run not yet stored (before a commit).
    func flushStores() {
        cond.lock()
        defer { cond.unlock() }
        for case let ledger? in ledgerSlots { storeLocked(ledger) }
    }

    func abandon(_ m: KafkaConsumerMessage) {
        cond.lock()
        defer { cond.unlock() }
        guard let ledger = ledgerLocked(of: m) else { return }
        ledger.abandon(offset: m.offset)
        if revokeWaiting { cond.broadcast() }
    }

    func assignmentEpochs(of partitions: [KafkaTopicPartition]) -> [KafkaTopicPartition: UInt64] {
        cond.lock()
        defer { cond.unlock() }
        var out: [KafkaTopicPartition: UInt64] = [:]
        for p in partitions { if let ledger = ledgerLocked(of: p) { out[p] = ledger.epoch } }
        return out
    }

    private func storeHandleLocked(_ topic: String) -> OpaquePointer? {
        if let h = storeHandles[topic] { return h }
        let h = rd_kafka_topic_new(rk, topic, nil)
        storeHandles[topic] = h
        return h
    }

    // MARK: rebalance (poll thread, inside rd_kafka_consumer_poll)

    func rebalance(rk: OpaquePointer, err: rd_kafka_resp_err_t, list: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>) {
        let partitions = (0..<Int(list.pointee.cnt)).map { i in
            let e = list.pointee.elems[i]
            return KafkaTopicPartition(topic: String(cString: e.topic), partition: e.partition)
        }
        let cooperative = String(cString: rd_kafka_rebalance_protocol(rk)) == "COOPERATIVE"
        switch err {
        case RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS:
            cond.lock()
            for p in partitions {
                let slot = slotOf[p] ?? {
                    let s = Int32(ledgerSlots.count)
                    ledgerSlots.append(nil)
                    slotOf[p] = s
                    return s
                }()
                let ledger = PartitionLedger(epoch: nextEpoch, topicPartition: p, slot: slot)
                ledgerSlots[Int(slot)] = ledger
                nextEpoch += 1
            }
            cond.unlock()
            if cooperative {
                if let e = rd_kafka_incremental_assign(rk, list) { logRebalanceError(KafkaError(code: .rebalance, consuming: e, detail: "incremental assign")) }
            } else {
                let e = rd_kafka_assign(rk, list)
                if e != RD_KAFKA_RESP_ERR_NO_ERROR { logRebalanceError(KafkaError(code: .rebalance, rdKafka: e, detail: "assign")) }
            }
            logger.info("partitions assigned", metadata: ["partitions": "\(partitions.count)"])
            hooks.assigned(partitions)
        case RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS:
            let lost = rd_kafka_assignment_lost(rk) != 0
            revokedDuringPoll.formUnion(partitions)
            hooks.revoking(partitions)
            revoke(partitions, lost: lost)
            if !lost && trackOffsets {
                let e = rd_kafka_commit(rk, nil, 0)
                if e != RD_KAFKA_RESP_ERR_NO_ERROR && e != RD_KAFKA_RESP_ERR__NO_OFFSET {
                    logger.warning("offset commit on revoke failed; the new owner may process some messages again (sinks are idempotent)", metadata: [
                        "error": "\(String(cString: rd_kafka_err2name(e)))",
                    ])
                }
            }
            if cooperative {
                if let e = rd_kafka_incremental_unassign(rk, list) { logRebalanceError(KafkaError(code: .rebalance, consuming: e, detail: "incremental unassign")) }
            } else {
                _ = rd_kafka_assign(rk, nil)
            }
            logger.info("partitions revoked", metadata: ["partitions": "\(partitions.count)", "lost": "\(lost)"])
        default:
            logRebalanceError(KafkaError(code: .rebalance, rdKafka: err, detail: "rebalance"))
            _ = rd_kafka_assign(rk, nil)
        }
    }

    /// Drops buffered messages of `partitions`, waits (bounded) for handed-out ones, forgets them.
    private func revoke(_ partitions: [KafkaTopicPartition], lost: Bool) {
        let set = Set(partitions)
        cond.lock()
        defer { cond.unlock() }
        dropBufferedLocked { set.contains($0.topicPartition) }
        if !lost {
            let deadline = Date().addingTimeInterval(Double(revokeDeadline.components.seconds) +
                Double(revokeDeadline.components.attoseconds) / 1e18)
            revokeWaiting = true
            while partitions.contains(where: { (ledgerLocked(of: $0)?.pendingCount ?? 0) > 0 }) {
                if !cond.wait(until: deadline) { break }
            }
            revokeWaiting = false
            let left = partitions.reduce(0) { $0 + (ledgerLocked(of: $1)?.pendingCount ?? 0) }
            if left > 0 {
                logger.warning("revoke deadline passed with messages still in flight; they will be redelivered to the new owner", metadata: [
                    "inFlight": "\(left)",
                ])
            }
        }
        for p in partitions {
            if let ledger = ledgerLocked(of: p) {
                storeLocked(ledger)
                ledger.alive = false
                ledgerSlots[Int(ledger.slot)] = nil
            }
        }
    }

    private func dropBufferedLocked(where predicate: (KafkaConsumerMessage) -> Bool) {
        var kept = Deque<KafkaConsumerMessage>()
        var firstDropped: [KafkaTopicPartition: Int64] = [:]
        for m in buffer {
            if predicate(m) {
                if firstDropped[m.topicPartition] == nil { firstDropped[m.topicPartition] = m.offset }
            } else {
                kept.append(m)
            }
        }
        buffer = kept
        for (tp, offset) in firstDropped { ledgerLocked(of: tp)?.dropTail(from: offset) }
        cond.broadcast()
    }

    private func logRebalanceError(_ error: KafkaError) {
        logger.error("rebalance step failed", metadata: ["error": "\(error)"])
    }

    // MARK: shutdown

    /// Stops the poll thread from pushing (wakes it if it waits for room).
    func stopPushing() {
        cond.lock()
        pushing = false
        cond.broadcast()
        cond.unlock()
    }

    /// Drops everything buffered; those messages are redelivered after the next start.
    func dropBuffered() {
        cond.lock()
        dropBufferedLocked { _ in true }
        cond.unlock()
    }

    func destroyStoreHandles() {
        cond.lock()
        for h in storeHandles.values { rd_kafka_topic_destroy(h) }
        storeHandles.removeAll()
        cond.unlock()
    }

    /// Ends the message sequence.
    func finish() {
        cond.lock()
        finished = true
        let w = waiter
        waiter = nil
        cond.unlock()
        w?.continuation.resume(returning: [])
    }
}

/// Poll-thread-only state: converts librdkafka messages and computes lag.
final class ConsumerPollLoop {
    let rk: OpaquePointer
    let core: ConsumerCore
    let logger: Logger
    private(set) var fatal = false
    private var topicNames: [UnsafeMutableRawPointer: String] = [:]
    private var lastTopic: (key: UnsafeMutableRawPointer?, name: String) = (nil, "")
    private var lastErrorLog: [Int32: ContinuousClock.Instant] = [:]

    init(rk: OpaquePointer, core: ConsumerCore, logger: Logger) {
        self.rk = rk
        self.core = core
        self.logger = logger
    }

    /// Waits up to `timeoutMs` for one message, then takes whatever else is ready, up to `max`.
    func pollBatch(timeoutMs: Int32, max: Int) -> [KafkaConsumerMessage] {
        var out: [KafkaConsumerMessage] = []
        guard let first = rd_kafka_consumer_poll(rk, timeoutMs) else {
            filterRevoked(&out)
            return out
        }
        take(first, into: &out)
        filterRevoked(&out)
        while out.count < max, let m = rd_kafka_consumer_poll(rk, 0) {
            take(m, into: &out)
            filterRevoked(&out)
        }
        return out
    }

    /// Messages polled before a revoke of their partition are not handed out (they are refetched).
    private func filterRevoked(_ out: inout [KafkaConsumerMessage]) {
        guard !core.revokedDuringPoll.isEmpty else { return }
        let revoked = core.revokedDuringPoll
        core.revokedDuringPoll = []
        out.removeAll { revoked.contains($0.topicPartition) }
    }

    private func take(_ msg: UnsafeMutablePointer<rd_kafka_message_t>, into out: inout [KafkaConsumerMessage]) {
        defer { rd_kafka_message_destroy(msg) }
        let m = msg.pointee
        if m.err != RD_KAFKA_RESP_ERR_NO_ERROR {
            report(m.err)
            return
        }
        let topic = topicName(m.rkt)
        var tsType = RD_KAFKA_TIMESTAMP_NOT_AVAILABLE
        let ts = rd_kafka_message_timestamp(msg, &tsType)
        out.append(KafkaConsumerMessage(
            topic: topic, partition: m.partition, offset: m.offset,
            timestamp: ts >= 0 ? Date(timeIntervalSince1970: Double(ts) / 1000) : nil,
            key: RDKafkaMessage.key(msg), value: RDKafkaMessage.value(msg), headers: RDKafkaMessage.headers(msg)))
    }

    private func topicName(_ rkt: OpaquePointer?) -> String {
        guard let rkt else { return "" }
        let key = UnsafeMutableRawPointer(rkt)
        // Consecutive messages mostly share a topic: no hashing for them.
        if key == lastTopic.key { return lastTopic.name }
        let n: String
        if let known = topicNames[key] {
            n = known
        } else {
            n = String(cString: rd_kafka_topic_name(rkt))
            topicNames[key] = n
        }
        lastTopic = (key, n)
        return n
    }

    private func report(_ err: rd_kafka_resp_err_t) {
        if err == RD_KAFKA_RESP_ERR__PARTITION_EOF { return }
        if err == RD_KAFKA_RESP_ERR__FATAL {
            fatal = true
            var buf = [CChar](repeating: 0, count: 512)
            let underlying = rd_kafka_fatal_error(rk, &buf, buf.count)
            logger.critical("fatal consumer error: the consumer stops; restart the service", metadata: [
                "error": "\(String(cString: rd_kafka_err2name(underlying)))",
            ])
            return
        }
        // Rate-limit repeated errors (e.g. a missing topic) to one line per code per 10 s.
        let now = ContinuousClock.now
        if let last = lastErrorLog[err.rawValue], now - last < .seconds(10) { return }
        lastErrorLog[err.rawValue] = now
        logger.warning("consumer error (librdkafka retries by itself)", metadata: [
            "error": "\(String(cString: rd_kafka_err2name(err)))",
            "reason": "\(String(cString: rd_kafka_err2str(err)))",
        ])
    }

    /// Sum over assigned partitions of high watermark minus position (local data, no requests).
    func currentLag() -> Int64 {
        var list: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>? = nil
        guard rd_kafka_assignment(rk, &list) == RD_KAFKA_RESP_ERR_NO_ERROR, let list else { return 0 }
        defer { rd_kafka_topic_partition_list_destroy(list) }
        guard list.pointee.cnt > 0 else { return 0 }
        _ = rd_kafka_position(rk, list)
        var total: Int64 = 0
        for i in 0..<Int(list.pointee.cnt) {
            let e = list.pointee.elems[i]
            var lo: Int64 = 0
            var hi: Int64 = 0
            guard rd_kafka_get_watermark_offsets(rk, e.topic, e.partition, &lo, &hi) == RD_KAFKA_RESP_ERR_NO_ERROR,
                  hi >= 0 else { continue }
            let position = e.offset >= 0 ? e.offset : lo
            total += Swift.max(0, hi - position)
        }
        return total
    }

    func destroy() {
        topicNames.removeAll()
        lastTopic = (nil, "")
    }
}
