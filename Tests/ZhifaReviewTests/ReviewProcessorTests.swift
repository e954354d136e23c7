import Foundation
import Logging
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

    init(logger: Logger = testLogger()) throws {
        dir = try TemporaryDirectory()
        let config = try testConfiguration()
        store = try SQLiteReviewStore(path: dir.url.appendingPathComponent("review.sqlite").path)
        processor = ReviewProcessor(
            store: store, book: try RulesLoader.load(config.rules), calendar: try CalendarLoader.load(config.rules.calendarDirectory),
            settings: config.review, topic: "zhifa.review.v1", group: "zhifa-review", metricsFactory: NOOPMetricsHandler.instance,
            logger: logger, now: { Date(timeIntervalSince1970: 1_764_000_000) })
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

    @Test("a non-major decision is logged when it starts and stops failing a check, not again on each later event of the case")
    func failingChecksAreLoggedOnChange() async throws {
        let log = CapturedLog(level: .info)
        let f = try ProcessorFixture(logger: log.logger("review"))
        let simple = try ExampleEvents.named("simple")
        let byType = { (t: EventType) in simple.first { $0.type == t.rawValue }! }
        // The on-the-spot decision arrives before the record of the act it was made in (a terminal
        // sends the act when it ends): its checks fail until then; the recording changes nothing.
        for e in [byType(.caseOpened), byType(.decisionIssued), byType(.avSegmentRegistered), byType(.actionRecorded)] {
            _ = try await f.processor.handle(f.message(e))
        }
        let failed = log.entries.filter { $0.message == "a non-major decision failed a check" }
        #expect(failed.count == 1, "\(failed.map(\.metadata))")
        #expect(failed.first?.level == .notice)
        #expect(failed.first?.metadata["checks"]?.contains("7") == true)
        let passing = log.entries.filter { $0.message.hasPrefix("a non-major decision no longer fails a check") }
        #expect(passing.count == 1, "\(log.entries.map(\.message))")
        #expect(try await f.store.decision(caseId: "WQ-DWGZ-2024-S-0088", decisionId: "DEC-S-0088")?.findingsHash.hasPrefix("P-") == true)
        await f.close()
    }

    @Test("one camera's recordings in three cases, the third processed before the second (another partition): its AV check waits instead of failing, and passes once the second has arrived")
    func recordingsOfOtherCasesOutOfOrder() async throws {
        let f = try ProcessorFixture()
        let shas = (1...3).map { String(repeating: "\($0)", count: 64) }
        let cases = try (1...3).map { n in try ExampleEvents.simpleCopy(n, sha: shas[n - 1], previous: n > 1 ? shas[n - 2] : nil) }
        /// The AV integrity result in the findings a handled event produced, if it produced any.
        func avIntegrity(_ outputs: [KafkaRecord]) throws -> String? {
            for r in outputs where r.headers.text("ce_type") == ReviewEventType.findings.rawValue {
                let findings = try JSONParser.parse(r.value ?? [])["findings"]?.arrayValue ?? []
                return findings.first { $0["checkId"]?.doubleValue == 11 }?["result"]?.stringValue
            }
            return nil
        }
        for e in cases[0] { _ = try await f.processor.handle(f.message(e)) }
        var third: [String?] = []
        for e in cases[2].dropLast() { third.append(try avIntegrity(try await f.processor.handle(f.message(e)))) }
        #expect(third.last == "needsHuman", "case 3's decision, checked while case 2's recording is on its way: \(third)")
        #expect(try await f.store.decision(caseId: "WQ-DWGZ-2024-S-0088-3", decisionId: "DEC-S-0088-3")?.failsACheck == false)
        for e in cases[1] { _ = try await f.processor.handle(f.message(e)) }
        // The next event of case 3 checks its decision again: the chain is whole now.
        let closing = try avIntegrity(try await f.processor.handle(f.message(cases[2].last!)))
        #expect(closing == "pass")
        #expect(try await f.store.decision(caseId: "WQ-DWGZ-2024-S-0088-2", decisionId: "DEC-S-0088-2")?.failsACheck == false)
        await f.close()
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
