import Foundation
import Synchronization
import Testing
import TestSupport
import ZhifaDomain
import ZhifaRuntime
import ZhifaTerminal

/// `zhifa up --demo` shows a newcomer what a working town looks like: decisions published on time,
/// nothing dated in the future, recordings chained per device.
@Suite("demo traffic")
struct DemoTrafficTests {
    static let config = try! testConfiguration()
    static let rules = try! RulesLoader.load(config.rules)
    static let calendar = try! CalendarLoader.load(config.rules.calendarDirectory)

    /// The events of a round, decoded.
    func decoded(_ c: SimulatedCase) throws -> [EnforcementEvent] { try c.events.map { try EnforcementEvent.decode($0.event) } }

    @Test("a round's decisions were issued in the last day, so they are published on time; major ones wait at the draft; nothing is dated after now",
          arguments: [1, 2, 3, 99])
    func decisionsAreCurrent(seed: UInt64) throws {
        let now = ChinaTime.startOfDay(CalendarDay(year: 2026, month: 11, day: 27)).addingTimeInterval(15 * 3_600 + 7 * 60)
        var numbering = DemoTraffic.Numbering(runStart: now)
        let (cases, _) = try DemoTraffic.round(rules: Self.rules, settings: Self.config.simulator, seed: seed, now: now, numbering: &numbering)
        #expect(cases.count == 10)
        var decided = 0
        var majorDrafts = 0
        for c in cases {
            let events = try decoded(c)
            #expect(c.events.allSatisfy { $0.time <= now }, "\(c.caseId) has an event dated after now")
            #expect(events.first.map { if case .caseOpened = $0.payload { true } else { false } } == true, "\(c.caseId) does not start with its opening")
            let drafted = events.contains { if case .decisionDrafted = $0.payload { true } else { false } }
            guard case .caseOpened(let opened)? = events.first?.payload,
                  let issued = events.lazy.compactMap({ if case .decisionIssued(let d) = $0.payload { d } else { nil } }).first else {
                // A major decision stops at its draft: it waits for a reviewer.
                if c.major {
                    majorDrafts += 1
                    #expect(drafted, "\(c.caseId): a major case without its draft")
                }
                continue
            }
            #expect(!c.major, "\(c.caseId): a major decision issued before any reviewer could approve it")
            decided += 1
            let age = now.timeIntervalSince(issued.issuedAt.date)
            #expect(age >= 0 && age < 2 * 86_400, "\(c.caseId): decision issued \(age / 3_600) h before now")
            // What the publicity service would decide if it published the decision now.
            let entry = PublicEntryBuilder.build(opened: opened, issued: issued, draft: nil, extraNames: [], book: Self.rules, calendar: Self.calendar,
                                                 rules: Self.config.publicity.rules, publishedAt: now, replaces: nil)
            let (late, decidedOn, due) = (entry.late, entry.decidedOn, entry.dueDate)
            #expect(!late, "\(c.caseId): decided \(decidedOn), due \(due), published late")
        }
        #expect(decided + majorDrafts == 10, "\(decided) decided and \(majorDrafts) waiting for review of 10 demo cases")
        #expect(decided >= 5)
    }

    @Test("over a few rounds, major decisions reach the reviewers' queue as drafts and are never issued")
    func majorDecisionsWaitForReview() throws {
        let now = ChinaTime.startOfDay(CalendarDay(year: 2026, month: 11, day: 27)).addingTimeInterval(11 * 3_600)
        var waiting = 0
        var numbering = DemoTraffic.Numbering(runStart: now)
        for seed in UInt64(1)...10 {
            let (cases, _) = try DemoTraffic.round(rules: Self.rules, settings: Self.config.simulator, seed: seed, now: now, numbering: &numbering)
            for c in cases where c.major {
                let types = c.events.map(\.event.type)
                #expect(types.contains(EventType.decisionDrafted.rawValue), "\(c.caseId) has no draft")
                #expect(!types.contains(EventType.decisionIssued.rawValue), "\(c.caseId) was issued without review")
                waiting += 1
            }
        }
        #expect(waiting >= 3, "only \(waiting) major drafts in ten demo rounds")
    }

    @Test("the demo stops exactly the decisions the review classifies as major at their draft, so it never shows a major decision issued without review",
          arguments: [UInt64(11), 12, 13, 14, 15, 16])
    func heldBackDecisionsAreTheMajorOnes(seed: UInt64) throws {
        let now = ChinaTime.startOfDay(CalendarDay(year: 2026, month: 11, day: 27)).addingTimeInterval(16 * 3_600)
        var numbering = DemoTraffic.Numbering(runStart: now)
        let (cases, _) = try DemoTraffic.round(rules: Self.rules, settings: Self.config.simulator, seed: seed, now: now, numbering: &numbering)
        for c in cases {
            let events = try decoded(c)
            let state = CaseState.fold(caseId: c.caseId, events: events)
            for decisionId in state.decisionIds {
                let trigger: ReviewTrigger = state.issued[decisionId] != nil ? .issued : .drafted
                guard let view = DecisionView(state: state, decisionId: decisionId, trigger: trigger) else { continue }
                let review = DecisionReview(state: state, decision: view, rules: Self.config.review.rules, book: Self.rules, calendar: Self.calendar,
                                            predecessor: { _ in .none })
                let classification = review.classification()
                #expect(classification.major == c.major, "\(c.caseId): the simulator says major \(c.major), the review \(classification.reasons.map(\.en))")
                #expect(!(classification.major && trigger == .issued), "\(c.caseId): a major decision was issued")
            }
        }
    }

    @Test("an on-the-spot decision is sent after the record of the act it was made in (as in the contract's example), so its checks pass when it arrives")
    func onTheSpotDecisionFollowsItsAct() throws {
        var sim = TownSimulator(rules: Self.rules, settings: Self.config.simulator, seed: 21, start: ChinaTime.startOfDay(CalendarDay(year: 2026, month: 3, day: 2)))
        let simple = try sim.generate(cases: 40).filter { $0.procedure == .simple }
        #expect(simple.count >= 5)
        for c in simple {
            let events = try decoded(c)
            let act = try #require(events.firstIndex { if case .actionRecorded = $0.payload { true } else { false } })
            let decision = try #require(events.firstIndex { if case .decisionIssued = $0.payload { true } else { false } })
            #expect(act < decision, "\(c.caseId): the decision is sent before its act")
            #expect(c.events[decision].time < c.events[act].time, "\(c.caseId): the decision is still dated within the act")
            // What the review finds when the decision arrives.
            let state = CaseState.fold(caseId: c.caseId, events: Array(events[...decision]))
            let decisionId = try #require(state.decisionIds.first)
            let view = try #require(DecisionView(state: state, decisionId: decisionId, trigger: .issued))
            let failed = DecisionReview(state: state, decision: view, rules: Self.config.review.rules, book: Self.rules, calendar: Self.calendar,
                                        predecessor: { _ in .none }).findings().filter { $0.result == .fail }.map(\.checkId)
            #expect(!failed.contains(7) && !failed.contains(13), "\(c.caseId): checks \(failed) fail when the decision arrives")
        }
    }

    @Test("moving a case to a recent decision keeps its own timeline and its recordings chained per device")
    func movedCasesKeepTheirShape() throws {
        let now = ChinaTime.startOfDay(CalendarDay(year: 2026, month: 11, day: 27)).addingTimeInterval(10 * 3_600)
        var numbering = DemoTraffic.Numbering(runStart: now)
        let (moved, start) = try DemoTraffic.round(rules: Self.rules, settings: Self.config.simulator, seed: 5, now: now, numbering: &numbering)
        var unmovedSim = TownSimulator(rules: Self.rules, settings: Self.config.simulator, seed: 5, start: start)
        unmovedSim.idSuffix = numbering.runId
        let unmoved = try unmovedSim.generate(cases: 10, daysSpan: 14)
        #expect(moved.count == unmoved.count)
        var shifted = 0
        for (m, u) in zip(moved, unmoved) {
            // The same events in the same order, all moved by one whole number of days (those dated
            // after now are not sent).
            #expect(m.events.count <= u.events.count)
            #expect(m.events.map(\.event.type) == u.events.prefix(m.events.count).map(\.event.type), "\(m.caseId) changed its events")
            let offsets = Set(zip(m.events, u.events).map { $0.time.timeIntervalSince($1.time) })
            #expect(offsets.count == 1, "\(m.caseId) moved its events by different amounts: \(offsets)")
            if let d = offsets.first {
                #expect(d.truncatingRemainder(dividingBy: 86_400) == 0, "\(m.caseId) moved by \(d) s, not whole days")
                if d != 0 { shifted += 1 }
            }
        }
        #expect(shifted > 0)
        // Per device, recordings follow each other without overlap, each naming the one before.
        var byDevice: [String: [AVSegmentRegistered]] = [:]
        for c in moved {
            for e in try decoded(c) { if case .avSegmentRegistered(let s) = e.payload { byDevice[s.deviceId, default: []].append(s) } }
        }
        #expect(!byDevice.isEmpty)
        for (device, segments) in byDevice {
            let ordered = segments.sorted { $0.startedAt.date < $1.startedAt.date }
            for (a, b) in zip(ordered, ordered.dropFirst()) {
                #expect(a.endedAt.date <= b.startedAt.date, "\(device): \(a.segmentId) overlaps \(b.segmentId)")
                #expect(b.previousSegmentSha256 == a.sha256, "\(device): \(b.segmentId) does not name \(a.segmentId) before it")
            }
        }
    }

    @Test("rounds of one run, and of a run restarted on the same data directory, never share a case, a decision, an event, an act or a document number")
    func roundsNeverCollide() throws {
        let now = ChinaTime.startOfDay(CalendarDay(year: 2026, month: 11, day: 27)).addingTimeInterval(9 * 3_600)
        let dir = try TemporaryDirectory()
        defer { dir.cleanup() }
        let file = dir.url.appendingPathComponent(DemoTraffic.numberingFileName)
        var caseIds: [String: Int] = [:], decisionIds: [String: Int] = [:], eventIds: [String: Int] = [:]
        var documents: [String: Int] = [:], actionIds: [String: Int] = [:]
        for (run, runStart) in [now, now.addingTimeInterval(3_600)].enumerated() {
            // The second run goes on from the numbers the first kept in its data directory.
            let kept = try DemoTraffic.Numbering.Saved.load(from: file)
            #expect((kept == nil) == (run == 0))
            var numbering = DemoTraffic.Numbering(runStart: runStart, continuing: kept)
            // Seeds that agree modulo 1,000, as two rounds' seeds may.
            for seed in [UInt64(1_005), 2_005, 3_005].map({ $0 + UInt64(run) * 10_000 }) {
                let (cases, _) = try DemoTraffic.round(rules: Self.rules, settings: Self.config.simulator, seed: seed, now: now, numbering: &numbering)
                try numbering.saved.save(to: file)
                for c in cases {
                    caseIds[c.caseId, default: 0] += 1
                    for e in try decoded(c) {
                        eventIds[e.id, default: 0] += 1
                        switch e.payload {
                        case .decisionIssued(let d):
                            decisionIds[d.decisionId, default: 0] += 1
                            documents[d.documentNumber, default: 0] += 1
                        case .decisionDrafted(let d): if !c.events.contains(where: { $0.event.type == EventType.decisionIssued.rawValue }) { decisionIds[d.decisionId, default: 0] += 1 }
                        case .actionRecorded(let a): actionIds["\(c.caseId)|\(a.actionId)", default: 0] += 1
                        default: break
                        }
                    }
                }
            }
        }
        #expect(documents.filter { $0.value > 1 }.isEmpty, "document numbers used twice: \(documents.filter { $0.value > 1 }.keys.sorted())")
        #expect(documents.count >= 30)
        #expect(Set(actionIds.keys.map { $0.split(separator: "|")[1] }).count == actionIds.count, "an act id is used in two cases")
        #expect(caseIds.count == 60)
        #expect(caseIds.filter { $0.value > 1 }.isEmpty, "case ids used twice: \(caseIds.filter { $0.value > 1 }.keys.sorted())")
        #expect(decisionIds.filter { $0.value > 1 }.isEmpty, "decision ids used twice: \(decisionIds.filter { $0.value > 1 }.keys.sorted())")
        #expect(eventIds.filter { $0.value > 1 }.isEmpty)
    }

    @Test("a demo stopped while sending a round keeps all of it, and a restarted demo sends it first, byte for byte, so no camera's chain goes on from a recording never sent")
    func roundStoppedPartWayIsSentAgain() async throws {
        let start = ChinaTime.startOfDay(CalendarDay(year: 2026, month: 11, day: 27)).addingTimeInterval(10 * 3_600 + 17)
        let dir = try TemporaryDirectory()
        defer { dir.cleanup() }
        let file = dir.url.appendingPathComponent(DemoTraffic.numberingFileName)
        var numbering = DemoTraffic.Numbering(runStart: start)
        var held = HeldDecisions()
        let (history, planned) = try DemoTraffic.history(rules: Self.rules, settings: Self.config.simulator, seed: 3, now: start, numbering: &numbering, held: &held)
        let sent = history.flatMap(\.events)
        let bytes = Dictionary(uniqueKeysWithValues: sent.map { ($0.event.id, StructuredCloudEvent.serialize($0.event)) })

        // The demo is stopped after five events of its history.
        let stopped = RecordingSink(stopAfter: 5)
        await #expect(throws: CancellationError.self) {
            _ = try await DemoTraffic.send(DemoTraffic.UnsentRound(start: planned, cases: history), numbering: &numbering, file: file, sink: stopped,
                                           rate: 100_000, seed: 1, logger: testLogger())
        }
        #expect(stopped.sent.count == 5)
        let kept = try #require(try DemoTraffic.Numbering.Saved.load(from: file))
        let unsent = try #require(kept.unsent, "the round is kept as unsent")
        #expect(unsent.cases.flatMap { $0.map(\.event.id) } == sent.map(\.event.id))
        #expect(kept.cameras == numbering.cameras && kept.lastCase == numbering.lastCase, "the numbering is kept with it, in the same file")

        // Restarted: the whole round goes first (the ingest answers the five sent before as duplicates).
        var restarted = DemoTraffic.Numbering(runStart: start.addingTimeInterval(600), continuing: kept)
        let again = RecordingSink(stopAfter: nil)
        let summary = try await DemoTraffic.send(try #require(restarted.unsent), numbering: &restarted, file: file, sink: again, rate: 100_000, seed: 2,
                                                 logger: testLogger())
        #expect(summary.events == sent.count)
        #expect(again.sent.map(\.event.id).sorted() == sent.map(\.event.id).sorted())
        for e in again.sent { #expect(StructuredCloudEvent.serialize(e.event) == bytes[e.event.id], "\(e.event.id) is sent as first made") }
        let after = try #require(try DemoTraffic.Numbering.Saved.load(from: file))
        #expect(after.unsent == nil, "once all of it was sent the round is forgotten")
        #expect(after.cameras == kept.cameras && after.lastCase == kept.lastCase)
    }

    @Test("the history round, the live rounds after it and those of a demo restarted on the same data directory keep every camera's recordings in one hash chain")
    func camerasStayChainedAcrossRoundsAndRuns() throws {
        let start = ChinaTime.startOfDay(CalendarDay(year: 2026, month: 11, day: 27)).addingTimeInterval(10 * 3_600 + 17)
        let dir = try TemporaryDirectory()
        defer { dir.cleanup() }
        let file = dir.url.appendingPathComponent(DemoTraffic.numberingFileName)
        var sent: [SimulatedCase] = []
        var numbering = DemoTraffic.Numbering(runStart: start)
        var held = HeldDecisions()
        let (history, _) = try DemoTraffic.history(rules: Self.rules, settings: Self.config.simulator, seed: 3, now: start, numbering: &numbering, held: &held)
        #expect(history.contains { $0.major } && held.count > 0, "the history holds a major decision for the reviewers")
        sent += history
        try numbering.saved.save(to: file)

        /// `rounds` live rounds from `from`, one every `liveInterval`: each an on-the-spot case
        /// decided and recorded by then, with nothing dated later.
        func live(_ rounds: Int, from: Date, _ numbering: inout DemoTraffic.Numbering) throws -> Int {
            var made = 0
            for k in 1...rounds {
                let now = from.addingTimeInterval(Double(k) * DemoTraffic.liveInterval)
                let cases = try DemoTraffic.live(rules: Self.rules, settings: Self.config.simulator, seed: UInt64(now.timeIntervalSince1970) &* 31 &+ UInt64(k),
                                                 now: now, numbering: &numbering)
                for c in cases {
                    let types = c.events.map(\.event.type)
                    #expect(c.procedure == .simple && types.contains(EventType.decisionIssued.rawValue) && types.contains(EventType.avSegmentRegistered.rawValue),
                            "\(c.caseId): \(types)")
                    #expect(c.events.allSatisfy { $0.time <= now }, "\(c.caseId) has an event dated after now")
                }
                made += cases.count
                sent += cases
                try numbering.saved.save(to: file)
            }
            return made
        }
        #expect(try live(120, from: start, &numbering) == 120, "a camera was free for every live case of the first hour")
        // Restarted 5 minutes after it stopped: live at once, going on from the kept chains.
        let kept = try #require(try DemoTraffic.Numbering.Saved.load(from: file))
        #expect(kept.cameras != nil)
        var restarted = DemoTraffic.Numbering(runStart: start.addingTimeInterval(3_900), continuing: kept)
        #expect(try live(40, from: start.addingTimeInterval(3_900), &restarted) == 40)

        // What the review's check 11 and the archive's completeness see: every recording is its
        // camera's first or names the one before it, none overlaps the next, and no id repeats.
        var segments: [AVSegmentRegistered] = []
        for c in sent {
            for e in try decoded(c) { if case .avSegmentRegistered(let s) = e.payload { segments.append(s) } }
        }
        #expect(Set(segments.map(\.segmentId)).count == segments.count, "a segment id is used twice")
        let history11 = DeviceHistory(segments)
        var links: [String: Int] = [:]
        for s in segments {
            switch history11.predecessor(of: s).link(of: s) {
            case .first: links["first", default: 0] += 1
            case .intact: links["intact", default: 0] += 1
            case let other: Issue.record("\(s.segmentId) on \(s.deviceId): \(other)")
            }
        }
        for (device, list) in Dictionary(grouping: segments, by: \.deviceId) {
            let ordered = list.sorted { $0.startedAt.date < $1.startedAt.date }
            for (a, b) in zip(ordered, ordered.dropFirst()) { #expect(a.endedAt.date <= b.startedAt.date, "\(device): \(a.segmentId) overlaps \(b.segmentId)") }
        }
        #expect(segments.count >= 160 + history.count / 2, "\(segments.count) recordings")
        #expect((links["first"] ?? 0) <= 30, "at most one chain per camera: \(links)")
        #expect((links["intact"] ?? 0) == segments.count - (links["first"] ?? 0), "\(links)")

        // A numbering file from before the chains were kept: that run makes history again.
        try Data(#"{"lastCase":7,"lastDocument":9}"#.utf8).write(to: file)
        let old = try #require(try DemoTraffic.Numbering.Saved.load(from: file))
        #expect(old.cameras == nil && old.lastCase == 7)
    }
}

/// Records what a demo sends; with `stopAfter`, it stops the demo (as a shutdown does) at the
/// next event once that many were sent.
final class RecordingSink: EventSink {
    let stopAfter: Int?
    private let events = Mutex<[SimulatedEvent]>([])

    init(stopAfter: Int?) { self.stopAfter = stopAfter }

    var sent: [SimulatedEvent] { events.withLock { $0 } }

    func send(_ event: SimulatedEvent) async throws -> SinkOutcome {
        try events.withLock { list in
            if let stopAfter, list.count >= stopAfter { throw CancellationError() }
            list.append(event)
        }
        return .accepted
    }

    func finish() async throws {}
}
