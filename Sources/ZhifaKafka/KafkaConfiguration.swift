import CRdKafka

/// Settings shared by every client: where the cluster is and what passes through to librdkafka.
public struct KafkaClientSettings: Sendable {
    /// `bootstrap.servers`, e.g. `127.0.0.1:9092,127.0.0.1:9093`.
    public var bootstrapServers: String
    /// `client.id` prefix; the role (producer, consumer) is appended.
    public var clientId: String
    /// Extra librdkafka properties passed through unchanged (SASL, SSL, tuning).
    public var properties: [String: String]

    /// Creates settings for a cluster.
    public init(bootstrapServers: String, clientId: String = "zhifa", properties: [String: String] = [:]) {
        self.bootstrapServers = bootstrapServers
        self.clientId = clientId
        self.properties = properties
    }
}

/// Producer configuration. Idempotent with `acks=all` unless told otherwise.
public struct KafkaProducerConfiguration: Sendable {
    /// Cluster and pass-through properties.
    public var client: KafkaClientSettings
    /// `enable.idempotence` (default true).
    public var idempotent: Bool = true
    /// `linger.ms`: how long to gather a batch (default 5).
    public var lingerMs: Int = 5
    /// `message.timeout.ms`: how long a message may wait for delivery, retries included
    /// (default 300 000; 0 means forever).
    public var messageTimeoutMs: Int = 300_000
    /// `queue.buffering.max.messages`: the local queue bound; a full queue makes callers wait.
    public var queueBufferingMaxMessages: Int = 100_000

    /// Creates a producer configuration for a cluster.
    public init(client: KafkaClientSettings) { self.client = client }

    func librdkafkaProperties() -> [(String, String)] {
        var p: [(String, String)] = [
            ("bootstrap.servers", client.bootstrapServers),
            ("client.id", client.clientId + "-producer"),
            ("linger.ms", String(lingerMs)),
            ("message.timeout.ms", String(messageTimeoutMs)),
            ("queue.buffering.max.messages", String(queueBufferingMaxMessages)),
        ]
        if idempotent {
            p.append(("enable.idempotence", "true"))
            p.append(("acks", "all"))
        }
        p.append(contentsOf: client.properties.sorted { $0.key < $1.key })
        return p
    }
}

/// Consumer configuration: at-least-once by default (offsets stored explicitly, auto-committed).
public struct KafkaConsumerConfiguration: Sendable {
    /// Cluster and pass-through properties.
    public var client: KafkaClientSettings
    /// `group.id`. Required for `subscribe`; an assign-only reader may leave it to the default.
    public var groupId: String
    /// `fetch.wait.max.ms`: 10 suits the embedded broker; a real cluster can keep 500.
    public var fetchWaitMaxMs: Int = 10
    /// `auto.offset.reset` for partitions with no committed offset.
    public var autoOffsetReset: String = "earliest"
    /// `auto.commit.interval.ms`: how often stored offsets are committed.
    public var autoCommitIntervalMs: Int = 1_000
    /// `enable.auto.commit` (default true: stored offsets are committed in the background).
    public var autoCommit: Bool = true
    /// `session.timeout.ms`.
    public var sessionTimeoutMs: Int = 10_000
    /// How long a revoke waits for in-flight messages of the revoked partitions.
    public var revokeDeadline: Duration = .seconds(10)
    /// Messages fetched but not yet taken by the application; the poll thread waits when full.
    public var bufferCapacity: Int = 2_048

    /// Creates a consumer configuration.
    public init(client: KafkaClientSettings, groupId: String) {
        self.client = client
        self.groupId = groupId
    }

    func librdkafkaProperties() -> [(String, String)] {
        var p: [(String, String)] = [
            ("bootstrap.servers", client.bootstrapServers),
            ("client.id", client.clientId + "-consumer"),
            ("group.id", groupId),
            ("enable.auto.offset.store", "false"),
            ("enable.auto.commit", autoCommit ? "true" : "false"),
            ("auto.commit.interval.ms", String(autoCommitIntervalMs)),
            ("auto.offset.reset", autoOffsetReset),
            ("fetch.wait.max.ms", String(fetchWaitMaxMs)),
            ("session.timeout.ms", String(sessionTimeoutMs)),
            ("enable.partition.eof", "false"),
        ]
        p.append(contentsOf: client.properties.sorted { $0.key < $1.key })
        return p
    }
}

/// Builds an `rd_kafka_conf_t`, failing with the offending property's name.
enum RDKafkaConf {
    static func make(_ properties: [(String, String)]) throws(KafkaError) -> OpaquePointer {
        let conf = rd_kafka_conf_new()!
        var errstr = [CChar](repeating: 0, count: 512)
        for (key, value) in properties {
            if rd_kafka_conf_set(conf, key, value, &errstr, errstr.count) != RD_KAFKA_CONF_OK {
                rd_kafka_conf_destroy(conf)
                let reason = errstr.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
                // Values of security properties are never echoed.
                throw KafkaError(code: .configuration, detail: "librdkafka property '\(key)': \(reason)")
            }
        }
        return conf
    }
}
