import ArgumentParser
import Foundation
import Logging
import ZhifaDomain
import ZhifaKafka
import ZhifaRuntime
import ZhifaTerminal

/// `zhifa terminal …`: act as a law-enforcement terminal.
struct TerminalCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "terminal",
        abstract: "Act as a terminal: send contract events, or simulate a town's traffic.",
        subcommands: [TerminalSendCommand.self, TerminalSimulateCommand.self])
}

/// `zhifa terminal send FILE...`.
struct TerminalSendCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "send",
        abstract: "Send CloudEvents structured-mode JSON files, waiting until each is acknowledged.",
        discussion: """
            Straight to Kafka (default): each file becomes one record on the events topic in CloudEvents \
            binary mode (key = data.caseId, ce_* headers, value = data, byte-exact). With --http, each file \
            is POSTed to the ingest, signed as --device (default: the device named by the event's source, \
            or the agency's case system for agency sources) with its demo key.
            """)

    @OptionGroup var common: CommonOptions

    @Option(help: "Ingest base URL, e.g. http://127.0.0.1:8080: send through the ingest instead of straight to Kafka.")
    var http: String?

    @Option(help: "Sign as this registered device (with --http).")
    var device: String?

    @Flag(help: "Send each file's bytes unchanged as the record value (no key, no headers): for testing how consumers treat malformed records.")
    var raw = false

    @Argument(help: "CloudEvents structured-mode JSON files.")
    var files: [String]

    func run() async throws {
        if let http { return try await sendHTTP(http) }
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

extension TerminalSendCommand {
    /// The device that signs an event: --device, else the source's device, else the agency's case system.
    static func signer(for event: CloudEvent?, explicit: String?) -> String? {
        explicit ?? TerminalDevice.signer(for: event)
    }

    func sendHTTP(_ url: String) async throws {
        let (config, _) = try common.load()
        let client = IngestClient(baseURL: url, configDirectory: config.directory)
        var failures = 0
        for file in files {
            guard let data = FileManager.default.contents(atPath: file) else {
                warn("\(file): cannot read the file")
                failures += 1
                continue
            }
            let bytes = Array(data)
            let parsed = try? StructuredCloudEvent.parse(bytes)
            guard let deviceId = Self.signer(for: parsed, explicit: device) else {
                warn("\(file): no device to sign with: pass --device ID")
                failures += 1
                continue
            }
            do {
                let r = try await client.send(bytes, deviceId: deviceId)
                let body = String(decoding: r.body, as: UTF8.self)
                emit("sent \(file) device=\(deviceId) status=\(r.status) \(body)")
                if !(200...299).contains(r.status) { failures += 1 }
            } catch {
                warn("\(file): \(error)")
                failures += 1
            }
        }
        await client.close()
        if failures > 0 { throw ExitCode(1) }
    }
}

/// `zhifa terminal simulate`.
struct TerminalSimulateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "simulate",
        abstract: "Generate realistic traffic for the configured town (default: 大王古庄镇) and send it.",
        discussion: "Same --seed and --start give the same events. Straight to Kafka by default; --http sends through the ingest, signed with the demo devices' keys. By default every case is complete; with a later --start, events dated after now (later stages of recent cases) are not sent, as no terminal sends an event from the future, and --include-future sends them too.")

    @OptionGroup var common: CommonOptions
    @Option(help: "Ingest base URL (send through the ingest, signed).") var http: String?
    @Option(help: "Events per second (default: simulator.rate).") var rate: Int?
    @Option(help: "Number of cases (default: simulator.cases).") var cases: Int?
    @Option(help: "Random seed.") var seed: UInt64 = 1
    @Option(help: "First case day, YYYY-MM-DD (default: --days + 100 days ago, so that every case is complete by now).") var start: String?
    @Option(help: "Days the cases are spread over.") var days: Int = 30
    @Option(help: "Write a JSON summary of what was sent to this file.") var summary: String?
    @Option(help: "Cases sent at once (events of one case always go in order).") var concurrency: Int = 8
    @Flag(help: "Also send the events dated after now (a planned period replayed in full, load tests).") var includeFuture = false

    func run() async throws {
        let (config, dataDir) = try common.load()
        let logger = Logger(label: "zhifa.simulate")
        let rules = try RulesLoader.load(config.rules)
        let startDate: Date
        if let start {
            guard let d = CalendarDay(start) else { throw ValidationError("--start must be YYYY-MM-DD") }
            startDate = ChinaTime.startOfDay(d)
        } else {
            // Cases opened from here on are complete by today.
            startDate = ChinaTime.startOfDay(ChinaTime.day(of: Date()).adding(days: -(days + TownSimulator.longestCaseDays)))
        }
        var sim = TownSimulator(rules: rules, settings: config.simulator, seed: seed, start: startDate)
        let planned = try sim.generate(cases: cases ?? config.simulator.cases, daysSpan: days)
        let now = Date()
        let generated = includeFuture ? planned : planned.map { $0.known(at: now) }
        let withheld = planned.reduce(0) { $0 + $1.events.count } - generated.reduce(0) { $0 + $1.events.count }
        let sink: any EventSink
        var producer: KafkaProducer? = nil
        var client: IngestClient? = nil
        if let http {
            client = IngestClient(baseURL: http, configDirectory: config.directory)
            sink = HTTPSink(client: client!, logger: logger)
        } else {
            let bootstrap = try KafkaEndpoint.resolve(config, dataDirectory: dataDir)
            producer = try KafkaProducer(configuration: config.producerConfiguration(bootstrap: bootstrap, role: "simulator"), logger: logger)
            sink = KafkaSink(producer: producer!, topic: config.topics.events)
        }
        let result = try await SimulationRunner.run(
            generated, rate: rate ?? config.simulator.rate, sink: sink, concurrency: concurrency, seed: seed, start: startDate,
            transport: http == nil ? "kafka" : "http", logger: logger)
        await producer?.close()
        await client?.close()
        let k = result.kinds
        emit("simulated \(result.cases) cases (\(k["general"] ?? 0) general, \(k["simple"] ?? 0) simple; \(k["major"] ?? 0) major, \(k["avGap"] ?? 0) with AV gaps, \(k["avMissing"] ?? 0) without AV, \(k["revoked"] ?? 0) revoked): \(result.events) events, \(result.accepted) accepted, \(result.duplicates) duplicates, \(result.failed) failed"
             + (withheld > 0 ? "; \(withheld) events dated after now not sent (--include-future sends them)" : ""))
        if let summary {
            let e = JSONEncoder()
            e.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            try e.encode(result).write(to: URL(fileURLWithPath: summary))
        }
        if result.failed > 0 { throw ExitCode(1) }
    }
}
