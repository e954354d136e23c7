import CRdKafka
import Logging
import Synchronization

/// Called on the consumer's poll thread when the group assigns or revokes partitions.
typealias RDKafkaRebalanceCallback = @Sendable (
    _ rk: OpaquePointer, _ err: rd_kafka_resp_err_t, _ partitions: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>
) -> Void

/// What librdkafka's C callbacks reach through the client opaque.
final class RDKafkaClientContext: Sendable {
    let logger: Logger
    let rebalance: RDKafkaRebalanceCallback?
    /// Fire-and-forget records (no delivery listener) that could not be delivered.
    private let unobservedFailures = Atomic<Int>(0)

    init(logger: Logger, rebalance: RDKafkaRebalanceCallback?) {
        self.logger = logger
        self.rebalance = rebalance
    }

    /// Logs a fire-and-forget record that was not delivered: nobody else hears of it. The 1st,
    /// 10th, 100th, … failure is logged with the running count, so an outage cannot flood the log.
    func unobservedDeliveryFailed(topic: String, error: rd_kafka_resp_err_t) {
        let n = unobservedFailures.add(1, ordering: .relaxed).newValue
        var p = 1
        while p < n { p *= 10 }
        guard p == n else { return }
        logger.warning("record produced without a delivery handler was not delivered (it is lost unless sent again)", metadata: [
            "topic": "\(topic)", "error": "\(String(cString: rd_kafka_err2name(error)))", "undeliveredSoFar": "\(n)",
        ])
    }

    static func from(_ rk: OpaquePointer?) -> RDKafkaClientContext? {
        guard let rk, let p = rd_kafka_opaque(rk) else { return nil }
        return Unmanaged<RDKafkaClientContext>.fromOpaque(p).takeUnretainedValue()
    }
}

/// Owns one `rd_kafka_t` and the context its callbacks use.
final class RDKafkaHandle: @unchecked Sendable {
    /// The librdkafka client. Thread-safe per librdkafka's documentation.
    let rk: OpaquePointer
    private let context: Unmanaged<RDKafkaClientContext>

    init(
        kind: rd_kafka_type_t, conf: OpaquePointer, logger: Logger, rebalance: RDKafkaRebalanceCallback? = nil
    ) throws(KafkaError) {
        let context = Unmanaged.passRetained(RDKafkaClientContext(logger: logger, rebalance: rebalance))
        rd_kafka_conf_set_opaque(conf, context.toOpaque())
        rd_kafka_conf_set_log_cb(conf) { rk, level, facility, buf in
            guard let ctx = RDKafkaClientContext.from(rk), let buf else { return }
            let message = Logger.Message(stringLiteral: String(cString: buf))
            let metadata: Logger.Metadata = ["librdkafka": "\(facility.map { String(cString: $0) } ?? "")"]
            switch level {
            case ...3: ctx.logger.error(message, metadata: metadata)
            case 4: ctx.logger.warning(message, metadata: metadata)
            case 5: ctx.logger.notice(message, metadata: metadata)
            case 6: ctx.logger.info(message, metadata: metadata)
            default: ctx.logger.debug(message, metadata: metadata)
            }
        }
        rd_kafka_conf_set_error_cb(conf) { rk, err, reason, _ in
            guard let ctx = RDKafkaClientContext.from(rk) else { return }
            let code = rd_kafka_resp_err_t(rawValue: err)
            let name = String(cString: rd_kafka_err2name(code))
            let text = reason.map { String(cString: $0) } ?? ""
            if code == RD_KAFKA_RESP_ERR__FATAL {
                ctx.logger.critical("fatal Kafka client error: restart this process", metadata: [
                    "error": "\(name)", "reason": "\(text)",
                ])
            } else {
                ctx.logger.warning("Kafka client error (librdkafka retries by itself)", metadata: [
                    "error": "\(name)", "reason": "\(text)",
                ])
            }
        }
        if rebalance != nil {
            rd_kafka_conf_set_rebalance_cb(conf) { rk, err, partitions, _ in
                guard let rk, let partitions, let ctx = RDKafkaClientContext.from(rk) else { return }
                ctx.rebalance?(rk, err, partitions)
            }
        }
        var errstr = [CChar](repeating: 0, count: 512)
        guard let rk = rd_kafka_new(kind, conf, &errstr, errstr.count) else {
            rd_kafka_conf_destroy(conf)
            context.release()
            let reason = errstr.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
            throw KafkaError(code: .clientCreation, detail: "could not create the Kafka client: \(reason)")
        }
        self.rk = rk
        self.context = context
    }

    /// Destroys the client (blocking; call from a dedicated thread) and releases the context.
    func destroy() {
        rd_kafka_destroy(rk)
        context.release()
    }
}

/// A cached `rd_kafka_topic_t`.
struct RDKafkaTopicHandle: @unchecked Sendable {
    let rkt: OpaquePointer
    func destroy() { rd_kafka_topic_destroy(rkt) }
}

extension Duration {
    /// Whole milliseconds, clamped to Int32 for librdkafka timeouts.
    var milliseconds32: Int32 {
        let c = components
        return Int32(clamping: c.seconds * 1000 + c.attoseconds / 1_000_000_000_000_000)
    }
}

/// Flags shared between a client and its poll thread.
final class PollControl: Sendable {
    let running = Atomic<Bool>(true)
    let lag = Atomic<Int64>(0)
}

/// Copies out of a librdkafka message (consumed, or in a delivery report).
enum RDKafkaMessage {
    static func key(_ message: UnsafePointer<rd_kafka_message_t>) -> [UInt8]? {
        let m = message.pointee
        return m.key.map { Array(UnsafeRawBufferPointer(start: $0, count: m.key_len)) }
    }

    static func value(_ message: UnsafePointer<rd_kafka_message_t>) -> [UInt8]? {
        let m = message.pointee
        return m.payload.map { Array(UnsafeRawBufferPointer(start: $0, count: m.len)) }
    }

    /// Its headers, in order (none when it has none).
    static func headers(_ message: UnsafePointer<rd_kafka_message_t>) -> [KafkaHeader] {
        var hdrs: OpaquePointer? = nil
        guard rd_kafka_message_headers(message, &hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR, let hdrs else { return [] }
        let n = rd_kafka_header_cnt(hdrs)
        var headers: [KafkaHeader] = []
        headers.reserveCapacity(n)
        for i in 0..<n {
            var name: UnsafePointer<CChar>? = nil
            var value: UnsafeRawPointer? = nil
            var size = 0
            if rd_kafka_header_get_all(hdrs, i, &name, &value, &size) == RD_KAFKA_RESP_ERR_NO_ERROR, let name {
                headers.append(KafkaHeader(name: String(cString: name), value: value.map { Array(UnsafeRawBufferPointer(start: $0, count: size)) }))
            }
        }
        return headers
    }
}
