import Foundation
import ZhifaDomain
import ZhifaKafka
import ZhifaRuntime

/// A consumed message as the archive will store it, with what it learned by reading it.
public struct IncomingMessage: Sendable {
    public var topic: String { didSet { derived = nil } }
    public var partition: Int32 { didSet { derived = nil } }
    public var offset: Int64
    public var key: [UInt8]? { didSet { derived = nil } }
    public var headers: [KafkaHeader] { didSet { derived = nil } }
    public var value: [UInt8] { didSet { derived = nil } }
    public var receivedAt: Date
    /// `ce_id` of a valid event, else `kafka:<topic>/<partition>/<offset>` (the store puts the
    /// message's chain in place of `<topic>/<partition>`: `ArchiveChain.fallbackEventId`).
    public var eventId: String
    /// The `ce_id` header as sent (receipts are keyed by it).
    public var ceId: String?
    public var valid: Bool
    public var invalidReason: String?
    public var caseId: String?
    public var eventType: String?
    /// For recordings: the device, segment and start (device chains, retention).
    public var deviceId: String?
    public var segmentId: String?
    public var startedAt: Date?
    /// The stored forms of the message's bytes, computed by `deriveStoredFields()` while reading
    /// (in parallel) so the store's single writer does not; dropped when those bytes change.
    var derived: StoredFields?

    public init(topic: String, partition: Int32, offset: Int64, key: [UInt8]?, headers: [KafkaHeader], value: [UInt8], receivedAt: Date, eventId: String,
                ceId: String?, valid: Bool, invalidReason: String?, caseId: String?, eventType: String?, deviceId: String? = nil, segmentId: String? = nil,
                startedAt: Date? = nil) {
        self.topic = topic
        self.partition = partition
        self.offset = offset
        self.key = key
        self.headers = headers
        self.value = value
        self.receivedAt = receivedAt
        self.eventId = eventId
        self.ceId = ceId
        self.valid = valid
        self.invalidReason = invalidReason
        self.caseId = caseId
        self.eventType = eventType
        self.deviceId = deviceId
        self.segmentId = segmentId
        self.startedAt = startedAt
    }

    /// Computes the stored forms of the message's bytes now (the store computes them itself for a
    /// message without them).
    public mutating func deriveStoredFields() { derived = StoredFields(of: self) }

    /// Whether its event id is its place in the log (it has no valid `ce_id`).
    var hasFallbackId: Bool {
        eventId == ArchiveChain.fallbackEventId(chain: ArchiveChain.chain(topic: topic, partition: partition), offset: offset)
    }

    /// The stored forms, computed now if they were not derived (or the bytes changed since).
    var storedFields: StoredFields { derived ?? StoredFields(of: self) }
}

/// What the archive stores of a message's bytes besides the bytes themselves: its chain, the
/// payload's SHA-256, the key in base64 and the headers as stored (name, or name and base64 value).
struct StoredFields: Sendable {
    let chain: String
    let payloadSha256: String
    let keyBase64: String?
    let headers: [[String]]
    /// `headers` as the JSON text of the `headers` column.
    let headersJSON: String

    init(of m: IncomingMessage) {
        chain = ArchiveChain.chain(topic: m.topic, partition: m.partition)
        payloadSha256 = ArchiveChain.sha256Hex(m.value)
        keyBase64 = m.key.map { Data($0).base64EncodedString() }
        headers = m.headers.map { h in h.value.map { [h.name, Data($0).base64EncodedString()] } ?? [h.name] }
        headersJSON = Self.headersJSON(headers)
    }

    /// The JSON text of the `headers` column for headers as stored.
    static func headersJSON(_ headers: [[String]]) -> String {
        JSONValue.array(headers.map { .array($0.map { .string($0) }) }).jsonText
    }
}

/// Reads a consumed message for the archive: contract events are validated with the contract
/// validator; internal events (review, publicity) must carry an id, a `cn.zhifa.` type and a JSON
/// value. Nothing is rejected: an invalid message is archived, marked invalid with the reason.
public struct ArchiveIntake: Sendable {
    public let eventsTopic: String

    public init(eventsTopic: String) { self.eventsTopic = eventsTopic }

    public func read(_ m: KafkaConsumerMessage, receivedAt: Date) -> IncomingMessage {
        var out = classify(m, receivedAt: receivedAt)
        out.deriveStoredFields()
        return out
    }

    /// Reads the message's identity, validity and the fields the archive indexes.
    func classify(_ m: KafkaConsumerMessage, receivedAt: Date) -> IncomingMessage {
        let ceId = m.headers.text("ce_id").flatMap { $0.isEmpty ? nil : $0 }
        let fallbackId = ArchiveChain.fallbackEventId(chain: ArchiveChain.chain(topic: m.topic, partition: m.partition), offset: m.offset)
        var out = IncomingMessage(topic: m.topic, partition: m.partition, offset: m.offset, key: m.key, headers: m.headers, value: m.value ?? [],
                                  receivedAt: receivedAt, eventId: fallbackId, ceId: ceId, valid: false, invalidReason: nil, caseId: nil,
                                  eventType: m.headers.text("ce_type"))
        if m.topic == eventsTopic {
            let verdict = ContractMessages.validate(m)
            guard case .valid(let json) = verdict else {
                out.invalidReason = verdict.reason ?? "not a valid contract event"
                out.caseId = Self.caseId(in: m.value)
                return out
            }
            // The validator has checked every field against the contract: read the few the archive
            // indexes from its parse instead of decoding the whole event a second time.
            guard let id = json["id"]?.stringValue, let type = json["type"]?.stringValue, EventType(rawValue: type) != nil,
                  let data = json["data"], let caseId = data["caseId"]?.stringValue else {
                out.invalidReason = "the event validates but does not decode"
                return out
            }
            out.valid = true
            out.eventId = id
            out.caseId = caseId
            out.eventType = type
            if type == EventType.avSegmentRegistered.rawValue {
                out.deviceId = data["deviceId"]?.stringValue
                out.segmentId = data["segmentId"]?.stringValue
                out.startedAt = data["startedAt"]?.stringValue.flatMap { Instant($0)?.date }
            }
            return out
        }
        guard let ceId else { out.invalidReason = "internal event without a ce_id header"; return out }
        guard let type = out.eventType, type.hasPrefix("cn.zhifa.") else { out.invalidReason = "internal event without a cn.zhifa.* ce_type"; return out }
        guard let value = m.value, let json = try? JSONParser.parse(value), case .object = json else {
            out.invalidReason = "internal event \(type) whose value is not a JSON object"
            return out
        }
        out.valid = true
        out.eventId = ceId
        out.caseId = json["caseId"]?.stringValue
        return out
    }

    /// A case id in a JSON value's `data` or top level, when one can be read.
    static func caseId(in value: [UInt8]?) -> String? {
        guard let value, let json = try? JSONParser.parse(value) else { return nil }
        return json["caseId"]?.stringValue ?? json["data"]?["caseId"]?.stringValue
    }
}
