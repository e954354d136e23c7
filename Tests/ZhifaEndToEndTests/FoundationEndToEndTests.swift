import Foundation
import Metrics
import ServiceLifecycle
import Testing
import TestSupport
import Yams
import ZhifaDomain
import ZhifaKafka
import ZhifaRuntime

@Suite("Foundation commands through the zhifa binary", .serialized)
struct FoundationEndToEndTests {
    @Test("zhifa terminal simulate sends complete cases by default, and never an event dated after now unless asked")
    func simulateSendsNothingFromTheFuture() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.cleanup() }
        let broker = try ZhifaProcess(["broker", "--data-dir", dir.url.path])
        let bootstrap = try await broker.waitForLine("kafka bootstrap: ")
        func simulate(_ extra: [String]) async throws -> (sent: String, withheld: Int) {
            let run = try await runProgram(buildProduct("zhifa").path, ["terminal", "simulate", "--data-dir", dir.url.path, "--cases", "40", "--rate", "5000"] + extra,
                                     environment: ["ZHIFA_LOG_LEVEL": "warning"])
            #expect(run.status == 0, "\(run.stderr)")
            return (run.stdout, run.stdout.firstMatch(of: /; (\d+) events dated after now not sent/).map { Int($0.1)! } ?? 0)
        }
        func sentTimes() async throws -> [Date] {
            try await readTopic("zhifa.events.v1", bootstrap: bootstrap).map { m in m.headers.text("ce_time").flatMap { RFC3339Time.parse($0)?.date } ?? .distantFuture }
        }
        // By default the cases are far enough back to be complete: every one is closed, or its decision revoked.
        let complete = try await simulate([])
        #expect(complete.withheld == 0, "\(complete.sent)")
        let firstRun = try await readTopic("zhifa.events.v1", bootstrap: bootstrap)
        let cases = Set(firstRun.compactMap(\.keyText))
        let ended = Set(firstRun.filter { [EventType.caseClosed.rawValue, EventType.decisionRevoked.rawValue].contains($0.headers.text("ce_type")) }.compactMap(\.keyText))
        #expect(cases.count == 40 && ended == cases, "\(cases.count) cases, \(ended.count) closed or revoked")
        // Cases opened over the last 30 days: general ones are decided and closed weeks later.
        let recentStart = ChinaTime.day(of: Date()).adding(days: -30).description
        let recent = try await simulate(["--start", recentStart])
        #expect(recent.withheld > 0, "\(recent.sent)")
        let now = Date()
        let times = try await sentTimes()
        #expect(times.allSatisfy { $0 <= now }, "events dated after now: \(times.filter { $0 > now }.count)")
        // --include-future sends the whole plan: exactly the withheld events more.
        let all = try await simulate(["--start", recentStart, "--include-future"])
        #expect(all.withheld == 0 && !all.sent.contains("not sent"))
        #expect(try await sentTimes().count == 2 * times.count - firstRun.count + recent.withheld)
        await broker.stop()
    }

    @Test("zhifa broker announces its bootstrap, records it, serves clients, and cleans up on SIGTERM")
    func brokerLifecycle() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.cleanup() }
        let extra = dir.url.appendingPathComponent("bootstrap.txt")
        let broker = try ZhifaProcess(["broker", "--brokers", "2", "--data-dir", dir.url.path, "--bootstrap-file", extra.path])
        let bootstrap = try await broker.waitForLine("kafka bootstrap: ")
        #expect(broker.output.first == "kafka bootstrap: \(bootstrap)", "the first line of standard output")
        #expect(bootstrap.split(separator: ",").count == 2)
        #expect(try String(contentsOf: dir.url.appendingPathComponent("bootstrap"), encoding: .utf8) == bootstrap)
        #expect(try String(contentsOf: extra, encoding: .utf8) == bootstrap)

        // terminal send (straight to Kafka) finds the broker through the data directory.
        let examples = files(in: contractDirectory.appendingPathComponent("examples"))
        let send = try await runProgram(buildProduct("zhifa").path, ["terminal", "send", "--data-dir", dir.url.path] + examples.map(\.path),
                                  environment: ["ZHIFA_LOG_LEVEL": "warning"])
        #expect(send.status == 0, "\(send.stderr)")
        #expect(send.stdout.split(separator: "\n").count == examples.count)

        // tail prints the INTERFACES.md JSON lines.
        let tail = try await runProgram(buildProduct("zhifa").path, ["tail", "zhifa.events.v1", "--from-beginning", "--count", "\(examples.count)", "--data-dir", dir.url.path])
        #expect(tail.status == 0, "\(tail.stderr)")
        let lines = tail.stdout.split(separator: "\n").map { try! JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any] }
        #expect(lines.count == examples.count)
        for l in lines {
            #expect(Set(l.keys) == ["topic", "partition", "offset", "timestamp", "key", "headers", "value"])
            #expect(l["topic"] as? String == "zhifa.events.v1")
            let headers = l["headers"] as! [String: Any]
            #expect(headers["ce_specversion"] as? String == "1.0")
            let value = l["value"] as! [String: Any]
            #expect(value["caseId"] as? String == l["key"] as? String)
            #expect((l["timestamp"] as? String).flatMap { RFC3339Time.parse($0) } != nil)
        }
        // A raw, non-JSON record shows as base64.
        let raw = try await runProgram(buildProduct("zhifa").path, ["terminal", "send", "--raw", "--data-dir", dir.url.path, contractDirectory.appendingPathComponent("bad/not-json.json").path])
        #expect(raw.status == 0)
        let all = try await runProgram(buildProduct("zhifa").path, ["tail", "zhifa.events.v1", "--from-beginning", "--count", "\(examples.count + 1)", "--data-dir", dir.url.path])
        #expect(all.stdout.contains("\"base64\""))

        broker.signal(SIGTERM)
        #expect(try await broker.waitForExit() == 0)
        #expect(!FileManager.default.fileExists(atPath: dir.url.appendingPathComponent("bootstrap").path))
        #expect(!FileManager.default.fileExists(atPath: extra.path))
        // With no broker, commands say what to do.
        let none = try await runProgram(buildProduct("zhifa").path, ["tail", "zhifa.events.v1", "--data-dir", dir.url.path])
        #expect(none.status != 0)
        #expect(none.stderr.contains("start `zhifa up` or `zhifa broker` first"))
    }

    @Test("zhifa up runs the embedded broker and the services, and stops cleanly on SIGINT")
    func upLifecycle() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.cleanup() }
        let up = try ZhifaProcess(["up", "--data-dir", dir.url.path], environment: [
            "ZHIFA_HTTP_PORTS_INGEST": "0", "ZHIFA_HTTP_PORTS_REVIEW": "0", "ZHIFA_HTTP_PORTS_PUBLICITY": "0", "ZHIFA_HTTP_PORTS_ARCHIVE": "0",
        ])
        let bootstrap = try await up.waitForLine("kafka bootstrap: ")
        #expect(up.output.first?.hasPrefix("kafka bootstrap: ") == true)
        #expect(try String(contentsOf: dir.url.appendingPathComponent("bootstrap"), encoding: .utf8) == bootstrap)
        let ingest = try await up.url(of: "ingest")
        #expect(ingest.hasPrefix("http://127.0.0.1:"))
        up.signal(SIGINT)
        #expect(try await up.waitForExit() == 0)
        #expect(!FileManager.default.fileExists(atPath: dir.url.appendingPathComponent("bootstrap").path))
    }

    @Test("zhifa up whose port is taken says which service, port and setting, and stops what it started in order (the broker last)")
    func upWithPortInUse() async throws {
        let (dirA, dirB) = (try TemporaryDirectory(), try TemporaryDirectory())
        defer { dirA.cleanup(); dirB.cleanup() }
        let anyPorts = ["ZHIFA_HTTP_PORTS_INGEST": "0", "ZHIFA_HTTP_PORTS_REVIEW": "0", "ZHIFA_HTTP_PORTS_PUBLICITY": "0", "ZHIFA_HTTP_PORTS_ARCHIVE": "0"]
        let first = try ZhifaProcess(["up", "--data-dir", dirA.url.path], environment: anyPorts)
        let taken = try #require(try await first.url(of: "review").split(separator: ":").last.map(String.init))
        let second = try ZhifaProcess(["up", "--data-dir", dirB.url.path], environment: anyPorts.merging(["ZHIFA_HTTP_PORTS_REVIEW": taken]) { $1 })
        #expect(try await second.waitForExit() == 1)
        try await eventually("the error on standard error") { second.errorOutput.contains("Error: ") }
        let err = second.errorOutput
        #expect(err.contains("Error: the review service cannot listen on 127.0.0.1:\(taken): the port is already in use"), "\(err.suffix(1_500))")
        #expect(err.contains("ZHIFA_HTTP_PORTS_REVIEW"))
        #expect(!err.contains("bind(descriptor"))
        #expect(!err.contains("Disconnected"), "a client logged the embedded broker going away before it closed: \(err.suffix(1_500))")
        #expect(!FileManager.default.fileExists(atPath: dirB.url.appendingPathComponent("bootstrap").path), "the stopped broker's bootstrap is left behind")
        first.signal(SIGINT)
        #expect(try await first.waitForExit() == 0)
    }

    @Test("zhifa dlq list and replay show a group's dead letters and re-inject one through its retry topic")
    func deadLetterCommands() async throws {
        let config = try testConfiguration()
        let cluster = try embeddedClusterWithAllTopics()
        try cluster.createTopic("g-cli.dlq", partitions: 6)
        try cluster.createTopic("g-cli.retry", partitions: 6)
        try cluster.createTopic("cli-in", partitions: 6)
        let producer = try KafkaProducer(configuration: config.producerConfiguration(bootstrap: cluster.bootstrapServers, role: "t"), logger: testLogger())
        let seen = Recorder<String>()
        var settings = config.worker
        settings.maxAttempts = 2
        settings.initialBackoff = .milliseconds(10)
        let worker = KafkaWorker(
            group: "g-cli", topics: ["cli-in"], settings: settings,
            consumer: config.consumerConfiguration(bootstrap: cluster.bootstrapServers, group: "g-cli", role: "t"), producer: producer,
            metricsFactory: NOOPMetricsHandler.instance, logger: testLogger()
        ) { m in
            let id = m.headers.text("ce_id") ?? ""
            if id.hasPrefix("bad") && !seen.all.contains("heal") { throw PermanentFailure("schema: /data/caseId: is required (required)") }
            seen.append(id)
            return []
        }
        let group = ServiceGroup(configuration: .init(services: [.init(service: worker)], logger: testLogger()))
        let task = Task { try await group.run() }
        for id in ["ok-1", "bad-1", "bad-2", "ok-2"] {
            _ = try await producer.send(KafkaRecord(topic: "cli-in", key: "case-x", value: Array("{}".utf8), headers: [KafkaHeader("ce_id", id), KafkaHeader("ce_type", "cn.zhifa.case.opened.v1")]))
        }
        try await eventually("both good messages processed") { seen.count == 2 }
        let env = ["ZHIFA_KAFKA_BROKERS": cluster.bootstrapServers]
        var list = (status: Int32(0), stdout: "", stderr: "")
        try await eventually("two dead letters listed") {
            list = try await runProgram(buildProduct("zhifa").path, ["dlq", "list", "g-cli"], environment: env)
            return list.stdout.split(separator: "\n").count == 2
        }
        let letters = list.stdout.split(separator: "\n").map { try! JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any] }
        #expect(Set(letters.compactMap { $0["id"] as? String }) == ["bad-1", "bad-2"])
        for l in letters {
            #expect(l["error"] as? String == "schema: /data/caseId: is required (required)")
            #expect((l["origin"] as? [String: Any])?["topic"] as? String == "cli-in")
            #expect(l["replayed"] as? Bool == false)
            #expect(l["group"] as? String == "g-cli")
        }
        seen.append("heal")
        let replay = try await runProgram(buildProduct("zhifa").path, ["dlq", "replay", "g-cli", "--id", "bad-2"], environment: env)
        #expect(replay.status == 0, "\(replay.stderr)")
        #expect(replay.stdout.contains("replayed 1 dead letter"))
        try await eventually("the replayed message processed") { seen.all.contains("bad-2") }
        let again = try await runProgram(buildProduct("zhifa").path, ["dlq", "replay", "g-cli", "--id", "bad-2"], environment: env)
        #expect(again.stdout.contains("replayed 0 dead letter"), "a dead letter is replayed once")
        let missing = try await runProgram(buildProduct("zhifa").path, ["dlq", "replay", "g-cli", "--id", "nope"], environment: env)
        #expect(missing.status != 0)
        #expect(!seen.all.contains("bad-1"))
        await group.triggerGracefulShutdown()
        try await task.value
        await producer.close()
        await cluster.shutdown()
    }

    @Test("every zhifa service in deploy/compose.yaml names a real zhifa subcommand")
    func composeFile() async throws {
        let text = try String(contentsOf: repositoryRoot.appendingPathComponent("deploy/compose.yaml"), encoding: .utf8)
        let doc = try #require(try Yams.load(yaml: text) as? [String: Any])
        let services = try #require(doc["services"] as? [String: Any])
        let kafka = try #require(services["kafka"] as? [String: Any])
        #expect((kafka["image"] as? String)?.hasPrefix("apache/kafka") == true)
        let env = kafka["environment"] as? [String: Any] ?? [:]
        #expect(env["KAFKA_PROCESS_ROLES"] as? String == "broker,controller", "KRaft, one node")
        let dump = try await runProgram(buildProduct("zhifa").path, ["--experimental-dump-help"])
        let tree = try #require(try JSONSerialization.jsonObject(with: Data(dump.stdout.utf8)) as? [String: Any])
        let subcommands = Set(((tree["command"] as? [String: Any])?["subcommands"] as? [[String: Any]] ?? []).compactMap { $0["commandName"] as? String })
        #expect(subcommands.contains("up") && subcommands.contains("broker"))
        var zhifaServices = 0
        for (name, value) in services where name != "kafka" {
            let s = try #require(value as? [String: Any])
            guard (s["image"] as? String)?.hasPrefix("zhifa") == true else { continue }
            zhifaServices += 1
            let command = try #require(s["command"] as? [String], "\(name) has a command")
            #expect(subcommands.contains(command[0]), "\(name): `zhifa \(command[0])` is not a zhifa subcommand (have: \(subcommands.sorted()))")
            let envs = s["environment"] as? [String: Any] ?? [:]
            #expect(envs["ZHIFA_KAFKA_BROKERS"] as? String == "kafka:9092")
        }
        #expect(zhifaServices >= 4)
    }
}
