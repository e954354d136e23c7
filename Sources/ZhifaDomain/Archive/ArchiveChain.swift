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
    /// `ce_id`, or `kafka:<chain>/<offset>` for a message without one.
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

    /// The chain of a topic-partition's log: `topic/partition`. A log that starts again at a
    /// lower offset (the embedded broker was restarted, or the topic deleted and created again)
    /// is another log, and continues on a chain of its own: `topic/partition@2`, `@3`, …
    public static func chain(topic: String, partition: Int32, incarnation: Int = 1) -> String {
        incarnation <= 1 ? "\(topic)/\(partition)" : "\(topic)/\(partition)@\(incarnation)"
    }

    /// Which log of its topic-partition a chain holds: 1, 2, … (1 for a chain without `@N`).
    public static func incarnation(of chain: String) -> Int {
        guard let at = chain.lastIndex(of: "@"), let n = Int(chain[chain.index(after: at)...]), n >= 2 else { return 1 }
        return n
    }

    /// Whether `chain` holds messages of that topic-partition (of any of its logs).
    public static func holds(_ chain: String, topic: String, partition: Int32) -> Bool {
        chain == Self.chain(topic: topic, partition: partition, incarnation: incarnation(of: chain))
    }

    /// The event id of a message without a `ce_id`: its place in its log.
    public static func fallbackEventId(chain: String, offset: Int64) -> String { "kafka:\(chain)/\(offset)" }

    /// Lower-case hex SHA-256.
    public static func sha256Hex(_ bytes: some DataProtocol) -> String {
        Hex.sha256(bytes)
    }

    /// The canonical bytes of an entry: every field but `prevHash` and `hash`, in a fixed order,
    /// as compact JSON (strings escaped by `JSONValue`'s writer). Changing any field changes them.
    /// Written straight to bytes: this runs once per archived message.
    public static func canonical(_ e: ArchiveEntry) -> [UInt8] {
        var w = CanonicalWriter()
        w.out.reserveCapacity(384 + e.headers.reduce(0) { $0 + $1.reduce(6) { $0 + $1.utf8.count } })
        w.member("chain", e.chain)
        w.member("sequence", e.sequence)
        w.member("kind", e.kind.rawValue)
        w.member("eventId", e.eventId)
        w.member("topic", e.topic)
        w.member("partition", Int64(e.partition))
        w.member("offset", e.offset)
        w.member("key", e.key)
        w.key("headers")
        w.out.append(UInt8(ascii: "["))
        for (i, h) in e.headers.enumerated() {
            if i > 0 { w.out.append(UInt8(ascii: ",")) }
            w.out.append(UInt8(ascii: "["))
            for (j, part) in h.enumerated() {
                if j > 0 { w.out.append(UInt8(ascii: ",")) }
                JSONValue.writeString(part, to: &w.out)
            }
            w.out.append(UInt8(ascii: "]"))
        }
        w.out.append(UInt8(ascii: "]"))
        w.member("receivedAt", e.receivedAt)
        w.key("valid")
        w.out.append(contentsOf: (e.valid ? "true" : "false").utf8)
        w.member("invalidReason", e.invalidReason)
        w.member("caseId", e.caseId)
        w.member("eventType", e.eventType)
        w.member("payloadSha256", e.payloadSha256)
        w.member("payloadSize", e.payloadSize)
        w.member("format", "zhifa-archive-entry/1")
        w.out.append(UInt8(ascii: "}"))
        return w.out
    }

    /// Compact JSON object members, written in order (a comma before every member but the first).
    private struct CanonicalWriter {
        var out: [UInt8] = [UInt8(ascii: "{")]

        mutating func key(_ k: String) {
            if out.count > 1 { out.append(UInt8(ascii: ",")) }
            JSONValue.writeString(k, to: &out)
            out.append(UInt8(ascii: ":"))
        }

        mutating func member(_ k: String, _ v: String?) {
            key(k)
            if let v { JSONValue.writeString(v, to: &out) } else { out.append(contentsOf: "null".utf8) }
        }

        mutating func member(_ k: String, _ v: Int64) {
            key(k)
            out.append(contentsOf: String(v).utf8)
        }
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
