import Foundation
import Testing
import TestSupport
import ZhifaDomain
import ZhifaRuntime
import ZhifaTerminal

/// In `zhifa up --demo`, a major decision waits at its draft until a reviewer's opinion: an
/// approval issues it, a return brings its next draft.
@Suite("demo: held major decisions")
struct HeldDecisionsTests {
    static let config = try! testConfiguration()
    static let rules = try! RulesLoader.load(config.rules)
    static let calendar = try! CalendarLoader.load(config.rules.calendarDirectory)
    static let now = ChinaTime.startOfDay(CalendarDay(year: 2026, month: 11, day: 27)).addingTimeInterval(10 * 3_600)

    /// Rounds until some major decisions are held; the held ones and the cases as sent.
    func heldRounds() throws -> (HeldDecisions, [SimulatedCase]) {
        var held = HeldDecisions()
        var numbering = DemoTraffic.Numbering(runStart: Self.now)
        var sent: [SimulatedCase] = []
        for seed in UInt64(1)...10 {
            var round = HeldDecisions()
            let (cases, _) = try DemoTraffic.round(rules: Self.rules, settings: Self.config.simulator, seed: seed, now: Self.now,
                                                   numbering: &numbering, held: &round)
            held.merge(round)
            sent += cases
        }
        return (held, sent)
    }

    /// Held rounds and their first major case, with its decision id.
    func firstHeld() throws -> (HeldDecisions, SimulatedCase, String) {
        let (held, sent) = try heldRounds()
        let firstMajor = sent.first { $0.major }
        let c = try #require(firstMajor)
        let draftedId = try decisionId(c)
        return (held, c, try #require(draftedId))
    }

    func decisionId(_ c: SimulatedCase) throws -> String? {
        for e in c.events {
            if case .decisionDrafted(let d) = try EnforcementEvent.decode(e.event).payload { return d.decisionId }
        }
        return nil
    }

    func opinion(_ kind: ReviewOpinionKind, on c: SimulatedCase, decisionId: String) -> ReviewOpinionEvent {
        ReviewOpinionEvent(opinionId: "OP-\(decisionId)-\(kind.rawValue)", taskId: "TASK-\(decisionId)-1", caseId: c.caseId, decisionId: decisionId,
                           agencyId: "WQ-DWGZ-ZHZF", reviewerId: "REV-DWGZ-01", opinion: kind, reasons: kind == .return ? "证据不足" : nil,
                           at: ChinaTime.format(Self.now))
    }

    @Test("every major draft the demo sends is held, and nothing else")
    func majorDraftsAreHeld() throws {
        let (held, sent) = try heldRounds()
        let major = sent.filter(\.major)
        #expect(major.count >= 3)
        #expect(held.count == major.count)
        for c in major {
            let id = try decisionId(c)
            #expect(id.map(held.isHeld) == true, "\(c.caseId) is not held")
        }
        for c in sent where !c.major {
            if let id = try decisionId(c) { #expect(!held.isHeld(id), "\(c.caseId) is not major but held") }
        }
    }

    @Test("an approval issues the decision when it arrives, naming the opinion, contract-valid and on time for publication; its service follows hours later")
    func approvalIssuesTheDecision() throws {
        var (held, c, id) = try firstHeld()
        // Approved part-way through a second: the decision is still sent at once, not a second later.
        let approvedAt = Self.now.addingTimeInterval(2 * 3_600 + 17.6)
        let released = try held.opinion(opinion(.approve, on: c, decisionId: id), now: approvedAt)
        #expect(!held.isHeld(id))

        let events = try released.map { try EnforcementEvent.decode($0.event) }
        #expect(events.count == 1, "\(released.map(\.event.type))")
        guard case .decisionIssued(let issued)? = events.first?.payload else {
            Issue.record("released \(released.map(\.event.type)), not the decision")
            return
        }
        #expect(issued.decisionId == id)
        #expect(issued.reviewOpinionRef == "OP-\(id)-approve")
        #expect(abs(issued.issuedAt.date.timeIntervalSince(approvedAt)) <= 1, "issued at \(issued.issuedAt), approved at \(approvedAt)")
        #expect(released[0].time == issued.issuedAt.date)
        for e in released {
            guard case .valid = EventValidator.contract.validate(structured: StructuredCloudEvent.serialize(e.event)) else {
                Issue.record("\(e.event.type) breaks the contract")
                continue
            }
        }
        // Published as soon as it is issued, it is on time.
        guard case .caseOpened(let opened)? = try c.events.first.map({ try EnforcementEvent.decode($0.event).payload }) else {
            Issue.record("\(c.caseId) does not start with its opening")
            return
        }
        let entry = PublicEntryBuilder.build(opened: opened, issued: issued, draft: nil, extraNames: [], book: Self.rules, calendar: Self.calendar,
                                             rules: Self.config.publicity.rules, publishedAt: approvedAt.addingTimeInterval(60), replaces: nil)
        #expect(!entry.late)

        // The decision's service, dated five hours later, is due then and not before.
        let nextDue = try #require(held.nextDue, "nothing is scheduled after the approval")
        #expect(nextDue > approvedAt.addingTimeInterval(3_600) && nextDue <= approvedAt.addingTimeInterval(6 * 3_600), "next due at \(nextDue)")
        #expect(held.due(at: approvedAt.addingTimeInterval(3_600)).isEmpty)
        let later = held.due(at: approvedAt.addingTimeInterval(6 * 3_600))
        #expect(held.nextDue == nil)
        let served = try later.map { try EnforcementEvent.decode($0.event).payload }
        #expect(served.contains { if case .noticeServed(let n) = $0 { n.decisionId == id && n.noticeType == .decisionService } else { false } },
                "after the approval: \(later.map(\.event.type))")
        // A second approval of the same decision releases nothing.
        #expect(try held.opinion(opinion(.approve, on: c, decisionId: id), now: approvedAt).isEmpty)
    }

    @Test("what the demo holds survives a restart: read back from its file, a held decision is released by an approval exactly as before, and a released service still waits for its time")
    func heldDecisionsSurviveARestart() throws {
        var (held, c, id) = try firstHeld()
        let (_, sent) = try heldRounds()
        // One other decision approved before the restart: its service is scheduled for later.
        let secondMajor = sent.filter(\.major).dropFirst().first
        let otherCase = try #require(secondMajor)
        let otherDecision = try decisionId(otherCase)
        let otherId = try #require(otherDecision)
        _ = try held.opinion(opinion(.approve, on: otherCase, decisionId: otherId), now: Self.now)
        let scheduledDue = try #require(held.nextDue)

        let file = try JSONEncoder().encode(held)
        var restarted = try JSONDecoder().decode(HeldDecisions.self, from: file)
        #expect(restarted.count == held.count)
        #expect(restarted.isHeld(id) && !restarted.isHeld(otherId))
        #expect(restarted.nextDue == scheduledDue)

        let approvedAt = Self.now.addingTimeInterval(3_600)
        let before = try held.opinion(opinion(.approve, on: c, decisionId: id), now: approvedAt)
        let after = try restarted.opinion(opinion(.approve, on: c, decisionId: id), now: approvedAt)
        #expect(!after.isEmpty)
        #expect(after.map(\.event) == before.map(\.event))
        #expect(after.map(\.time) == before.map(\.time))
        #expect(after.map(\.deviceId) == before.map(\.deviceId))
        let serviceBefore = held.due(at: scheduledDue)
        let serviceAfter = restarted.due(at: scheduledDue)
        #expect(!serviceAfter.isEmpty)
        #expect(serviceAfter.map(\.event) == serviceBefore.map(\.event))
    }

    @Test("a return sends the draft again, dated now under a new id, and keeps the decision held until an approval")
    func returnBringsTheNextDraft() throws {
        var (held, c, id) = try firstHeld()
        let lastDraft = c.events.last { $0.event.type == EventType.decisionDrafted.rawValue }
        let original = try #require(lastDraft)
        let returnedAt = Self.now.addingTimeInterval(3_600)
        let redraft = try held.opinion(opinion(.return, on: c, decisionId: id), now: returnedAt)
        #expect(redraft.count == 1)
        let firstRedraft = redraft.first
        let next = try #require(firstRedraft)
        #expect(next.event.id != original.event.id)
        guard case .decisionDrafted(let d) = try EnforcementEvent.decode(next.event).payload else {
            Issue.record("not a draft: \(next.event.type)")
            return
        }
        #expect(d.decisionId == id)
        #expect(abs(d.draftedAt.date.timeIntervalSince(returnedAt)) <= 1)
        #expect(held.isHeld(id))
        // Returned twice, each next draft has an id of its own.
        let third = try held.opinion(opinion(.return, on: c, decisionId: id), now: returnedAt.addingTimeInterval(600))
        #expect(third.first?.event.id != next.event.id)
        // Then approved: issued.
        let released = try held.opinion(opinion(.approve, on: c, decisionId: id), now: returnedAt.addingTimeInterval(1_200))
        #expect(released.first?.event.type == EventType.decisionIssued.rawValue)
    }

    @Test("an opinion on a decision the demo does not hold releases nothing")
    func unknownDecision() throws {
        var (held, sent) = try heldRounds()
        let firstCase = sent.first
        let c = try #require(firstCase)
        let before = held.count
        #expect(try held.opinion(opinion(.approve, on: c, decisionId: "DEC-NOT-HELD"), now: Self.now).isEmpty)
        #expect(held.count == before)
    }
}
