import CRdKafka

/// An error from the Kafka layer.
///
/// The description is deliberately generic: it names the operation and librdkafka's error, never
/// a key, value or header, so personal data in a payload cannot leak into logs through it.
public struct KafkaError: Error, Sendable, CustomStringConvertible, Equatable {
    /// What part of the Kafka layer failed.
    public enum Code: String, Sendable, Equatable {
        case configuration
        case clientCreation
        case produce
        case delivery
        case consume
        case subscription
        case offsetStore
        case commit
        case admin
        case metadata
        case timeout
        case closed
        case embeddedBroker
        case rebalance
    }

    /// The part of the Kafka layer that failed.
    public let code: Code
    /// librdkafka's `rd_kafka_resp_err_t` value, when librdkafka reported the error.
    public let rdKafkaCode: Int32?
    /// librdkafka's symbolic name for `rdKafkaCode`, e.g. `_MSG_TIMED_OUT`.
    public let rdKafkaName: String?
    /// Whether trying the same operation again may succeed.
    public let isRetriable: Bool
    /// Whether the client can no longer be used and must be recreated.
    public let isFatal: Bool
    /// What happened, without payload data.
    public let detail: String

    /// Creates an error from its parts.
    public init(
        code: Code, rdKafkaCode: Int32? = nil, rdKafkaName: String? = nil,
        isRetriable: Bool = false, isFatal: Bool = false, detail: String
    ) {
        self.code = code
        self.rdKafkaCode = rdKafkaCode
        self.rdKafkaName = rdKafkaName
        self.isRetriable = isRetriable
        self.isFatal = isFatal
        self.detail = detail
    }

    /// Creates an error from a librdkafka response code.
    init(code: Code, rdKafka err: rd_kafka_resp_err_t, detail: String? = nil) {
        let name = String(cString: rd_kafka_err2name(err))
        let text = String(cString: rd_kafka_err2str(err))
        self.init(
            code: code,
            rdKafkaCode: err.rawValue,
            rdKafkaName: name,
            isRetriable: Self.retriable.contains(err),
            isFatal: err == RD_KAFKA_RESP_ERR__FATAL,
            detail: detail.map { "\($0): \(text)" } ?? text
        )
    }

    /// Creates an error from a librdkafka `rd_kafka_error_t`, destroying it.
    init(code: Code, consuming error: OpaquePointer, detail: String) {
        let err = rd_kafka_error_code(error)
        let retriable = rd_kafka_error_is_retriable(error) != 0 || Self.retriable.contains(err)
        let fatal = rd_kafka_error_is_fatal(error) != 0
        let text = String(cString: rd_kafka_error_string(error))
        rd_kafka_error_destroy(error)
        self.init(
            code: code, rdKafkaCode: err.rawValue, rdKafkaName: String(cString: rd_kafka_err2name(err)),
            isRetriable: retriable, isFatal: fatal, detail: "\(detail): \(text)")
    }

    public var description: String {
        var s = "KafkaError.\(code.rawValue)"
        if let rdKafkaName { s += " [\(rdKafkaName)]" }
        s += ": \(detail)"
        if isFatal { s += " (fatal: recreate the client)" } else if isRetriable { s += " (retriable)" }
        return s
    }

    /// Codes that a retry can cure (network, leadership, coordinator movement, timeouts).
    static let retriable: Set<rd_kafka_resp_err_t> = [
        RD_KAFKA_RESP_ERR__TRANSPORT, RD_KAFKA_RESP_ERR__TIMED_OUT, RD_KAFKA_RESP_ERR__MSG_TIMED_OUT,
        RD_KAFKA_RESP_ERR__QUEUE_FULL, RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN, RD_KAFKA_RESP_ERR__WAIT_COORD,
        RD_KAFKA_RESP_ERR__TIMED_OUT_QUEUE, RD_KAFKA_RESP_ERR__RESOLVE, RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION,
        RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT, RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS,
        RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS_AFTER_APPEND, RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE,
        RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION, RD_KAFKA_RESP_ERR_NETWORK_EXCEPTION,
        RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE, RD_KAFKA_RESP_ERR_NOT_COORDINATOR,
        RD_KAFKA_RESP_ERR_COORDINATOR_LOAD_IN_PROGRESS, RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS,
        RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART, RD_KAFKA_RESP_ERR_BROKER_NOT_AVAILABLE,
        RD_KAFKA_RESP_ERR_KAFKA_STORAGE_ERROR, RD_KAFKA_RESP_ERR_FENCED_LEADER_EPOCH,
        RD_KAFKA_RESP_ERR_UNKNOWN_LEADER_EPOCH, RD_KAFKA_RESP_ERR_OFFSET_NOT_AVAILABLE,
        RD_KAFKA_RESP_ERR_THROTTLING_QUOTA_EXCEEDED,
    ]
}

extension rd_kafka_resp_err_t: @retroactive Hashable {}
