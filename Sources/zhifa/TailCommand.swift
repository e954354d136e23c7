import ArgumentParser
import Foundation
import Logging
import ZhifaKafka
import ZhifaRuntime

/// `zhifa tail TOPIC`: messages as JSON lines.
struct TailCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tail",
        abstract: "Print a topic's messages as JSON lines: topic, partition, offset, timestamp, key, headers, value.")

    @OptionGroup var common: CommonOptions

    @Argument(help: "Topic to read.")
    var topic: String

    @Flag(name: .customLong("from-beginning"), help: "Start at the earliest retained message (default: only new messages).")
    var fromBeginning = false

    @Option(help: "Stop after this many messages.")
    var count: Int?

    func run() async throws {
        let (config, _, bootstrap) = try common.loadWithKafka()
        let logger = Logger(label: "zhifa.tail")
        let client = config.clientSettings(bootstrap: bootstrap, role: "tail")
        let admin = try KafkaAdmin(client: client, logger: logger)
        let partitions = try await admin.partitionCount(topic)
        await admin.close()
        guard let partitions else { throw ValidationError("topic \(topic) does not exist") }
        var cc = KafkaConsumerConfiguration(client: client, groupId: "zhifa-tail-\(UUID().uuidString)")
        cc.autoCommit = false
        cc.fetchWaitMaxMs = config.kafka.fetchWaitMaxMs
        let consumer = try KafkaConsumer(configuration: cc, logger: logger)
        let start = fromBeginning ? KafkaPartitionStart.beginning : KafkaPartitionStart.end
        try consumer.assign((0..<partitions).map { KafkaPartitionStart(KafkaTopicPartition(topic: topic, partition: $0), offset: start) })
        let limit = count
        _ = try await SignalScope.run {
            var printed = 0
            if let limit, limit <= 0 { return printed }
            for await m in consumer.messages {
                emit(TailLine.json(m))
                printed += 1
                if let limit, printed >= limit { break }
            }
            return printed
        }
        await consumer.close()
    }
}

/// The JSON line of INTERFACES.md for one message.
enum TailLine {
    static func json(_ m: KafkaConsumerMessage) -> String {
        var headers: [String: Any] = [:]
        for h in m.headers {
            if let v = h.value {
                headers[h.name] = String(validating: v, as: UTF8.self) ?? ["base64": Data(v).base64EncodedString()]
            } else {
                headers[h.name] = NSNull()
            }
        }
        let value: Any
        if let v = m.value {
            if let parsed = try? JSONSerialization.jsonObject(with: Data(v), options: [.fragmentsAllowed]) {
                value = parsed
            } else {
                value = ["base64": Data(v).base64EncodedString()]
            }
        } else {
            value = NSNull()
        }
        let obj: [String: Any] = [
            "topic": m.topic, "partition": Int(m.partition), "offset": Int(m.offset),
            "timestamp": m.timestamp.map { RFC3339.format($0) } ?? NSNull(),
            "key": m.key.map { String(validating: $0, as: UTF8.self) ?? Data($0).base64EncodedString() } ?? NSNull(),
            "headers": headers, "value": value,
        ]
        let data = (try? JSONSerialization.data(withJSONObject: obj, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data()
        return String(decoding: data, as: UTF8.self)
    }
}
