import Foundation
import Metrics
import Testing
import TestSupport
import ZhifaDomain
import ZhifaKafka
@testable import ZhifaReview
import ZhifaRuntime

struct ProcessorFixture {
    let dir: TemporaryDirectory
    let store: SQLiteReviewStore
    let processor: ReviewProcessor

    init() throws {
        dir = try TemporaryDirectory()
        let config = try testConfiguration()
        store = try SQLiteReviewStore(path: dir.url.appendingPathComponent("review.sqlite").path)
        processor = ReviewProcessor(
            store: store, book: try RulesLoader.load(config.rules), calendar: try CalendarLoader.load(config.rules.calendarDirectory),
            settings: config.review, topic: "zhifa.review.v1", group: "zhifa-review", metricsFactory: NOOPMetricsHandler.instance,
            logger: testLogger(), now: { Date(timeIntervalSince1970: 1_764_000_000) })
    }

    func message(_ e: CloudEvent, offset: Int64 = 0) -> KafkaConsumerMessage {
        let r = CloudEventKafka.record(for: e, topic: "zhifa.events.v1")
        return KafkaConsumerMessage(topic: "zhifa.events.v1", partition: 0, offset: offset, timestamp: nil, key: r.key, value: r.value, headers: r.headers)
    }

    func close() async {
        await store.close()
        dir.cleanup()
    }
}

@Suite("Review processor")
struct ReviewProcessorTests {
    @Test("a redelivered event changes nothing and returns the same outputs (same ce_ids)")
    func idempotent() async throws {
        let f = try ProcessorFixture()
        var first: [String: [KafkaRecord]] = [:]
        for e in try ExampleEvents.named("general") { first[e.id] = try await f.processor.handle(f.message(e)) }
        let drafted = try ExampleEvents.named("general").first { $0.type == EventType.decisionDrafted.rawValue }!
        let again = try await f.processor.handle(f.message(drafted))
        #expect(!again.isEmpty)
        #expect(again.map { $0.headers.text("ce_id") } == first[drafted.id]!.map { $0.headers.text("ce_id") })
        #expect(again.map(\.value) == first[drafted.id]!.map(\.value), "byte-identical outputs")
        #expect(try await f.store.tasks(caseId: "WQ-DWGZ-2024-0012", decisionId: "DEC-0012").count == 1, "still one task")
        #expect(try await f.store.caseEvents("WQ-DWGZ-2024-0012").count == 13)
        await f.close()
    }

    @Test("events of one case in any order give the same classification, findings and task")
    func orderIndependent() async throws {
        let events = try ExampleEvents.named("general")
        var outcomes: [DecisionRecord?] = []
        // Every event once as the last to arrive (a late AV segment changes its neighbours' chain
        // predecessors), the reverse, and random orders.
        let eachLast = events.indices.map { i in events.enumerated().filter { $0.offset != i }.map(\.element) + [events[i]] }
        for order in [events, events.reversed()] + eachLast + (0..<8).map({ _ in events.shuffled() }) {
            let f = try ProcessorFixture()
            for e in order { _ = try await f.processor.handle(f.message(e)) }
            outcomes.append(try await f.store.decision(caseId: "WQ-DWGZ-2024-0012", decisionId: "DEC-0012"))
            #expect(try await f.store.tasks(caseId: "WQ-DWGZ-2024-0012", decisionId: "DEC-0012").count == 1)
            await f.close()
        }
        for (i, o) in outcomes.enumerated() where o != outcomes[0] { Issue.record("order \(i) gave \(String(describing: o))") }
        #expect(outcomes[0]?.major == true)
        #expect(outcomes[0]?.violation == true, "issued with no approving opinion, whichever event arrived last")
        #expect(outcomes[0]?.findingsHash.hasPrefix("P-") == true, "every check passes once everything has arrived")
    }

    @Test("an invalid event is a permanent failure carrying the validation message, with no personal data")
    func invalid() async throws {
        let f = try ProcessorFixture()
        let bad = try StructuredCloudEvent.parse(Array(Data(contentsOf: contractDirectory.appendingPathComponent("bad/missing-caseId.json"))))
        do {
            _ = try await f.processor.handle(f.message(bad))
            Issue.record("expected a permanent failure")
        } catch let e as PermanentFailure {
            #expect(e.reason.contains("/data/caseId"))
            #expect(e.reason.contains("required"))
            #expect(!e.reason.contains("13812345678"))
        }
        let raw = KafkaConsumerMessage(topic: "zhifa.events.v1", partition: 0, offset: 1, timestamp: nil, key: nil, value: Array("{oops".utf8), headers: [])
        await #expect(throws: PermanentFailure.self) { _ = try await f.processor.handle(raw) }
        await f.close()
    }
}
