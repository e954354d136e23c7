/// The archive's receipt for one archived event (on `zhifa.archive.receipts.v1`, key = event id).
/// The ingest outbox releases an event when its receipt arrives.
public struct ArchiveReceipt: Codable, Sendable, Equatable {
    /// `ce_type` of receipts.
    public static let type = "cn.zhifa.archive.receipt.v1"

    /// The archived event's `ce_id`.
    public var eventId: String
    /// Where the archive read it.
    public var topic: String
    public var partition: Int32
    public var offset: Int64
    /// The chain it was appended to and its position and hash there.
    public var chain: String
    public var sequence: Int64
    public var entryHash: String
    /// False when the archive stored it marked invalid.
    public var valid: Bool
    /// When it was archived (RFC 3339).
    public var archivedAt: String

    public init(eventId: String, topic: String, partition: Int32, offset: Int64, chain: String, sequence: Int64, entryHash: String, valid: Bool, archivedAt: String) {
        self.eventId = eventId
        self.topic = topic
        self.partition = partition
        self.offset = offset
        self.chain = chain
        self.sequence = sequence
        self.entryHash = entryHash
        self.valid = valid
        self.archivedAt = archivedAt
    }

    /// The receipt as compact JSON with its keys sorted: the bytes `JSONEncoder` writes with
    /// `.sortedKeys` and `.withoutEscapingSlashes` (control characters in a string aside, which
    /// both escape validly), at a fraction of its cost (one per archived event).
    public var jsonBytes: [UInt8] {
        JSONValue.object(JSONObject([
            ("archivedAt", .string(archivedAt)), ("chain", .string(chain)), ("entryHash", .string(entryHash)),
            ("eventId", .string(eventId)), ("offset", .number(JSONNumber(offset))),
            ("partition", .number(JSONNumber(Int64(partition)))), ("sequence", .number(JSONNumber(sequence))),
            ("topic", .string(topic)), ("valid", .bool(valid)),
        ])).jsonBytes
    }
}
