import Foundation
import Synchronization
import Testing
import TestSupport
import ZhifaKafka
@testable import ZhifaRuntime

@Suite("Draining the embedded broker before it stops")
struct StopDrainTests {
    static let topic = "drained"
    static let messages = 300

    /// Runs `body` with an empty drain and an admin client on an embedded broker whose topic holds
    /// `messages` messages over three partitions; stops both afterwards.
    static func withDrain(_ body: (StopDrain, KafkaAdmin, KafkaClientSettings) async throws -> Void) async throws {
        let cluster = try EmbeddedKafkaCluster(brokers: 1, logger: testLogger("broker"))
        try cluster.createTopic(topic, partitions: 3)
        let client = KafkaClientSettings(bootstrapServers: cluster.bootstrapServers, clientId: "drain-test")
        let producer = try KafkaProducer(configuration: KafkaProducerConfiguration(client: client), logger: testLogger())
        for i in 0..<messages {
            try await producer.enqueue(KafkaRecord(topic: topic, key: "k\(i % 7)", value: Array("{\"n\":\(i)}".utf8)))
        }
        try await producer.flush()
        await producer.close()
        let admin = try KafkaAdmin(client: client, logger: testLogger())
        do {
            try await body(StopDrain(), admin, client)
        } catch {
            await admin.close()
            await cluster.shutdown()
            throw error
        }
        await admin.close()
        await cluster.shutdown()
    }

    @Test("the drain returns only once a group that joins late has read and committed every message")
    func waitsForTheGroup() async throws {
        try await Self.withDrain { drain, admin, client in
            // Auto-commit is off: the drain commits what the consumer stored when it looks.
            var config = KafkaConsumerConfiguration(client: client, groupId: "late-reader")
            config.autoCommit = false
            let consumer = try KafkaConsumer(configuration: config, logger: testLogger())
            drain.watch(group: "late-reader", topics: [Self.topic], stopped: { nil }, commit: { try await consumer.commit() })
            let read = Atomic<Int>(0)
            // The drain starts before the group has even joined: everything is unread.
            let drained = Task { () -> (outcome: DrainOutcome, readThen: Int) in
                let outcome = await drain.drain(admin: admin, timeout: .seconds(120))
                return (outcome, read.load(ordering: .relaxed))
            }
            try consumer.subscribe([Self.topic])
            while read.load(ordering: .relaxed) < Self.messages {
                let batch = await consumer.nextBatch(max: 16)
                consumer.markDone { mark in for m in batch { mark(m) } }
                read.add(batch.count, ordering: .relaxed)
                drain.progressMade()
            }
            let (outcome, readThen) = await drained.value
            #expect(outcome == DrainOutcome(quiet: true, left: []))
            #expect(readThen == Self.messages)
            // What the drain saw: the group's committed offsets are the ends of every partition.
            var ends: [KafkaTopicPartition: Int64] = [:]
            for p in Int32(0)..<3 {
                let tp = KafkaTopicPartition(topic: Self.topic, partition: p)
                ends[tp] = try await admin.watermarks(tp).high
            }
            #expect(ends.values.reduce(0, +) == Int64(Self.messages))
            #expect(try await admin.committedOffsets(group: "late-reader", partitions: Array(ends.keys)) == ends)
            await consumer.close()
        }
    }

    @Test("at the deadline the drain names each group's unread messages, a stopped consumer and an outbox not yet sent")
    func namesWhatIsLeft() async throws {
        try await Self.withDrain { drain, admin, _ in
            drain.watch(group: "never-reads", topics: [Self.topic], stopped: { nil }, commit: {})
            drain.watch(group: "failed-reader", topics: [Self.topic], stopped: { "failed: handler crashed" }, commit: {})
            drain.watch(outbox: "ingest") { false }
            let outcome = await drain.drain(admin: admin, timeout: .milliseconds(300))
            #expect(!outcome.quiet)
            #expect(outcome.left.sorted() == [
                "group failed-reader no longer reads (failed: handler crashed)",
                "group never-reads: \(Self.messages) unread on \(Self.topic)",
                "the ingest outbox has events not yet sent",
            ])
        }
    }

    @Test("a group whose consumer stopped reading is reported but not waited for: the drain ends quiet before its deadline")
    func doesNotWaitForAStoppedConsumer() async throws {
        try await Self.withDrain { drain, admin, _ in
            drain.watch(group: "failed-reader", topics: [Self.topic], stopped: { "failed: handler crashed" }, commit: {})
            drain.watch(outbox: "review") { true }
            // Waiting for the stopped group would run into the deadline and end the drain not quiet.
            let outcome = await drain.drain(admin: admin, timeout: .seconds(30))
            #expect(outcome == DrainOutcome(quiet: true, left: ["group failed-reader no longer reads (failed: handler crashed)"]))
        }
    }

    @Test("a commit that failed is tried again without waiting for progress: the drain ends quiet before its deadline")
    func retriesAFailedCommit() async throws {
        struct CommitRefused: Error {}
        try await Self.withDrain { drain, admin, _ in
            let commits = Atomic<Int>(0)
            drain.watch(group: "flaky-commit", topics: [], stopped: { nil }, commit: {
                if commits.add(1, ordering: .relaxed).newValue == 1 { throw CommitRefused() }
            })
            // Nothing reports progress: without the retry, the drain would wait out its deadline.
            let outcome = await drain.drain(admin: admin, timeout: .seconds(30), retryAfter: .milliseconds(50))
            #expect(outcome == DrainOutcome(quiet: true, left: []))
            #expect(commits.load(ordering: .relaxed) >= 2)
        }
    }

    @Test("a look counts as quiet only when the look before found nothing left either, with the topics' ends where they were")
    func quietNeedsTwoLooks() {
        let tp = KafkaTopicPartition(topic: "t", partition: 0)
        var done = DrainLook(groups: ["g": ["t"]])
        done.ends = [tp: 5]
        done.committed = ["g": [tp: 5]]
        #expect(done.remaining.isEmpty)
        #expect(!done.isQuiet(after: nil))
        #expect(done.isQuiet(after: done))
        var moved = done
        moved.ends = [tp: 4]
        moved.committed = ["g": [tp: 4]]
        #expect(!done.isQuiet(after: moved), "a message arrived and was read between the looks")
        var behind = done
        behind.committed = ["g": [tp: 2]]
        #expect(behind.remaining == ["group g: 3 unread on t"])
        #expect(!behind.isQuiet(after: done))
        #expect(!done.isQuiet(after: behind))
    }
}
