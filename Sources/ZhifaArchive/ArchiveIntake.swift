import Foundation
import ZhifaDomain
import ZhifaKafka
import ZhifaRuntime

/// A consumed message as the archive will store it, with what it learned by reading it.
public struct IncomingMessage: Sendable {
    public var topic: String
    public var partition: Int32
    public var offset: Int64
    public var key: [UInt8]?
    public var headers: [KafkaHeader]
    public var value: [UInt8]
    public var receivedAt: Date
    /// `ce_id` of a valid event, else `kafka:<topic>/<partition>/<offset>`.
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
}

/// Reads a consumed message for the archive: contract events are validated with the contract
/// validator; internal events (review, publicity) must carry an id, a `cn.zhifa.` type and a JSON
/// value. Nothing is rejected: an invalid message is archived, marked invalid with the reason.
public struct ArchiveIntake: Sendable {
    public let eventsTopic: String

    public init(eventsTopic: String) { self.eventsTopic = eventsTopic }

    public func read(_ m: KafkaConsumerMessage, receivedAt: Date) -> IncomingMessage {
        let ceId = m.headers.text("ce_id").flatMap { $0.isEmpty ? nil : $0 }
        let fallbackId = "kafka:\(m.topic)/\(m.partition)/\(m.offset)"
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
