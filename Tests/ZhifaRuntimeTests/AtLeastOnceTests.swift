import Foundation
import GRDB
import Testing
import TestSupport
import ZhifaKafka
@testable import ZhifaRuntime

@Suite("At-least-once through a real consumer process")
struct AtLeastOnceTests {
    static func count(_ dbPath: String, _ sql: String) -> Int {
        guard FileManager.default.fileExists(atPath: dbPath),
              let q = try? DatabaseQueue(path: dbPath, configuration: { var c = Configuration(); c.readonly = true; return c }()) else { return 0 }
        return (try? q.read { try Int.fetchOne($0, sql: sql) ?? 0 }) ?? 0
    }

    @Test("a consumer killed with SIGKILL mid-stream and restarted loses nothing; the idempotent sink holds each message once")
    func sigkillMidStream() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.cleanup() }
        let cluster = try EmbeddedKafkaCluster(brokers: 1, logger: testLogger("broker"))
        for t in ["stream", "sink-g.dlq", "sink-g.retry"] { try cluster.createTopic(t, partitions: 6) }
        // The stream comes in two halves: the sink is killed while it works on the first, and the
        // second arrives while it is down, so the kill lands mid-stream by construction.
        let total = 20_000
        let half = total / 2
        let producer = try KafkaProducer(configuration: KafkaProducerConfiguration(client: KafkaClientSettings(bootstrapServers: cluster.bootstrapServers)), logger: testLogger())
        func produce(_ range: Range<Int>) async throws {
            for i in range {
                try await producer.enqueue(KafkaRecord(topic: "stream", key: "case-\(i % 300)", value: Array("{\"n\":\(i)}".utf8), headers: [KafkaHeader("ce_id", "evt-\(i)")]))
            }
            try await producer.flush()
        }
        try await produce(0..<half)

        let db = dir.url.appendingPathComponent("sink.sqlite").path
        var sinks: [Process] = []
        defer { for p in sinks where p.isRunning { kill(p.processIdentifier, SIGKILL) } }  // a failed wait leaves none behind
        func startSink() throws -> (Process, URL) {
            let log = dir.url.appendingPathComponent("sink-\(sinks.count + 1).log")
            _ = FileManager.default.createFile(atPath: log.path, contents: nil)
            let p = Process()
            p.executableURL = buildProduct("zhifa-test-sink")
            p.arguments = [cluster.bootstrapServers, "stream", "sink-g", db]
            p.standardOutput = FileHandle.nullDevice
            p.standardError = try FileHandle(forWritingTo: log)
            try p.run()
            sinks.append(p)
            return (p, log)
        }
        func logTail(_ log: URL) -> String {
            ((try? String(contentsOf: log, encoding: .utf8)) ?? "").split(separator: "\n").suffix(15).joined(separator: "\n")
        }
        /// Messages stored so far; throws (with the sink's last log lines) once the sink has died.
        func stored(by sink: (Process, URL)) throws -> Int {
            let n = Self.count(db, "SELECT COUNT(*) FROM seen")
            guard sink.0.isRunning else {
                throw TimedOut(description: "the sink exited (status \(sink.0.terminationStatus)) with \(n) stored; its log ends:\n\(logTail(sink.1))")
            }
            return n
        }
        let first = try startSink()
        try await eventually("the sink has stored some messages; its log ends:\n\(logTail(first.1))", measure: { try stored(by: first) }, until: { $0 >= 3_000 })
        kill(first.0.processIdentifier, SIGKILL)
        first.0.waitUntilExit()
        let atKill = Self.count(db, "SELECT COUNT(*) FROM seen")
        #expect(atKill >= 3_000 && atKill <= half, "killed mid-stream")
        try await produce(half..<total)
        await producer.close()

        // The pace is the machine's; the wait fails when the count stops moving (or the sink
        // dies), not at a fixed time.
        let (second, secondLog) = try startSink()
        try await eventually("every message stored after the restart; the sink's log ends:\n\(logTail(secondLog))",
                              measure: { try stored(by: (second, secondLog)) }, until: { $0 == total })
        second.terminate()  // SIGTERM: graceful
        second.waitUntilExit()
        #expect(second.terminationStatus == 0)
        #expect(Self.count(db, "SELECT COUNT(*) FROM seen") == total)
        #expect(Self.count(db, "SELECT COUNT(DISTINCT id) FROM seen") == total)
        #expect(Self.count(db, "SELECT COUNT(*) FROM deliveries") >= total)
        await cluster.shutdown()
    }
}
