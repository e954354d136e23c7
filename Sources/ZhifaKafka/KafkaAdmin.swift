import CRdKafka
import Logging

/// A topic to create.
public struct KafkaTopicSpec: Sendable, Hashable {
    /// Topic name.
    public var name: String
    /// Partition count.
    public var partitions: Int32
    /// Replication factor (1 on a single-node cluster).
    public var replicationFactor: Int16
    /// Topic-level configuration, e.g. `retention.ms`.
    public var config: [String: String]

    /// Creates a topic spec.
    public init(name: String, partitions: Int32, replicationFactor: Int16 = 1, config: [String: String] = [:]) {
        self.name = name
        self.partitions = partitions
        self.replicationFactor = replicationFactor
        self.config = config
    }
}

/// Cluster administration and metadata: create topics, count partitions, read watermarks and
/// consumer groups' committed offsets.
/// Every call blocks a dedicated thread, never the cooperative pool.
public final class KafkaAdmin: Sendable {
    private let handle: RDKafkaHandle

    /// Creates an admin client for a cluster.
    public init(client: KafkaClientSettings, logger: Logger) throws(KafkaError) {
        var props: [(String, String)] = [
            ("bootstrap.servers", client.bootstrapServers),
            ("client.id", client.clientId + "-admin"),
        ]
        props.append(contentsOf: client.properties.sorted { $0.key < $1.key })
        let conf = try RDKafkaConf.make(props)
        handle = try RDKafkaHandle(kind: RD_KAFKA_PRODUCER, conf: conf, logger: logger)
    }

    /// Every topic of the cluster with its partition count (an all-topics metadata request, which
    /// never auto-creates anything).
    public func topics(timeout: Duration = .seconds(10)) async throws(KafkaError) -> [String: Int32] {
        let handle = self.handle
        let ms = timeout.milliseconds32
        let result: Result<[String: Int32], KafkaError> = await DedicatedThread.run(name: "zk:metadata") {
            var md: UnsafePointer<rd_kafka_metadata>? = nil
            let err = rd_kafka_metadata(handle.rk, 1, nil, &md, ms)
            guard err == RD_KAFKA_RESP_ERR_NO_ERROR, let md else {
                return .failure(KafkaError(code: .metadata, rdKafka: err, detail: "cluster metadata"))
            }
            defer { rd_kafka_metadata_destroy(md) }
            var out: [String: Int32] = [:]
            for i in 0..<Int(md.pointee.topic_cnt) {
                let t = md.pointee.topics[i]
                if t.err == RD_KAFKA_RESP_ERR_NO_ERROR { out[String(cString: t.topic)] = t.partition_cnt }
            }
            return .success(out)
        }
        return try result.get()
    }

    /// Creates the topics that do not exist yet; returns the names it created.
    public func ensureTopics(_ specs: [KafkaTopicSpec], timeout: Duration = .seconds(30)) async throws(KafkaError) -> [String] {
        let existing = try await topics()
        let specs = specs.filter { existing[$0.name] == nil }
        guard !specs.isEmpty else { return [] }
        let handle = self.handle
        let ms = timeout.milliseconds32
        let result: Result<[String], KafkaError> = await DedicatedThread.run(name: "zk:admin") {
            Self.createTopics(rk: handle.rk, specs: specs, timeoutMs: ms)
        }
        return try result.get()
    }

    /// The number of partitions of `topic`, or nil if the topic does not exist.
    public func partitionCount(_ topic: String, timeout: Duration = .seconds(10)) async throws(KafkaError) -> Int32? {
        let handle = self.handle
        let ms = timeout.milliseconds32
        let result: Result<Int32?, KafkaError> = await DedicatedThread.run(name: "zk:metadata") {
            let rk = handle.rk
            guard let rkt = rd_kafka_topic_new(rk, topic, nil) else {
                return .failure(KafkaError(code: .metadata, rdKafka: rd_kafka_last_error(), detail: "topic handle"))
            }
            defer { rd_kafka_topic_destroy(rkt) }
            var md: UnsafePointer<rd_kafka_metadata>? = nil
            let err = rd_kafka_metadata(rk, 0, rkt, &md, ms)
            guard err == RD_KAFKA_RESP_ERR_NO_ERROR, let md else {
                return .failure(KafkaError(code: .metadata, rdKafka: err, detail: "metadata for \(topic)"))
            }
            defer { rd_kafka_metadata_destroy(md) }
            guard md.pointee.topic_cnt == 1 else { return .success(nil) }
            let t = md.pointee.topics[0]
            if t.err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART || t.partition_cnt == 0 { return .success(nil) }
            if t.err != RD_KAFKA_RESP_ERR_NO_ERROR {
                return .failure(KafkaError(code: .metadata, rdKafka: t.err, detail: "metadata for \(topic)"))
            }
            return .success(t.partition_cnt)
        }
        return try result.get()
    }

    /// Low and high watermark offsets of one partition.
    public func watermarks(_ tp: KafkaTopicPartition, timeout: Duration = .seconds(10)) async throws(KafkaError) -> (low: Int64, high: Int64) {
        let handle = self.handle
        let ms = timeout.milliseconds32
        let result: Result<(Int64, Int64), KafkaError> = await DedicatedThread.run(name: "zk:watermarks") {
            let rk = handle.rk
            var lo: Int64 = 0
            var hi: Int64 = 0
            let err = rd_kafka_query_watermark_offsets(rk, tp.topic, tp.partition, &lo, &hi, ms)
            guard err == RD_KAFKA_RESP_ERR_NO_ERROR else {
                return .failure(KafkaError(code: .metadata, rdKafka: err, detail: "watermarks of \(tp)"))
            }
            return .success((lo, hi))
        }
        let (lo, hi) = try result.get()
        return (lo, hi)
    }

    /// The offsets `group` has committed for `partitions` (the next offset it will read); a
    /// partition the group never committed is absent.
    public func committedOffsets(group: String, partitions: [KafkaTopicPartition], timeout: Duration = .seconds(10)) async throws(KafkaError)
        -> [KafkaTopicPartition: Int64] {
        guard !partitions.isEmpty else { return [:] }  // librdkafka refuses an empty list
        let handle = self.handle
        let ms = timeout.milliseconds32
        let result: Result<[KafkaTopicPartition: Int64], KafkaError> = await DedicatedThread.run(name: "zk:grp-offsets") {
            Self.listGroupOffsets(rk: handle.rk, group: group, partitions: partitions, timeoutMs: ms)
        }
        return try result.get()
    }

    /// Destroys the client.
    public func close() async {
        let handle = self.handle
        await DedicatedThread.run(name: "zk:admin-close") { handle.destroy() }
    }

    private static func listGroupOffsets(rk: OpaquePointer, group: String, partitions: [KafkaTopicPartition], timeoutMs: Int32)
        -> Result<[KafkaTopicPartition: Int64], KafkaError> {
        let list = rd_kafka_topic_partition_list_new(Int32(partitions.count))
        defer { rd_kafka_topic_partition_list_destroy(list) }
        for tp in partitions { rd_kafka_topic_partition_list_add(list, tp.topic, tp.partition) }
        var request: OpaquePointer? = rd_kafka_ListConsumerGroupOffsets_new(group, list)
        defer { rd_kafka_ListConsumerGroupOffsets_destroy(request) }
        var errstr = [CChar](repeating: 0, count: 512)
        let queue = rd_kafka_queue_new(rk)
        defer { rd_kafka_queue_destroy(queue) }
        let options = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_LISTCONSUMERGROUPOFFSETS)
        defer { rd_kafka_AdminOptions_destroy(options) }
        _ = rd_kafka_AdminOptions_set_request_timeout(options, timeoutMs, &errstr, errstr.count)
        rd_kafka_ListConsumerGroupOffsets(rk, &request, 1, options, queue)
        guard let event = rd_kafka_queue_poll(queue, timeoutMs + 5_000) else {
            return .failure(KafkaError(code: .timeout, isRetriable: true, detail: "the committed offsets of group \(group) got no answer"))
        }
        defer { rd_kafka_event_destroy(event) }
        let err = rd_kafka_event_error(event)
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR, let res = rd_kafka_event_ListConsumerGroupOffsets_result(event) else {
            return .failure(KafkaError(code: .admin, rdKafka: err, detail: "the committed offsets of group \(group)"))
        }
        var count = 0
        guard let groups = rd_kafka_ListConsumerGroupOffsets_result_groups(res, &count), count == 1 else { return .success([:]) }
        if let e = rd_kafka_group_result_error(groups[0]) {
            return .failure(KafkaError(code: .admin, rdKafka: rd_kafka_error_code(e), detail: "the committed offsets of group \(group)"))
        }
        var out: [KafkaTopicPartition: Int64] = [:]
        guard let got = rd_kafka_group_result_partitions(groups[0]) else { return .success(out) }
        for i in 0..<Int(got.pointee.cnt) {
            let p = got.pointee.elems[i]
            guard p.err == RD_KAFKA_RESP_ERR_NO_ERROR, p.offset >= 0 else { continue }
            out[KafkaTopicPartition(topic: String(cString: p.topic), partition: p.partition)] = p.offset
        }
        return .success(out)
    }

    private static func createTopics(rk: OpaquePointer, specs: [KafkaTopicSpec], timeoutMs: Int32) -> Result<[String], KafkaError> {
        var errstr = [CChar](repeating: 0, count: 512)
        var newTopics: [OpaquePointer?] = []
        defer { for t in newTopics { rd_kafka_NewTopic_destroy(t) } }
        for s in specs {
            guard let nt = rd_kafka_NewTopic_new(s.name, s.partitions, Int32(s.replicationFactor), &errstr, errstr.count) else {
                let reason = errstr.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
                return .failure(KafkaError(code: .admin, detail: "topic \(s.name): \(reason)"))
            }
            for (k, v) in s.config.sorted(by: { $0.key < $1.key }) { _ = rd_kafka_NewTopic_set_config(nt, k, v) }
            newTopics.append(nt)
        }
        let queue = rd_kafka_queue_new(rk)
        defer { rd_kafka_queue_destroy(queue) }
        let options = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS)
        defer { rd_kafka_AdminOptions_destroy(options) }
        _ = rd_kafka_AdminOptions_set_operation_timeout(options, timeoutMs, &errstr, errstr.count)
        newTopics.withUnsafeMutableBufferPointer { buf in
            rd_kafka_CreateTopics(rk, buf.baseAddress, buf.count, options, queue)
        }
        guard let event = rd_kafka_queue_poll(queue, timeoutMs + 5_000) else {
            return .failure(KafkaError(code: .timeout, isRetriable: true, detail: "CreateTopics got no answer"))
        }
        defer { rd_kafka_event_destroy(event) }
        let err = rd_kafka_event_error(event)
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR else {
            return .failure(KafkaError(code: .admin, rdKafka: err, detail: "CreateTopics"))
        }
        guard let res = rd_kafka_event_CreateTopics_result(event) else {
            return .failure(KafkaError(code: .admin, detail: "CreateTopics: unexpected event"))
        }
        var count = 0
        guard let results = rd_kafka_CreateTopics_result_topics(res, &count) else { return .success([]) }
        var created: [String] = []
        for i in 0..<count {
            let r = results[i]
            let e = rd_kafka_topic_result_error(r)
            let name = String(cString: rd_kafka_topic_result_name(r))
            if e == RD_KAFKA_RESP_ERR_NO_ERROR {
                created.append(name)
            } else if e != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS {
                return .failure(KafkaError(code: .admin, rdKafka: e, detail: "create topic \(name)"))
            }
        }
        return .success(created)
    }
}
