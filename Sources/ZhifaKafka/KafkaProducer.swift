import CRdKafka
import Foundation
import Logging
import Synchronization

/// A Kafka producer over librdkafka: idempotent, `acks=all`, with backpressure.
///
/// One dedicated thread serves the client's events (delivery reports, errors); nothing here
/// blocks Swift's cooperative pool. When librdkafka's local queue is full, `send` and `enqueue`
/// wait for room instead of dropping the record.
public final class KafkaProducer: Sendable {
    /// Called once per record with where it landed or why it could not be delivered.
    public typealias DeliveryHandler = @Sendable (Result<KafkaDeliveryReport, KafkaError>) -> Void

    private let handle: RDKafkaHandle
    private let topics = Mutex<[(String, RDKafkaTopicHandle)]>([])
    private let space = ProducerSpace()
    private let control = PollControl()
    private let pollThread: Mutex<DedicatedThread?> = Mutex(nil)
    private let closed = OneShot<Void>()
    private let afterServing = DeliveryBatchObservers()
    private let logger: Logger

    /// Creates and starts a producer.
    public init(configuration: KafkaProducerConfiguration, logger: Logger) throws(KafkaError) {
        self.logger = logger
        let conf = try RDKafkaConf.make(configuration.librdkafkaProperties())
        rd_kafka_conf_set_dr_msg_cb(conf) { rk, message, _ in
            guard let message else { return }
            guard let opaque = message.pointee._private else {
                let m = message.pointee
                if m.err != RD_KAFKA_RESP_ERR_NO_ERROR, let ctx = RDKafkaClientContext.from(rk) {
                    ctx.unobservedDeliveryFailed(topic: m.rkt.map { String(cString: rd_kafka_topic_name($0)) } ?? "?", error: m.err)
                }
                return
            }
            let listener = Unmanaged<KafkaDeliveryListener>.fromOpaque(opaque).takeRetainedValue()
            let m = message.pointee
            if m.err == RD_KAFKA_RESP_ERR_NO_ERROR {
                listener.delivered(partition: m.partition, offset: m.offset, error: nil)
            } else {
                let record = KafkaRecord(undelivered: message)
                listener.failed(record, error: KafkaError(code: .delivery, rdKafka: m.err, detail: "delivery to \(record.topic) failed"))
            }
        }
        self.handle = try RDKafkaHandle(kind: RD_KAFKA_PRODUCER, conf: conf, logger: logger)
        let handle = self.handle
        let space = self.space
        let control = self.control
        let afterServing = self.afterServing
        let thread = DedicatedThread.start(name: "zk:prod-poll") {
            while control.running.load(ordering: .acquiring) {
                let served = rd_kafka_poll(handle.rk, 100)
                afterServing.notify()
                if served > 0 { space.signal() }
            }
        }
        pollThread.withLock { $0 = thread }
    }

    /// Produces a record and returns once the broker has acknowledged it (`acks=all`).
    public func send(_ record: KafkaRecord) async throws(KafkaError) -> KafkaDeliveryReport {
        let result = OneShot<Result<KafkaDeliveryReport, KafkaError>>()
        try await enqueue(record) { result.fulfill($0) }
        return try await result.value.get()
    }

    /// Produces several records and returns once every one is acknowledged, in order of `records`.
    public func sendAll(_ records: [KafkaRecord]) async throws(KafkaError) -> [KafkaDeliveryReport] {
        var waits: [OneShot<Result<KafkaDeliveryReport, KafkaError>>] = []
        for record in records {
            let r = OneShot<Result<KafkaDeliveryReport, KafkaError>>()
            try await enqueue(record) { r.fulfill($0) }
            waits.append(r)
        }
        var reports: [KafkaDeliveryReport] = []
        for w in waits { reports.append(try await w.value.get()) }
        return reports
    }

    /// Hands a record to librdkafka and returns without waiting for delivery (fire-and-forget).
    ///
    /// Waits only while the local queue is full. `onDelivery`, if given, runs on the poll thread
    /// with the delivery report; keep it short.
    /// Without `onDelivery` nothing is allocated per record: the report finds no listener.
    public func enqueue(_ record: KafkaRecord, onDelivery: DeliveryHandler? = nil) async throws(KafkaError) {
        try await enqueueWaiting(record, listener: onDelivery.map { DeliveryBox(topic: record.topic, handler: $0) })
    }

    /// Like `enqueue(_:onDelivery:)`, with a listener object instead of a closure.
    public func enqueue(_ record: KafkaRecord, listener: KafkaDeliveryListener) async throws(KafkaError) {
        try await enqueueWaiting(record, listener: listener)
    }

    private func enqueueWaiting(_ record: KafkaRecord, listener: KafkaDeliveryListener?) async throws(KafkaError) {
        while true {
            let generation = space.generation
            if try tryProduce(record, listener: listener) { return }
            await space.wait(after: generation)
        }
    }

    /// Hands a record to librdkafka if its local queue has room and returns true; returns false,
    /// with nothing queued, when the queue is full (then `enqueue(_:listener:)` waits for room).
    ///
    /// The hot paths call this first: it costs no suspension point when there is room.
    public func tryEnqueue(_ record: KafkaRecord, listener: KafkaDeliveryListener) throws(KafkaError) -> Bool {
        try tryProduce(record, listener: listener)
    }

    /// `tryEnqueue`, where a nil listener means nobody waits for the delivery report.
    private func tryProduce(_ record: KafkaRecord, listener: KafkaDeliveryListener?) throws(KafkaError) -> Bool {
        guard control.running.load(ordering: .relaxed) else {
            throw KafkaError(code: .closed, detail: "producer is closed")
        }
        let rkt = try topicHandle(record.topic)
        let opaque = listener.map { Unmanaged.passRetained($0).toOpaque() }
        let err = produce(record, rkt: rkt, opaque: opaque)
        if err == RD_KAFKA_RESP_ERR_NO_ERROR { return true }
        if let opaque { Unmanaged<KafkaDeliveryListener>.fromOpaque(opaque).release() }
        if err == RD_KAFKA_RESP_ERR__QUEUE_FULL {
            space.noteFull()
            return false
        }
        throw KafkaError(code: .produce, rdKafka: err, detail: "produce to \(record.topic) failed")
    }

    /// Hands a record to librdkafka without waiting at all; throws `queueFull`-style retriable error
    /// when the local queue has no room. For callers on their own threads (paced load generators).
    public func enqueueNow(_ record: KafkaRecord, onDelivery: DeliveryHandler? = nil) throws(KafkaError) {
        let listener = onDelivery.map { DeliveryBox(topic: record.topic, handler: $0) }
        guard try tryProduce(record, listener: listener) else {
            throw KafkaError(code: .produce, rdKafka: RD_KAFKA_RESP_ERR__QUEUE_FULL, detail: "produce to \(record.topic) failed")
        }
    }

    /// Asks for one `deliveriesServed()` call on `observer` once the batch of delivery reports being
    /// served now has been served. Call it from `KafkaDeliveryListener.delivered`; asking again
    /// within the same batch is cheap and still yields one call.
    public func notifyAfterServing(_ observer: any KafkaDeliveryBatchObserver) {
        afterServing.add(observer)
    }

    /// How many times a caller found the local queue full and had to wait for room (backpressure).
    public var backpressureWaits: Int { space.waits }

    /// Number of records handed to librdkafka and not yet acknowledged.
    public var outstanding: Int { Int(rd_kafka_outq_len(handle.rk)) }

    /// Waits until every queued record is delivered or `timeout` passes.
    public func flush(timeout: Duration = .seconds(30)) async throws(KafkaError) {
        let handle = self.handle
        let ms = timeout.milliseconds32
        let afterServing = self.afterServing
        // rd_kafka_flush serves delivery reports on this thread too; finish their batch here.
        let err = await DedicatedThread.run(name: "zk:flush") {
            let err = rd_kafka_flush(handle.rk, ms)
            afterServing.notify()
            return err
        }
        if err != RD_KAFKA_RESP_ERR_NO_ERROR {
            throw KafkaError(code: .timeout, rdKafka: err, detail: "flush: \(outstanding) records still undelivered")
        }
    }

    /// Flushes (bounded by `timeout`), fails whatever is still queued, and destroys the client.
    public func close(timeout: Duration = .seconds(30)) async {
        guard control.running.exchange(false, ordering: .acquiringAndReleasing) else {
            await closed.value
            return
        }
        let thread = pollThread.withLock { $0 }
        rd_kafka_yield(handle.rk)
        await thread?.join()
        let ms = timeout.milliseconds32
        let handle = self.handle
        let topicHandles = topics.withLock { t in let all = t.map(\.1); t.removeAll(); return all }
        let logger = self.logger
        let afterServing = self.afterServing
        await DedicatedThread.run(name: "zk:prod-close") {
            defer { afterServing.notify() }
            let rk = handle.rk
            if rd_kafka_flush(rk, ms) != RD_KAFKA_RESP_ERR_NO_ERROR {
                logger.warning("producer closing with undelivered records; failing them", metadata: [
                    "undelivered": "\(rd_kafka_outq_len(rk))",
                ])
                rd_kafka_purge(rk, Int32(RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT))
                _ = rd_kafka_flush(rk, 1_000)
            }
            for t in topicHandles { t.destroy() }
            handle.destroy()
        }
        space.signal()
        closed.fulfill(())
    }

    /// The topic handle for `name`, created on first use. A linear scan with `==`: a producer
    /// writes to a handful of topics, and comparing short names is cheaper than hashing them.
    private func topicHandle(_ name: String) throws(KafkaError) -> OpaquePointer {
        let handle = self.handle
        let result: Result<RDKafkaTopicHandle, KafkaError> = topics.withLock { topics in
            for (n, t) in topics where n == name { return .success(t) }
            guard let rkt = rd_kafka_topic_new(handle.rk, name, nil) else {
                return .failure(KafkaError(code: .produce, rdKafka: rd_kafka_last_error(), detail: "topic \(name)"))
            }
            let t = RDKafkaTopicHandle(rkt: rkt)
            topics.append((name, t))
            return .success(t)
        }
        return try result.get().rkt
    }

    private func produce(_ record: KafkaRecord, rkt: OpaquePointer, opaque: UnsafeMutableRawPointer?) -> rd_kafka_resp_err_t {
        var headers: OpaquePointer? = nil
        if !record.headers.isEmpty {
            headers = rd_kafka_headers_new(record.headers.count)
            for h in record.headers {
                if let v = h.value {
                    v.withUnsafeBytes { b in _ = rd_kafka_header_add(headers, h.name, -1, b.baseAddress, b.count) }
                } else {
                    _ = rd_kafka_header_add(headers, h.name, -1, nil, 0)
                }
            }
        }
        let partition = record.partition ?? RD_KAFKA_PARTITION_UA
        let err = withOptionalBytes(record.key) { kp, kl in
            withOptionalBytes(record.value) { vp, vl in
                zhifa_produce_rkt(handle.rk, rkt, partition, kp, kl, vp, vl, headers, opaque)
            }
        }
        if err != RD_KAFKA_RESP_ERR_NO_ERROR, let headers { rd_kafka_headers_destroy(headers) }
        return err
    }
}

/// Receives one record's delivery report on the producer's poll thread.
///
/// Subclass it to avoid allocating closures per record on hot paths; `enqueue(_:listener:)` keeps
/// the listener alive until its report arrives. Keep `delivered` short.
open class KafkaDeliveryListener: @unchecked Sendable {
    /// Creates a listener.
    public init() {}
    /// Called once: `error` is nil when the broker acknowledged the record at `partition`/`offset`.
    open func delivered(partition: Int32, offset: Int64, error: KafkaError?) {}

    /// Called instead of `delivered` when the record could not be delivered, with the record
    /// rebuilt from librdkafka's copy of it (same topic, key, value and headers; the partition it
    /// was bound for, if it had one), so a listener can send it again without keeping it meanwhile.
    /// By default it calls `delivered` with the error.
    open func failed(_ record: KafkaRecord, error: KafkaError) {
        delivered(partition: record.partition ?? -1, offset: -1, error: error)
    }
}

extension KafkaRecord {
    /// The record a delivery report failed for, from librdkafka's copy (valid during the callback).
    init(undelivered message: UnsafePointer<rd_kafka_message_t>) {
        let m = message.pointee
        self.init(
            topic: m.rkt.map { String(cString: rd_kafka_topic_name($0)) } ?? "?",
            key: RDKafkaMessage.key(message), value: RDKafkaMessage.value(message), headers: RDKafkaMessage.headers(message),
            partition: m.partition >= 0 ? m.partition : nil)
    }
}

/// Finishes delivery work in batches (see `KafkaProducer.notifyAfterServing(_:)`): a listener
/// collects what its report completed, and the observer finishes the lot once per batch, on the
/// thread that served the reports — one lock and one clock reading per batch instead of per record.
public protocol KafkaDeliveryBatchObserver: AnyObject, Sendable {
    /// Called once after a batch of delivery reports in which the observer was asked for.
    func deliveriesServed()
}

/// The observers asked for during the batch being served.
final class DeliveryBatchObservers: Sendable {
    private let asked = Mutex<[any KafkaDeliveryBatchObserver]>([])

    func add(_ observer: any KafkaDeliveryBatchObserver) {
        asked.withLock { list in
            if !list.contains(where: { $0 === observer }) { list.append(observer) }
        }
    }

    /// Calls each observer asked for since the last call, outside the lock.
    func notify() {
        let due = asked.withLock { list -> [any KafkaDeliveryBatchObserver] in
            defer { list = [] }
            return list
        }
        for o in due { o.deliveriesServed() }
    }
}

/// Carries a closure delivery handler through librdkafka's per-message opaque.
final class DeliveryBox: KafkaDeliveryListener, @unchecked Sendable {
    let topic: String
    let handler: KafkaProducer.DeliveryHandler

    init(topic: String, handler: @escaping KafkaProducer.DeliveryHandler) {
        self.topic = topic
        self.handler = handler
    }

    override func delivered(partition: Int32, offset: Int64, error: KafkaError?) {
        if let error {
            handler(.failure(error))
        } else {
            handler(.success(KafkaDeliveryReport(topic: topic, partition: partition, offset: offset)))
        }
    }
}

/// Wakes producers waiting for room in librdkafka's local queue, without polling.
final class ProducerSpace: Sendable {
    private let counter = Atomic<UInt64>(0)
    private let waitCount = Atomic<Int>(0)
    private let waiters = Mutex<[CheckedContinuation<Void, Never>]>([])

    var generation: UInt64 { counter.load(ordering: .acquiring) }
    var waits: Int { waitCount.load(ordering: .relaxed) }

    /// Called by the poll thread after it served events (delivery reports free queue room).
    func signal() {
        counter.add(1, ordering: .releasing)
        let w: [CheckedContinuation<Void, Never>] = waiters.withLock { w in
            if w.isEmpty { return [] }
            defer { w.removeAll() }
            return w
        }
        for c in w { c.resume() }
    }

    /// Counts a caller that found the local queue full (backpressure).
    func noteFull() { waitCount.add(1, ordering: .relaxed) }

    /// Suspends until the poll thread signals after `generation`.
    func wait(after generation: UInt64) async {
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            let resumeNow = waiters.withLock { w in
                if counter.load(ordering: .acquiring) != generation { return true }
                w.append(c)
                return false
            }
            if resumeNow { c.resume() }
        }
    }
}

@inline(__always)
func withOptionalBytes<R>(_ bytes: [UInt8]?, _ body: (UnsafeRawPointer?, Int) -> R) -> R {
    guard let bytes else { return body(nil, 0) }
    return bytes.withUnsafeBytes { body($0.baseAddress, $0.count) }
}
