import ZhifaDomain
import ZhifaKafka

/// The CloudEvents Kafka protocol binding in binary mode, as the contract specifies: key = caseId,
/// `ce_*` headers, `content-type`, value = `data`.
public enum CloudEventKafka {
    /// Header names.
    public enum Header {
        public static let specversion = "ce_specversion"
        public static let id = "ce_id"
        public static let source = "ce_source"
        public static let type = "ce_type"
        public static let time = "ce_time"
        public static let contentType = "content-type"
    }

    /// The record for an event; the key is `key` if given, else the event's `data.caseId`.
    public static func record(for event: CloudEvent, topic: String, key: String? = nil) -> KafkaRecord {
        var headers = [
            KafkaHeader(Header.specversion, event.specversion),
            KafkaHeader(Header.id, event.id),
            KafkaHeader(Header.source, event.source),
            KafkaHeader(Header.type, event.type),
            KafkaHeader(Header.time, event.time),
        ]
        headers.append(KafkaHeader(Header.contentType, event.dataContentType ?? "application/json"))
        return KafkaRecord(topic: topic, key: key ?? event.caseId, value: event.data, headers: headers)
    }

    /// The event carried by a message; fails naming the first missing `ce_*` header.
    public static func event(from message: KafkaConsumerMessage) throws(CloudEventFormatError) -> CloudEvent {
        func header(_ name: String) throws(CloudEventFormatError) -> String {
            guard let v = message.headers.text(name) else {
                throw CloudEventFormatError(pointer: "", detail: "Kafka header \(name) is missing (CloudEvents binary mode)")
            }
            return v
        }
        return CloudEvent(
            specversion: try header(Header.specversion), id: try header(Header.id), source: try header(Header.source),
            type: try header(Header.type), time: try header(Header.time),
            dataContentType: message.headers.text(Header.contentType), data: message.value ?? [])
    }
}
