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
        func startSink() throws -> Process {
            let p = Process()
            p.executableURL = buildProduct("zhifa-test-sink")
            p.arguments = [cluster.bootstrapServers, "stream", "sink-g", db]
            p.standardOutput = FileHandle.nullDevice
            try p.run()
            return p
        }
        let first = try startSink()
        try await eventually("the sink has stored some messages", timeout: .seconds(60)) {
            Self.count(db, "SELECT COUNT(*) FROM seen") >= 3_000
        }
        kill(first.processIdentifier, SIGKILL)
        first.waitUntilExit()
        let atKill = Self.count(db, "SELECT COUNT(*) FROM seen")
        #expect(atKill >= 3_000 && atKill <= half, "killed mid-stream")
        try await produce(half..<total)
        await producer.close()

        let second = try startSink()
        try await eventually("every message stored after the restart", timeout: .seconds(120)) {
            Self.count(db, "SELECT COUNT(*) FROM seen") == total
        }
        second.terminate()  // SIGTERM: graceful
        second.waitUntilExit()
        #expect(second.terminationStatus == 0)
        #expect(Self.count(db, "SELECT COUNT(*) FROM seen") == total)
        #expect(Self.count(db, "SELECT COUNT(DISTINCT id) FROM seen") == total)
        #expect(Self.count(db, "SELECT COUNT(*) FROM deliveries") >= total)
        await cluster.shutdown()
    }
}
