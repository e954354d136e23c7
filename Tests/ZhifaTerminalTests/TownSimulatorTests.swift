import Foundation
import Testing
import TestSupport
import ZhifaDomain
import ZhifaRuntime
import ZhifaTerminal

/// `zhifa terminal simulate` is the town's traffic in tests, benchmarks and the demo: its cases
/// break only the rules they are meant to (recording gaps and losses), so every other failed check
/// the review reports on them is a real finding about the review, not noise from the simulator.
@Suite("town simulator")
struct TownSimulatorTests {
    static let config = try! testConfiguration()
    static let rules = try! RulesLoader.load(config.rules)
    static let calendar = try! CalendarLoader.load(config.rules.calendarDirectory)

    @Test("once every event has arrived, a simulated decision fails no check except AV coverage (10) in the cases planned with a recording gap or loss",
          arguments: [UInt64(1), 7])
    func decisionsBreakOnlyWhatTheyAreMeantTo(seed: UInt64) throws {
        var sim = TownSimulator(rules: Self.rules, settings: Self.config.simulator, seed: seed,
                                start: ChinaTime.startOfDay(CalendarDay(year: 2026, month: 9, day: 1)))
        let cases = try sim.generate(cases: 300, daysSpan: 30)
        let decoded = try cases.map { c in (c, try c.events.map { try EnforcementEvent.decode($0.event) }) }
        var history = DeviceHistory()
        for (_, events) in decoded {
            for e in events { if case .avSegmentRegistered(let s) = e.payload { history.add(s) } }
        }
        let devices = history
        var unexpected: [String] = []
        var expectedSeen = 0
        for (c, events) in decoded {
            let state = CaseState.fold(caseId: c.caseId, events: events)
            for decisionId in state.decisionIds {
                let trigger: ReviewTrigger = state.issued[decisionId] != nil ? .issued : .drafted
                guard let view = DecisionView(state: state, decisionId: decisionId, trigger: trigger) else { continue }
                let review = DecisionReview(state: state, decision: view, rules: Self.config.review.rules, book: Self.rules, calendar: Self.calendar,
                                            predecessor: { devices.predecessor(of: $0) })
                for f in review.findings() where f.result == .fail {
                    if f.checkId == 10 && (c.avGap || c.avMissing) { expectedSeen += 1; continue }
                    unexpected.append("\(c.caseId) check \(f.checkId): \(f.reasonEn)")
                }
            }
        }
        #expect(unexpected.isEmpty, "\(unexpected.count) unexpected failures: \(unexpected.prefix(10).joined(separator: "\n"))")
        // `zhifa terminal simulate` starts this far back so that every case is over by now.
        let longest = cases.map { c in (c.events.map(\.time).max() ?? .distantPast).timeIntervalSince(c.events.map(\.time).min() ?? .distantPast) }.max() ?? 0
        #expect(longest > Double(TownSimulator.longestCaseDays - 10) * 86_400 && longest < Double(TownSimulator.longestCaseDays - 1) * 86_400,
                "the longest case lasts \(longest / 86_400) days; TownSimulator.longestCaseDays is \(TownSimulator.longestCaseDays)")
        #expect(expectedSeen > 0, "no case with a planned recording gap or loss was reported")
    }
}
