import Foundation
import ZhifaDomain
import ZhifaKafka

/// Internal events: CloudEvents binary mode with `ce_type cn.zhifa.<service>.<what>.v1` and a JSON value.
public enum InternalEvents {
    static let encoder: JSONEncoder = {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return e
    }()

    /// A record for `payload`, with a deterministic `id` (replays produce the same id).
    public static func record<T: Encodable>(topic: String, key: String, id: String, type: String, service: String, time: Date = Date(), payload: T) throws -> KafkaRecord {
        record(topic: topic, key: key, id: id, type: type, service: service, time: ChinaTime.format(time), json: Array(try encoder.encode(payload)))
    }

    /// A record for a payload already written as JSON (hot paths that write their own bytes), with
    /// `time` already formatted as RFC 3339 (a batch formats it once).
    public static func record(topic: String, key: String, id: String, type: String, service: String, time: String, json: [UInt8]) -> KafkaRecord {
        let event = CloudEvent(id: id, source: "urn:zhifa:service:\(service)", type: type, time: time, dataContentType: "application/json", data: json)
        return CloudEventKafka.record(for: event, topic: topic, key: key)
    }

    /// Decodes an internal event's payload.
    public static func decode<T: Decodable>(_ type: T.Type, from message: KafkaConsumerMessage) throws -> T {
        guard let v = message.value else { throw PermanentFailure("internal event without a value") }
        do { return try JSONDecoder().decode(T.self, from: Data(v)) } catch {
            throw PermanentFailure("internal event \(message.headers.text("ce_type") ?? "?") does not decode as \(T.self)")
        }
    }
}
