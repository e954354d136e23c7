import Foundation

/// One Kafka header. Values are bytes; most Zhifa headers are UTF-8 text.
public struct KafkaHeader: Sendable, Hashable {
    /// Header name, e.g. `ce_id`.
    public var name: String
    /// Header value, or nil for a null header.
    public var value: [UInt8]?

    /// Creates a header from bytes.
    public init(name: String, value: [UInt8]?) {
        self.name = name
        self.value = value
    }

    /// Creates a header from UTF-8 text.
    public init(_ name: String, _ text: String) {
        self.name = name
        self.value = Array(text.utf8)
    }

    /// The value as UTF-8 text, if it is valid UTF-8.
    public var text: String? { value.flatMap { String(validating: $0, as: UTF8.self) } }
}

extension Array where Element == KafkaHeader {
    /// The first header with this name, as UTF-8 text.
    public func text(_ name: String) -> String? { first { $0.name == name }?.text }

    /// A copy with the header set (replacing any with the same name).
    public func setting(_ name: String, _ text: String) -> [KafkaHeader] {
        var copy = filter { $0.name != name }
        copy.append(KafkaHeader(name, text))
        return copy
    }
}

/// A record to produce.
public struct KafkaRecord: Sendable {
    /// Destination topic.
    public var topic: String
    /// Record key; records with the same key go to the same partition, in order.
    public var key: [UInt8]?
    /// Record value.
    public var value: [UInt8]?
    /// Headers, in order.
    public var headers: [KafkaHeader]
    /// An explicit partition, or nil to let the partitioner choose by key.
    public var partition: Int32?

    /// Creates a record.
    public init(topic: String, key: [UInt8]?, value: [UInt8]?, headers: [KafkaHeader] = [], partition: Int32? = nil) {
        self.topic = topic
        self.key = key
        self.value = value
        self.headers = headers
        self.partition = partition
    }

    /// Creates a record with a UTF-8 key.
    public init(topic: String, key: String?, value: [UInt8]?, headers: [KafkaHeader] = []) {
        self.init(topic: topic, key: key.map { Array($0.utf8) }, value: value, headers: headers)
    }
}

/// Where a produced record landed.
public struct KafkaDeliveryReport: Sendable, Hashable {
    /// Topic written.
    public var topic: String
    /// Partition written.
    public var partition: Int32
    /// Offset assigned by the broker.
    public var offset: Int64
}

/// A consumed message with its coordinates.
///
/// The bytes live in one shared, copy-on-write storage, so passing a message along (buffer,
/// lanes, handlers) costs one reference count, not one per field.
public struct KafkaConsumerMessage: Sendable {
    final class Storage: @unchecked Sendable {
        var timestamp: Date?
        var key: [UInt8]?
        var value: [UInt8]?
        var headers: [KafkaHeader]

        init(timestamp: Date?, key: [UInt8]?, value: [UInt8]?, headers: [KafkaHeader]) {
            self.timestamp = timestamp
            self.key = key
            self.value = value
            self.headers = headers
        }

        func copy() -> Storage { Storage(timestamp: timestamp, key: key, value: value, headers: headers) }
    }

    /// Source topic.
    public var topic: String
    /// Source partition.
    public var partition: Int32
    /// The consumer's slot for the partition ledger it was recorded in, or -1: a done-mark finds
    /// the ledger by index, not by hashing the topic, and holds no reference to it (a reference per
    /// message was retained on the poll thread and released on another, on one shared object).
    var ledgerSlot: Int32 = -1
    /// Offset in the partition.
    public var offset: Int64
    /// The assignment this message was delivered under; done-marks from an older one are ignored.
    public var assignmentEpoch: UInt64
    /// Nil once the payload was let go (`withoutPayload`).
    private var storage: Storage?

    /// Creates a message (tests and replays; consumers create them from librdkafka).
    public init(
        topic: String, partition: Int32, offset: Int64, timestamp: Date?, key: [UInt8]?, value: [UInt8]?,
        headers: [KafkaHeader], assignmentEpoch: UInt64 = 0
    ) {
        self.topic = topic
        self.partition = partition
        self.offset = offset
        self.assignmentEpoch = assignmentEpoch
        self.storage = Storage(timestamp: timestamp, key: key, value: value, headers: headers)
    }

    private mutating func unique() -> Storage {
        if storage == nil {
            storage = Storage(timestamp: nil, key: nil, value: nil, headers: [])
        } else if !isKnownUniquelyReferenced(&storage) {
            storage = storage!.copy()
        }
        return storage!
    }

    /// The same message without its timestamp, key, value and headers: what a done-mark needs
    /// (topic, partition, offset, assignment), for holding on to a message until its effects are
    /// durable without holding its bytes.
    public var withoutPayload: KafkaConsumerMessage {
        var copy = self
        copy.storage = nil
        return copy
    }

    /// Broker or producer timestamp, if any.
    public var timestamp: Date? {
        get { storage?.timestamp }
        set { unique().timestamp = newValue }
    }

    /// Key bytes.
    public var key: [UInt8]? {
        get { storage?.key }
        set { unique().key = newValue }
    }

    /// Value bytes.
    public var value: [UInt8]? {
        get { storage?.value }
        set { unique().value = newValue }
    }

    /// Headers, in order.
    public var headers: [KafkaHeader] {
        get { storage?.headers ?? [] }
        set { unique().headers = newValue }
    }

    /// The key as UTF-8 text.
    public var keyText: String? { key.flatMap { String(validating: $0, as: UTF8.self) } }

    /// The partition this message came from.
    public var topicPartition: KafkaTopicPartition { KafkaTopicPartition(topic: topic, partition: partition) }
}

/// A topic and partition.
public struct KafkaTopicPartition: Sendable, Hashable, CustomStringConvertible {
    /// Topic name.
    public var topic: String
    /// Partition number.
    public var partition: Int32

    /// Creates a topic-partition.
    public init(topic: String, partition: Int32) {
        self.topic = topic
        self.partition = partition
    }

    public var description: String { "\(topic)[\(partition)]" }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(partition)
        var t = topic
        t.withUTF8 { hasher.combine(bytes: UnsafeRawBufferPointer($0)) }
    }
}
