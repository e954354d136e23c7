import Foundation
import Logging
import ZhifaKafka

/// Reads a group's dead-letter topic and which letters were already replayed.
public struct DeadLetterStore: Sendable {
    let config: ZhifaConfiguration
    let bootstrap: String
    let group: String

    /// Creates a store view for `group` on the cluster at `bootstrap`.
    public init(config: ZhifaConfiguration, bootstrap: String, group: String) {
        self.config = config
        self.bootstrap = bootstrap
        self.group = group
    }

    /// One dead letter and whether it was already replayed.
    public struct Letter: Sendable {
        public var message: KafkaConsumerMessage
        public var replayed: Bool
        /// The dead letter's `ce_id`.
        public var eventId: String? { message.headers.text("ce_id") }
        /// `<dlq topic>/<partition>/<offset>`.
        public var coordinates: String { "\(message.topic)/\(message.partition)/\(message.offset)" }

        /// A JSON line without the payload.
        public var json: String {
            let h = message.headers
            var o: [String: Any] = [
                "dlq": ["topic": message.topic, "partition": Int(message.partition), "offset": Int(message.offset)],
                "origin": [
                    "topic": h.text(DeadLetterHeader.topic) ?? "", "partition": Int(h.text(DeadLetterHeader.partition) ?? "") ?? -1,
                    "offset": Int(h.text(DeadLetterHeader.offset) ?? "") ?? -1,
                ],
                "group": h.text(DeadLetterHeader.group) ?? "",
                "error": h.text(DeadLetterHeader.error) ?? "",
                "attempts": Int(h.text(DeadLetterHeader.attempts) ?? "") ?? 0,
                "firstFailure": h.text(DeadLetterHeader.firstFailure) ?? "",
                "replayed": replayed,
            ]
            o["id"] = eventId ?? NSNull()
            o["type"] = h.text("ce_type") ?? NSNull()
            o["key"] = message.keyText ?? NSNull()
            let d = (try? JSONSerialization.data(withJSONObject: o, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data()
            return String(decoding: d, as: UTF8.self)
        }
    }

    /// Every dead letter of the group.
    public func load() async throws -> [Letter] {
        let logger = Logger(label: "zhifa.dlq")
        let client = config.clientSettings(bootstrap: bootstrap, role: "dlq")
        let dead = try await TopicReader.readAll(topic: TopicNames.deadLetter(group), client: client, logger: logger)
        let retries = try await TopicReader.readAll(topic: TopicNames.retry(group), client: client, logger: logger)
        let replayed = Set(retries.compactMap { $0.headers.text(DeadLetterHeader.replayOf) })
        return dead.map { Letter(message: $0, replayed: replayed.contains("\($0.topic)/\($0.partition)/\($0.offset)")) }
    }

    /// Puts dead letters on the group's retry topic, marked with where they came from.
    public func replay(_ letters: [Letter]) async throws -> Int {
        guard !letters.isEmpty else { return 0 }
        let logger = Logger(label: "zhifa.dlq")
        let producer = try KafkaProducer(configuration: config.producerConfiguration(bootstrap: bootstrap, role: "dlq-replay"), logger: logger)
        let records = letters.map { l in
            KafkaRecord(
                topic: TopicNames.retry(group), key: l.message.key, value: l.message.value,
                headers: l.message.headers.setting(DeadLetterHeader.replayOf, l.coordinates))
        }
        _ = try await producer.sendAll(records)
        await producer.close()
        return records.count
    }
}
