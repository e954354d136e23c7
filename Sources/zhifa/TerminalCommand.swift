import ArgumentParser
import Foundation
import Logging
import ZhifaDomain
import ZhifaKafka
import ZhifaRuntime

/// `zhifa terminal …`: act as a law-enforcement terminal.
struct TerminalCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "terminal",
        abstract: "Act as a terminal: send contract events, or simulate a town's traffic.",
        subcommands: [TerminalSendCommand.self])
}

/// `zhifa terminal send FILE...`.
struct TerminalSendCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "send",
        abstract: "Send CloudEvents structured-mode JSON files, waiting until each is acknowledged.",
        discussion: """
            Straight to Kafka (default): each file becomes one record on the events topic in CloudEvents \
            binary mode (key = data.caseId, ce_* headers, value = data, byte-exact).
            """)

    @OptionGroup var common: CommonOptions

    @Flag(help: "Send each file's bytes unchanged as the record value (no key, no headers): for testing how consumers treat malformed records.")
    var raw = false

    @Argument(help: "CloudEvents structured-mode JSON files.")
    var files: [String]

    func run() async throws {
        let (config, _, bootstrap) = try common.loadWithKafka()
        let logger = Logger(label: "zhifa.terminal")
        let producer = try KafkaProducer(configuration: config.producerConfiguration(bootstrap: bootstrap, role: "terminal"), logger: logger)
        var failures = 0
        for file in files {
            guard let data = FileManager.default.contents(atPath: file) else {
                warn("\(file): cannot read the file")
                failures += 1
                continue
            }
            let record: KafkaRecord
            let id: String
            if raw {
                record = KafkaRecord(topic: config.topics.events, key: nil as [UInt8]?, value: Array(data))
                id = "-"
            } else {
                do {
                    let event = try StructuredCloudEvent.parse(Array(data))
                    record = CloudEventKafka.record(for: event, topic: config.topics.events)
                    id = event.id
                } catch {
                    warn("\(file): not a structured-mode CloudEvent: \(error)")
                    failures += 1
                    continue
                }
            }
            do {
                let report = try await producer.send(record)
                emit("sent \(file) id=\(id) key=\(record.key.map { String(decoding: $0, as: UTF8.self) } ?? "-") topic=\(report.topic) partition=\(report.partition) offset=\(report.offset)")
            } catch {
                warn("\(file): not delivered: \(error)")
                failures += 1
            }
        }
        await producer.close()
        if failures > 0 { throw ExitCode(1) }
    }
}
