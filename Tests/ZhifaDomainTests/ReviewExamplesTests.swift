import Foundation
import Testing
import TestSupport
@testable import ZhifaDomain
import ZhifaRuntime

/// The contract examples, folded and reviewed.
struct ExampleCase {
    static func events(_ prefix: String) throws -> [EnforcementEvent] {
        try files(in: contractDirectory.appendingPathComponent("examples")).filter { $0.lastPathComponent.hasPrefix(prefix) }.map {
            try EnforcementEvent.decode(StructuredCloudEvent.parse(Array(Data(contentsOf: $0))))
        }
    }

    static func review(_ prefix: String, decision: String, trigger: ReviewTrigger, events override: [EnforcementEvent]? = nil) throws -> DecisionReview {
        let config = try testConfiguration()
        let events = try override ?? self.events(prefix)
        let state = CaseState.fold(caseId: events[0].caseId, events: events)
        let history = DeviceHistory(state.segments.map(\.value))
        return DecisionReview(
            state: state, decision: DecisionView(state: state, decisionId: decision, trigger: trigger)!, rules: ReviewRules(),
            book: try RulesLoader.load(config.rules), calendar: try CalendarLoader.load(config.rules.calendarDirectory),
            predecessor: { history.predecessor(of: $0) })
    }
}

@Suite("Legal review of the contract examples")
struct ReviewExamplesTests {
    @Test("the general-procedure example is major (hearing held, fine above the organisation threshold) and passes every check")
    func generalExample() throws {
        for trigger in [ReviewTrigger.drafted, .issued] {
            let r = try ExampleCase.review("general", decision: "DEC-0012", trigger: trigger)
            let c = r.classification()
            #expect(c.major)
            #expect(Set(c.reasons.map(\.code)) == ["hearing", "largeAmount"])
            for f in r.findings() {
                #expect(f.result == .pass || f.result == .notApplicable, "check \(f.checkId) \(f.check) (\(trigger)): \(f.result) — \(f.reasonEn)")
            }
            let av = r.findings().first { $0.checkId == 10 }!
            #expect(av.result == .pass)
            #expect(av.reasonEn.contains("1 gap(s) explained"), "the battery-change gap is explained")
        }
    }

    @Test("the simple-procedure example is not major and every check passes or does not apply")
    func simpleExample() throws {
        let r = try ExampleCase.review("simple", decision: "DEC-S-0088", trigger: .issued)
        #expect(!r.classification().major)
        for f in r.findings() {
            #expect(f.result == .pass || f.result == .notApplicable, "check \(f.checkId) \(f.check): \(f.result) — \(f.reasonEn)")
        }
        #expect(r.findings().count == 16)
    }

    @Test("events in any arrival order fold to the same case state")
    func orderIndependence() throws {
        let events = try ExampleCase.events("general")
        let a = CaseState.fold(caseId: "WQ-DWGZ-2024-0012", events: events)
        let b = CaseState.fold(caseId: "WQ-DWGZ-2024-0012", events: events.reversed())
        let c = CaseState.fold(caseId: "WQ-DWGZ-2024-0012", events: events.shuffled() + events.prefix(3))
        #expect(a == b && b == c)
    }
}
