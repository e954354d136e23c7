import ArgumentParser
import Foundation
import Logging
import ZhifaKafka
import ZhifaRuntime

/// `zhifa dlq …`: a consumer group's dead letters.
struct DLQCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dlq",
        abstract: "Show and replay a consumer group's dead letters.",
        subcommands: [DLQListCommand.self, DLQReplayCommand.self])
}

/// `zhifa dlq list GROUP`.
struct DLQListCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list", abstract: "Print the dead letters of GROUP as JSON lines (no payload).")

    @OptionGroup var common: CommonOptions
    @Argument(help: "Consumer group, e.g. zhifa-review.") var group: String

    func run() async throws {
        let (config, _, bootstrap) = try common.loadWithKafka()
        let letters = try await DeadLetterStore(config: config, bootstrap: bootstrap, group: group).load()
        for l in letters { emit(l.json) }
        if letters.isEmpty { warn("no dead letters for group \(group)") }
    }
}

/// `zhifa dlq replay GROUP [--id EVENT_ID]`.
struct DLQReplayCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "replay",
        abstract: "Re-inject dead letters through GROUP's retry topic (only GROUP reads it).",
        discussion: "Each dead letter is replayed at most once; a replay that fails again becomes a new dead letter.")

    @OptionGroup var common: CommonOptions
    @Argument(help: "Consumer group, e.g. zhifa-review.") var group: String
    @Option(help: "Only the dead letter(s) with this ce_id.") var id: String?

    func run() async throws {
        let (config, _, bootstrap) = try common.loadWithKafka()
        let store = DeadLetterStore(config: config, bootstrap: bootstrap, group: group)
        let letters = try await store.load()
        let chosen = letters.filter { !$0.replayed && (id == nil || $0.eventId == id) }
        if let id, !letters.contains(where: { $0.eventId == id }) {
            throw ValidationError("no dead letter with id \(id) in \(TopicNames.deadLetter(group))")
        }
        let n = try await store.replay(chosen)
        emit("replayed \(n) dead letter(s) of \(group) to \(TopicNames.retry(group))")
    }
}

/// Reads a group's dead-letter topic and which letters were already replayed.
struct DeadLetterStore {
    let config: ZhifaConfiguration
    let bootstrap: String
    let group: String

    struct Letter {
        var message: KafkaConsumerMessage
        var replayed: Bool
        var eventId: String? { message.headers.text("ce_id") }
        var coordinates: String { "\(message.topic)/\(message.partition)/\(message.offset)" }

        var json: String {
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

    func load() async throws -> [Letter] {
        let logger = Logger(label: "zhifa.dlq")
        let client = config.clientSettings(bootstrap: bootstrap, role: "dlq")
        let dead = try await TopicReader.readAll(topic: TopicNames.deadLetter(group), client: client, logger: logger)
        let retries = try await TopicReader.readAll(topic: TopicNames.retry(group), client: client, logger: logger)
        let replayed = Set(retries.compactMap { $0.headers.text(DeadLetterHeader.replayOf) })
        return dead.map { Letter(message: $0, replayed: replayed.contains("\($0.topic)/\($0.partition)/\($0.offset)")) }
    }

    func replay(_ letters: [Letter]) async throws -> Int {
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
