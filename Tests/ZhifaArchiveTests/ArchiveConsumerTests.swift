import Foundation
import GRDB
import Logging
import Metrics
import Synchronization
import Testing
import TestSupport
import ZhifaArchive
import ZhifaDomain
import ZhifaKafka
import ZhifaRuntime

/// A store whose appends fail on the calls listed in `failing` (1-based), then pass through.
final class FlakyArchiveStore: ArchiveStore {
    let inner: SQLiteArchiveStore
    let failing: Set<Int>
    let calls = Mutex(0)
    let failures = Mutex(0)

    init(_ inner: SQLiteArchiveStore, failing: Set<Int>) {
        self.inner = inner
        self.failing = failing
    }

    struct InjectedFailure: Error {}

    func append(_ messages: [IncomingMessage]) async throws -> AppendOutcome {
        let call = calls.withLock { $0 += 1; return $0 }
        if failing.contains(call) {
            failures.withLock { $0 += 1 }
            throw InjectedFailure()
        }
        return try await inner.append(messages)
    }
    func heads() async throws -> [ChainHead] { try await inner.heads() }
    func recordPublished(_ heads: [ChainHead]) async throws { try await inner.recordPublished(heads) }
    func publishedHead(_ chain: String) async throws -> ChainHead? { try await inner.publishedHead(chain) }
    func caseItems(_ caseId: String) async throws -> [ArchivedItem] { try await inner.caseItems(caseId) }
    func predecessor(of segment: AVSegmentRegistered) async throws -> DevicePredecessor { try await inner.predecessor(of: segment) }
    func links(chain: String, from: Int64, through: Int64) async throws -> [ChainLink] { try await inner.links(chain: chain, from: from, through: through) }
    func verify(caseId: String?, now: Date) async throws -> FourPropertiesReport { try await inner.verify(caseId: caseId, now: now) }
    func audit(actor: String, action: String, target: String, at: Date) async throws { try await inner.audit(actor: actor, action: action, target: target, at: at) }
    func auditLog() async throws -> [AuditEntry] { try await inner.auditLog() }
    func applyRetention(rules: RetentionRules, now: Date) async throws -> Int { try await inner.applyRetention(rules: rules, now: now) }
    func count() async throws -> Int64 { try await inner.count() }
    func close() async { await inner.close() }
}

/// The archive consumer against the embedded broker in this process: its batch pipeline keeps
/// each partition's chain in offset order and loses nothing when appends fail and are retried.
@Suite("Archive consumer: pipelined batches, retried appends") struct ArchiveConsumerTests {
    @Test("appends that fail are retried while later batches wait: every message archived once, each chain in offset order, a receipt for each")
    func failedAppendsKeepOrder() async throws {
        let review = "zhifa.review.v1", receipts = "zhifa.archive.receipts.v1", events = "zhifa.events.v1"
        let cluster = try EmbeddedKafkaCluster(brokers: 1, logger: testLogger("broker"))
        for (t, p) in [(review, Int32(3)), (receipts, 3), (events, 3)] { try cluster.createTopic(t, partitions: p, replicationFactor: 1) }
        let dir = try TemporaryDirectory()
        defer { dir.cleanup() }
        let path = dir.url.appendingPathComponent("archive.sqlite").path
        // The second and third appends fail: batch 2 is retried (twice) while batch 3 is read and waits.
        let store = FlakyArchiveStore(try SQLiteArchiveStore(path: path), failing: [2, 3])
        let client = KafkaClientSettings(bootstrapServers: cluster.bootstrapServers, clientId: "test")
        let producer = try KafkaProducer(configuration: KafkaProducerConfiguration(client: client), logger: testLogger("producer"))

        let total = 900
        let records = try (0..<total).map { i in
            try InternalEvents.record(topic: review, key: "case-\(i % 7)", id: "review-\(i)", type: "cn.zhifa.test.v1", service: "test",
                                      payload: ["caseId": "case-\(i % 7)", "n": "\(i)"])
        }
        _ = try await producer.sendAll(records)

        var consumerConfiguration = KafkaConsumerConfiguration(client: client, groupId: "zhifa-archive-test")
        consumerConfiguration.autoCommitIntervalMs = 200
        let consumer = ArchiveConsumer(store: store, intake: ArchiveIntake(eventsTopic: events), producer: producer, configuration: consumerConfiguration,
                                       topics: [review], receiptsTopic: receipts, batchSize: 40, metricsFactory: NOOPMetricsHandler.instance,
                                       logger: testLogger("archive"))
        let running = Task { try await consumer.run() }
        let archived = try await eventually("all \(total) messages archived", stall: .seconds(30), measure: { try await store.count() }, until: { $0 >= Int64(total) })
        running.cancel()
        try await running.value

        #expect(archived == Int64(total))
        #expect(store.failures.withLock { $0 } == 2)
        // Each chain: sequences 1... without gaps, offsets rising with them, every event id once.
        let rows = try await DatabaseQueue(path: path).read { db in
            try Row.fetchAll(db, sql: "SELECT chain, seq, offset, event_id FROM entries ORDER BY chain, seq").map {
                (chain: $0[0] as String, seq: $0[1] as Int64, offset: $0[2] as Int64, id: $0[3] as String)
            }
        }
        #expect(Set(rows.map(\.id)) == Set((0..<total).map { "review-\($0)" }))
        for (chain, entries) in Dictionary(grouping: rows, by: \.chain) {
            #expect(entries.map(\.seq) == Array(1...Int64(entries.count)), "chain \(chain) has gaps")
            #expect(entries.map(\.offset) == entries.map(\.offset).sorted(), "chain \(chain) is not in offset order")
        }
        #expect(try await store.verify(caseId: nil, now: Date()).ok)

        // A receipt for every archived event.
        let reader = try KafkaConsumer(configuration: KafkaConsumerConfiguration(client: client, groupId: "receipt-reader"), logger: testLogger("reader"))
        try reader.subscribe([receipts])
        let receipted = Recorder<String>()
        let collecting = Task {
            while true {
                let batch = await reader.nextBatch(max: 1000)
                if batch.isEmpty { return }
                for m in batch {
                    receipted.append((try? InternalEvents.decode(ArchiveReceipt.self, from: m).eventId) ?? "undecodable receipt")
                    reader.markDone(m)
                }
            }
        }
        defer { collecting.cancel() }
        try await eventually("a receipt for each of \(total) events", stall: .seconds(30), measure: { receipted.count }, until: { $0 >= total })
        #expect(Set(receipted.all) == Set((0..<total).map { "review-\($0)" }))
        await reader.close()
        await producer.close()
        await store.close()
        await cluster.shutdown()
    }
}
