import CRdKafka
import Logging
import Synchronization

/// Kafka protocol request types, for fault injection.
public enum KafkaAPIKey: Int16, Sendable {
    case produce = 0, fetch = 1, listOffsets = 2, metadata = 3, offsetCommit = 8, offsetFetch = 9
    case findCoordinator = 10, joinGroup = 11, heartbeat = 12, leaveGroup = 13, syncGroup = 14
    case initProducerId = 22
}

/// Kafka protocol error codes the embedded broker can be told to answer with.
public enum KafkaProtocolError: Int32, Sendable {
    case unknownTopicOrPartition = 3
    case leaderNotAvailable = 5
    case notLeaderForPartition = 6
    case requestTimedOut = 7
    case networkException = 13
    case coordinatorNotAvailable = 15
    case notCoordinator = 16
    case notEnoughReplicas = 19
    case rebalanceInProgress = 27
}

/// The embedded broker: librdkafka's mock cluster, speaking the Kafka protocol on loopback TCP.
///
/// Limits (librdkafka 2.0.2): in memory only; at most 5 MiB and 100,000 message sets per
/// partition (older data is dropped); no CreateTopics request (use `createTopic`); the first
/// group join takes about 3 s; transactions write no markers.
public final class EmbeddedKafkaCluster: Sendable {
    /// `bootstrap.servers` for clients, e.g. `127.0.0.1:38117`.
    public let bootstrapServers: String
    /// Number of brokers (ids 1...brokerCount).
    public let brokerCount: Int
    private let handle: RDKafkaHandle
    private let cluster: MockClusterPointer
    private let stopped = Atomic<Bool>(false)

    /// Starts a mock cluster of `brokers` brokers.
    public init(brokers: Int = 1, logger: Logger) throws(KafkaError) {
        precondition(brokers >= 1)
        // The mock lives inside a client handle of its own; it needs no bootstrap servers.
        let conf = try RDKafkaConf.make([("client.id", "zhifa-embedded-broker"), ("log_level", "4")])
        handle = try RDKafkaHandle(kind: RD_KAFKA_PRODUCER, conf: conf, logger: logger)
        guard let mc = rd_kafka_mock_cluster_new(handle.rk, Int32(brokers)) else {
            handle.destroy()
            throw KafkaError(code: .embeddedBroker, detail: "could not start the embedded broker (rd_kafka_mock_cluster_new)")
        }
        cluster = MockClusterPointer(mc: mc)
        bootstrapServers = String(cString: rd_kafka_mock_cluster_bootstraps(mc))
        brokerCount = brokers
    }

    /// Creates a topic (the mock does not accept CreateTopics requests).
    public func createTopic(_ name: String, partitions: Int32, replicationFactor: Int32 = 1) throws(KafkaError) {
        let err = rd_kafka_mock_topic_create(cluster.mc, name, partitions, min(replicationFactor, Int32(brokerCount)))
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR else {
            throw KafkaError(code: .embeddedBroker, rdKafka: err, detail: "create topic \(name)")
        }
    }

    /// Takes a broker down: its connections close and new ones are refused until `setBrokerUp`.
    public func setBrokerDown(_ brokerId: Int32) throws(KafkaError) {
        try check(rd_kafka_mock_broker_set_down(cluster.mc, brokerId), "broker \(brokerId) down")
    }

    /// Brings a broker back.
    public func setBrokerUp(_ brokerId: Int32) throws(KafkaError) {
        try check(rd_kafka_mock_broker_set_up(cluster.mc, brokerId), "broker \(brokerId) up")
    }

    /// Adds a round-trip delay to every request a broker answers.
    public func setRoundTripTime(broker brokerId: Int32, milliseconds: Int32) throws(KafkaError) {
        try check(rd_kafka_mock_broker_set_rtt(cluster.mc, brokerId, milliseconds), "rtt of broker \(brokerId)")
    }

    /// Makes the next requests of one type fail with the given errors, one per request, in order.
    public func pushRequestErrors(_ apiKey: KafkaAPIKey, _ errors: [KafkaProtocolError]) {
        var codes = errors.map { rd_kafka_resp_err_t(rawValue: $0.rawValue) }
        codes.withUnsafeMutableBufferPointer { buf in
            rd_kafka_mock_push_request_errors_array(cluster.mc, apiKey.rawValue, buf.count, buf.baseAddress)
        }
    }

    /// Makes one broker answer its next requests of one type with errors, each after a delay.
    public func pushBrokerRequestErrors(
        broker brokerId: Int32, _ apiKey: KafkaAPIKey, _ errors: [(KafkaProtocolError, rttMs: Int32)]
    ) throws(KafkaError) {
        for (e, rtt) in errors {
            try check(
                zhifa_mock_push_broker_error(cluster.mc, brokerId, apiKey.rawValue, rd_kafka_resp_err_t(rawValue: e.rawValue), rtt),
                "push error to broker \(brokerId)")
        }
    }

    /// Forgets every pushed error for one request type.
    public func clearRequestErrors(_ apiKey: KafkaAPIKey) {
        rd_kafka_mock_clear_request_errors(cluster.mc, apiKey.rawValue)
    }

    /// Makes every request about a topic fail with `error` (nil clears it).
    public func setTopicError(_ topic: String, _ error: KafkaProtocolError?) {
        rd_kafka_mock_topic_set_error(cluster.mc, topic, rd_kafka_resp_err_t(rawValue: error?.rawValue ?? 0))
    }

    /// Stops the cluster and frees it (blocking work runs on a dedicated thread).
    public func shutdown() async {
        guard !stopped.exchange(true, ordering: .acquiringAndReleasing) else { return }
        let cluster = self.cluster
        let handle = self.handle
        await DedicatedThread.run(name: "zk:broker-stop") {
            rd_kafka_mock_cluster_destroy(cluster.mc)
            handle.destroy()
        }
    }

    private func check(_ err: rd_kafka_resp_err_t, _ what: String) throws(KafkaError) {
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR else { throw KafkaError(code: .embeddedBroker, rdKafka: err, detail: what) }
    }
}

struct MockClusterPointer: @unchecked Sendable {
    let mc: OpaquePointer
}
