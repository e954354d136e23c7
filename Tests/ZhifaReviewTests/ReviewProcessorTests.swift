import Foundation
import GRDB
import Logging
import Metrics
import Prometheus
import Synchronization
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

    /// `wrap` puts something between the processor and the store (the store itself by default).
    init(logger: Logger = testLogger(), metricsFactory: any MetricsFactory = NOOPMetricsHandler.instance,
         wrap: (SQLiteReviewStore) -> any ReviewStore = { $0 }) throws {
        dir = try TemporaryDirectory()
        let config = try testConfiguration()
        store = try SQLiteReviewStore(path: dir.url.appendingPathComponent("review.sqlite").path)
        processor = ReviewProcessor(
            store: wrap(store), book: try RulesLoader.load(config.rules), calendar: try CalendarLoader.load(config.rules.calendarDirectory),
            settings: config.review, topic: "zhifa.review.v1", group: "zhifa-review", metricsFactory: metricsFactory,
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
    @Test("each new event's time is recorded once in every review stage; a redelivered one only in waiting for its case and reading")
    func stageTimes() async throws {
        let registry = PrometheusCollectorRegistry()
        let f = try ProcessorFixture(metricsFactory: PrometheusMetricsFactory(registry: registry))
        /// The number of times recorded for `stage`, as `/metrics` shows it.
        func count(_ stage: ReviewStage) -> Int? {
            let prefix = "zhifa_review_stage_seconds_count{stage=\"\(stage.rawValue)\"} "
            return registry.emitToString().split(separator: "\n").first { $0.hasPrefix(prefix) }.flatMap { Int($0.dropFirst(prefix.count)) }
        }
        let events = try ExampleEvents.named("general")
        for e in events { _ = try await f.processor.handle(f.message(e)) }
        for stage in ReviewStage.allCases { #expect(count(stage) == events.count, "\(stage.rawValue)") }

        _ = try await f.processor.handle(f.message(events[events.count - 1]))
        #expect(count(.caseWait) == events.count + 1)
        #expect(count(.read) == events.count + 1)
        for stage in [ReviewStage.cameraWait, .neighbours, .checks, .commit] {
            #expect(count(stage) == events.count, "a redelivered event is not checked or committed again: \(stage.rawValue)")
        }
        await f.close()
    }

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
        #expect(again.map(\.topic) == first[drafted.id]!.map(\.topic) && again.map(\.key) == first[drafted.id]!.map(\.key), "same topics and keys")
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

@Suite("Review processor: recordings of other cases")
struct ReviewRecheckTests {
    /// The AV integrity result (check 11) in the findings among `outputs`, if there are any.
    func avIntegrity(_ outputs: [KafkaRecord]) throws -> String? {
        for r in outputs where r.headers.text("ce_type") == ReviewEventType.findings.rawValue {
            let findings = try JSONParser.parse(r.value ?? [])["findings"]?.arrayValue ?? []
            return findings.first { $0["checkId"]?.doubleValue == 11 }?["result"]?.stringValue
        }
        return nil
    }

    /// A produced record as the worker consumes it again.
    func consumed(_ r: KafkaRecord, topic: String? = nil) -> KafkaConsumerMessage {
        KafkaConsumerMessage(topic: topic ?? r.topic, partition: 0, offset: 0, timestamp: nil, key: r.key, value: r.value, headers: r.headers)
    }

    @Test("a recording that arrives after the next case of its camera was reviewed has that case checked again, through the retry topic")
    func lateRecordingRechecksTheNextCase() async throws {
        let f = try ProcessorFixture()
        let shas = (1...3).map { String(repeating: "\($0)", count: 64) }
        let cases = try (1...3).map { n in try ExampleEvents.simpleCopy(n, sha: shas[n - 1], previous: n > 1 ? shas[n - 2] : nil) }
        for e in cases[0] { _ = try await f.processor.handle(f.message(e)) }
        // Case 3 is processed whole — its last event too — while case 2's recording is on its way.
        var third: [String?] = []
        for e in cases[2] { third.append(try avIntegrity(try await f.processor.handle(f.message(e)))) }
        #expect(third.compactMap { $0 }.last == "needsHuman", "\(third)")
        #expect(try await f.store.decision(caseId: "WQ-DWGZ-2024-S-0088-3", decisionId: "DEC-S-0088-3")?.cleared == false)

        // Case 2's segment lies just before case 3's on the camera: its event asks for case 3 again.
        var rechecks: [KafkaRecord] = []
        for e in cases[1] { rechecks += try await f.processor.handle(f.message(e)).filter { $0.topic == "zhifa-review.retry" } }
        try #require(rechecks.count == 1, "one re-check for case 3, none for case 1 (its segment comes before case 2's)")
        #expect(rechecks[0].key.map { String(decoding: $0, as: UTF8.self) } == "WQ-DWGZ-2024-S-0088-3")
        #expect(rechecks[0].headers.text("ce_type") == ReviewRecheckEvent.type)

        // The worker consumes it from the retry topic: the chain is whole, and the decision clears.
        let outputs = try await f.processor.handle(consumed(rechecks[0]))
        #expect(try avIntegrity(outputs) == "pass")
        let cleared = outputs.filter { $0.headers.text("ce_type") == ReviewEventType.cleared.rawValue }
        #expect(cleared.count == 1)
        #expect(outputs.allSatisfy { $0.topic == "zhifa.review.v1" && $0.key == rechecks[0].key })
        #expect(try await f.store.decision(caseId: "WQ-DWGZ-2024-S-0088-3", decisionId: "DEC-S-0088-3")?.cleared == true)

        // Redelivered, it returns the same outputs; the case's record holds only contract events.
        let again = try await f.processor.handle(consumed(rechecks[0]))
        #expect(again.map { $0.headers.text("ce_id") } == outputs.map { $0.headers.text("ce_id") })
        #expect(try await f.store.caseEvents("WQ-DWGZ-2024-S-0088-3").count == cases[2].count)
        // On the events topic the same record is no contract event: a dead letter, not a re-check.
        await #expect(throws: PermanentFailure.self) { _ = try await f.processor.handle(consumed(rechecks[0], topic: "zhifa.events.v1")) }
        await f.close()
    }

    @Test("a recording committed while the next case of its camera is reviewed: that review waits for it and sees it, so the case is not left unsettled")
    func recordingCommittedDuringTheNextCasesReview() async throws {
        // Case 2's segment is held in its commit, after it looked for a reviewed next case and
        // found none (case 3 has no decision yet). Case 3's decision then arrives. Unguarded, its
        // review would find no predecessor, and no re-check would ever follow.
        let held = HeldCommits(segmentId: "SEG-DSJ0009-0101-2")
        let f = try ProcessorFixture(wrap: { held.wrapping($0) })
        let shas = (1...3).map { String(repeating: "\($0)", count: 64) }
        let cases = try (1...3).map { n in try ExampleEvents.simpleCopy(n, sha: shas[n - 1], previous: n > 1 ? shas[n - 2] : nil) }
        let segment = EventType.avSegmentRegistered.rawValue
        let decision = EventType.decisionIssued.rawValue
        for e in cases[0] { _ = try await f.processor.handle(f.message(e)) }
        for e in cases[2].prefix(while: { $0.type != decision }) { _ = try await f.processor.handle(f.message(e)) }
        for e in cases[1].prefix(while: { $0.type != segment }) { _ = try await f.processor.handle(f.message(e)) }

        let caseTwoSegment = try #require(cases[1].first { $0.type == segment })
        let second = Task { try await f.processor.handle(f.message(caseTwoSegment)) }
        try await eventually("case 2's segment reaches its commit") { held.reached }
        let caseThreeDecision = try #require(cases[2].first { $0.type == decision })
        let third = Task { try await f.processor.handle(f.message(caseThreeDecision)) }
        let thirdDone = Recorder<Bool>()
        let watcher = Task { _ = try? await third.value; thirdDone.append(true) }
        try await eventually("case 3's review waits for the camera, or is done") { f.processor.deviceLocks.waiters("DSJ-0009") == 1 || !thirdDone.all.isEmpty }
        held.release()
        let secondOutputs = try await second.value
        let thirdOutputs = try await third.value
        await watcher.value

        #expect(try avIntegrity(thirdOutputs) == "pass", "case 3's decision is checked with case 2's segment stored")
        #expect(secondOutputs.filter { $0.topic == "zhifa-review.retry" }.isEmpty, "no re-check needed: case 3 was not reviewed before")
        #expect(try await f.store.decision(caseId: "WQ-DWGZ-2024-S-0088-3", decisionId: "DEC-S-0088-3")?.cleared == true)
        #expect(f.processor.deviceLocks.waiters("DSJ-0009") == nil, "the camera is free again")
        await f.close()
    }

    @Test("a review store from before segments knew their case opens, and its segments still chain")
    func storeFromBeforeSegmentCases() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.cleanup() }
        let path = dir.url.appendingPathComponent("review.sqlite").path
        let sha = String(repeating: "1", count: 64)
        let old = try DatabaseQueue(path: path)
        try await old.write { db in
            try db.execute(sql: """
                CREATE TABLE segments (
                    segment_id TEXT PRIMARY KEY, device_id TEXT NOT NULL, started REAL NOT NULL, ended REAL NOT NULL, sha256 TEXT NOT NULL);
                INSERT INTO segments VALUES ('SEG-OLD', 'DSJ-0009', 1719878400, 1719879000, '\(sha)');
                """)
        }
        try old.close()
        let store = try SQLiteReviewStore(path: path)
        var later = try #require(try ExampleEvents.simpleCopy(2, sha: String(repeating: "2", count: 64), previous: sha)
            .compactMap { e -> AVSegmentRegistered? in
                if case .avSegmentRegistered(let s) = try EnforcementEvent.decode(e).payload { return s } else { return nil }
            }.first)
        later.deviceId = "DSJ-0009"
        #expect(try await store.predecessor(of: later).link(of: later) == .intact(previous: "SEG-OLD"))
        var earlier = later
        earlier.segmentId = "SEG-EARLIER"
        earlier.startedAt = try #require(Instant("2024-07-02T07:00:00+08:00"))
        #expect(try await store.caseReviewedAfter(earlier, caseId: "any") == nil, "the old segment's case is not known")
        await store.close()
    }

    @Test("saving a task (new, claimed, renewed, decided) finds the next queue number through an index, not by reading every task")
    func nextTaskSeqUsesIndex() async throws {
        let plan = try await Self.planOnNewStore("SELECT \(SQLiteReviewStore.nextTaskSeq)")
        #expect(plan.contains { $0.contains("INDEX tasks_seq") }, "query plan: \(plan)")
    }

    @Test("a recording's neighbours on its camera are found through an index, without reading and sorting the camera's history")
    func neighbourLookupsUseIndex() async throws {
        for sql in [SQLiteReviewStore.previousOnDevice, SQLiteReviewStore.nextCaseOnDevice] {
            let plan = try await Self.planOnNewStore(sql, arguments: ["cam-1", 1_700_000_000.0, "seg-1"])
            #expect(plan.contains { $0.contains("INDEX segments_device_order") }, "query plan: \(plan)")
            #expect(!plan.contains { $0.contains("TEMP B-TREE") }, "query plan: \(plan)")
        }
    }

    /// SQLite's plan for `sql` on a freshly created review store (its schema and indexes).
    static func planOnNewStore(_ sql: String, arguments: StatementArguments = StatementArguments()) async throws -> [String] {
        let dir = try TemporaryDirectory()
        defer { dir.cleanup() }
        let store = try SQLiteReviewStore(path: dir.url.appendingPathComponent("review.sqlite").path)
        let plan = try await queryPlan(sql, arguments: arguments, in: store.pool)
        await store.close()
        return plan
    }

    @Test("one handler at a time works on a case; other cases go on meanwhile")
    func caseLocks() async throws {
        let locks = CaseLocks()
        let (gate, open) = AsyncStream<Void>.makeStream()
        let log = Recorder<String>()
        let first = Task {
            try await locks.run("A") {
                log.append("A1 in")
                for await _ in gate { break }
                log.append("A1 out")
            }
        }
        try await eventually("the first handler of A runs") { log.all.contains("A1 in") }
        let second = Task { try await locks.run("A") { log.append("A2 in") } }
        try await eventually("the second handler of A is queued") { locks.waiters("A") == 1 }
        try await locks.run("B") { log.append("B in") }
        #expect(log.all == ["A1 in", "B in"], "the second handler of A waits; B does not")
        open.yield()
        try await first.value
        try await second.value
        #expect(log.all == ["A1 in", "B in", "A1 out", "A2 in"])
        #expect(locks.waiters("A") == nil && locks.waiters("B") == nil)
    }
}

/// A review store whose commit of one segment's event waits until released (the rest passes
/// straight through), to hold a handler between its reads and its commit.
final class HeldCommits: Sendable {
    let segmentId: String
    private let state = Mutex<(reached: Bool, released: Bool, waiter: CheckedContinuation<Void, Never>?)>((false, false, nil))

    init(segmentId: String) { self.segmentId = segmentId }

    /// Whether the held commit has been reached.
    var reached: Bool { state.withLock { $0.reached } }

    /// Lets the held commit go on.
    func release() {
        let waiter = state.withLock { s in
            s.released = true
            defer { s.waiter = nil }
            return s.waiter
        }
        waiter?.resume()
    }

    func hold(_ step: ProcessingStep) async {
        guard step.segment?.segmentId == segmentId else { return }
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            let go = state.withLock { s -> Bool in
                s.reached = true
                if s.released { return true }
                s.waiter = c
                return false
            }
            if go { c.resume() }
        }
    }

    func wrapping(_ store: SQLiteReviewStore) -> any ReviewStore { Store(inner: store, held: self) }

    struct Store: ReviewStore {
        let inner: SQLiteReviewStore
        let held: HeldCommits

        func commit(_ step: ProcessingStep) async throws {
            await held.hold(step)
            try await inner.commit(step)
        }

        func caseEvents(_ caseId: String) async throws -> [[UInt8]] { try await inner.caseEvents(caseId) }
        func snapshot(eventId: String, caseId: String, loadEvents: Bool) async throws -> CaseSnapshot {
            try await inner.snapshot(eventId: eventId, caseId: caseId, loadEvents: loadEvents)
        }
        func predecessor(of segment: AVSegmentRegistered, pending: AVSegmentRegistered?) async throws -> DevicePredecessor {
            try await inner.predecessor(of: segment, pending: pending)
        }
        func caseReviewedAfter(_ segment: AVSegmentRegistered, caseId: String) async throws -> String? {
            try await inner.caseReviewedAfter(segment, caseId: caseId)
        }
        func decision(caseId: String, decisionId: String) async throws -> DecisionRecord? { try await inner.decision(caseId: caseId, decisionId: decisionId) }
        func tasks(caseId: String, decisionId: String) async throws -> [ReviewTask] { try await inner.tasks(caseId: caseId, decisionId: decisionId) }
        func listTasks(agencyId: String, now: Date) async throws -> [ReviewTask] { try await inner.listTasks(agencyId: agencyId, now: now) }
        func task(_ id: String) async throws -> ReviewTask? { try await inner.task(id) }
        func claimOldest(agencyId: String, reviewerId: String, recuseOfficer: String?, now: Date, lease: TimeInterval) async throws -> ReviewTask? {
            try await inner.claimOldest(agencyId: agencyId, reviewerId: reviewerId, recuseOfficer: recuseOfficer, now: now, lease: lease)
        }
        func renew(taskId: String, reviewerId: String, now: Date, lease: TimeInterval) async throws -> ReviewTask {
            try await inner.renew(taskId: taskId, reviewerId: reviewerId, now: now, lease: lease)
        }
        func recordOpinion(_ opinion: ReviewOpinion, now: Date, events: @Sendable (ReviewTask) throws -> [KafkaRecord]) async throws -> ReviewTask {
            try await inner.recordOpinion(opinion, now: now, events: events)
        }
        func opinions(caseId: String) async throws -> [ReviewOpinion] { try await inner.opinions(caseId: caseId) }
        func attention(agencyId: String) async throws -> [DecisionRecord] { try await inner.attention(agencyId: agencyId) }
        func pendingPublications(limit: Int) async throws -> [(id: Int64, record: KafkaRecord)] { try await inner.pendingPublications(limit: limit) }
        func markPublished(_ ids: [Int64]) async throws { try await inner.markPublished(ids) }
        func close() async { await inner.close() }
    }
}
