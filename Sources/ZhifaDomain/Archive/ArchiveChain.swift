import Crypto
import Foundation

/// One entry of the archive: a message as received (its payload kept apart, by SHA-256), or a
/// tombstone recording that an expired payload was removed.
///
/// Each entry belongs to one chain (an input topic-partition, or `archive.retention` for
/// tombstones) and has a sequence number there, from 1 without gaps. Its `digest` is SHA-256 over
/// its canonical bytes; its `hash` is SHA-256 over the previous entry's hash and its digest, so
/// changing, removing, inserting or reordering any entry breaks every later hash.
public struct ArchiveEntry: Codable, Sendable, Equatable {
    public enum Kind: String, Codable, Sendable { case message, tombstone }

    public var chain: String
    public var sequence: Int64
    public var kind: Kind
    /// `ce_id`, or `kafka:<topic>/<partition>/<offset>` for a message without one.
    public var eventId: String
    public var topic: String
    public var partition: Int32
    public var offset: Int64
    /// The message key, base64 (nil when the message had none).
    public var key: String?
    /// Headers in arrival order: name and base64 value.
    public var headers: [[String]]
    /// When the archive received it (RFC 3339, CST, milliseconds).
    public var receivedAt: String
    public var valid: Bool
    public var invalidReason: String?
    public var caseId: String?
    public var eventType: String?
    public var payloadSha256: String
    public var payloadSize: Int64
    public var prevHash: String
    public var hash: String

    public init(chain: String, sequence: Int64, kind: Kind, eventId: String, topic: String, partition: Int32, offset: Int64, key: String?,
                headers: [[String]], receivedAt: String, valid: Bool, invalidReason: String?, caseId: String?, eventType: String?,
                payloadSha256: String, payloadSize: Int64, prevHash: String, hash: String) {
        self.chain = chain
        self.sequence = sequence
        self.kind = kind
        self.eventId = eventId
        self.topic = topic
        self.partition = partition
        self.offset = offset
        self.key = key
        self.headers = headers
        self.receivedAt = receivedAt
        self.valid = valid
        self.invalidReason = invalidReason
        self.caseId = caseId
        self.eventType = eventType
        self.payloadSha256 = payloadSha256
        self.payloadSize = payloadSize
        self.prevHash = prevHash
        self.hash = hash
    }

    /// A header's value as text.
    public func header(_ name: String) -> String? {
        headers.first { $0.first == name }.flatMap { $0.count > 1 ? Data(base64Encoded: $0[1]).map { String(decoding: $0, as: UTF8.self) } : nil }
    }
}

/// The hash chain's arithmetic. Pure.
public enum ArchiveChain {
    /// The previous hash of every chain's first entry.
    public static let genesis = String(repeating: "0", count: 64)
    /// The chain that holds tombstones.
    public static let retentionChain = "archive.retention"

    /// The chain of a topic-partition.
    public static func chain(topic: String, partition: Int32) -> String { "\(topic)/\(partition)" }

    /// Lower-case hex SHA-256.
    public static func sha256Hex(_ bytes: some DataProtocol) -> String {
        Hex.sha256(bytes)
    }

    /// The canonical bytes of an entry: every field but `prevHash` and `hash`, in a fixed order,
    /// as compact JSON. Changing any field changes them.
    public static func canonical(_ e: ArchiveEntry) -> [UInt8] {
        var members: [(key: String, value: JSONValue)] = [
            ("chain", .string(e.chain)), ("sequence", .number(JSONNumber(e.sequence))), ("kind", .string(e.kind.rawValue)),
            ("eventId", .string(e.eventId)), ("topic", .string(e.topic)), ("partition", .number(JSONNumber(Int64(e.partition)))),
            ("offset", .number(JSONNumber(e.offset))), ("key", e.key.map { .string($0) } ?? .null),
            ("headers", .array(e.headers.map { .array($0.map { .string($0) }) })), ("receivedAt", .string(e.receivedAt)),
            ("valid", .bool(e.valid)), ("invalidReason", e.invalidReason.map { .string($0) } ?? .null),
            ("caseId", e.caseId.map { .string($0) } ?? .null), ("eventType", e.eventType.map { .string($0) } ?? .null),
            ("payloadSha256", .string(e.payloadSha256)), ("payloadSize", .number(JSONNumber(e.payloadSize))),
        ]
        members.append(("format", .string("zhifa-archive-entry/1")))
        return JSONValue.object(JSONObject(members)).jsonBytes
    }

    /// SHA-256 of the canonical bytes.
    public static func digest(_ e: ArchiveEntry) -> String { sha256Hex(canonical(e)) }

    /// The link: SHA-256 over the previous hash and the entry's digest (both as hex text).
    public static func link(prevHash: String, digest: String) -> String {
        sha256Hex(Array("\(prevHash):\(digest)".utf8))
    }

    /// Seals an entry after `prevHash`: sets `prevHash` and `hash`.
    public static func seal(_ e: inout ArchiveEntry, after prevHash: String) {
        e.prevHash = prevHash
        e.hash = link(prevHash: prevHash, digest: digest(e))
    }
}

/// What a tombstone records about the payload it replaced.
public struct Tombstone: Codable, Sendable, Equatable {
    public var chain: String
    public var sequence: Int64
    public var eventId: String
    public var payloadSha256: String
    public var caseId: String?
    public var category: String
    public var reason: String
    public var removedAt: String

    public init(chain: String, sequence: Int64, eventId: String, payloadSha256: String, caseId: String?, category: String, reason: String, removedAt: String) {
        self.chain = chain
        self.sequence = sequence
        self.eventId = eventId
        self.payloadSha256 = payloadSha256
        self.caseId = caseId
        self.category = category
        self.reason = reason
        self.removedAt = removedAt
    }
}
