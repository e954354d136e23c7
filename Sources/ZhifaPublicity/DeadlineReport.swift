import Foundation
import ZhifaDomain

/// Publication deadlines as of now: decisions waiting past or near their due date, late
/// publications, and deadlines that rest on a year without an official calendar. Ids and document
/// numbers only — no personal data.
public struct DeadlineReport: Codable, Sendable {
    /// A decision issued but not on the feed.
    public struct Held: Codable, Sendable, Equatable {
        public var caseId: String
        public var decisionId: String
        public var agencyId: String
        public var documentNumber: String
        public var reason: String
        public var issuedAt: String
        public var dueDate: String?
        public var provisionalDue: Bool
        /// `overdue`, `approaching` (within the configured working days) or `waiting`.
        public var state: String
        public var workingDaysLeft: Int?
    }

    /// A published entry that went out after its due date.
    public struct Late: Codable, Sendable, Equatable {
        public var entryId: String
        public var documentNumber: String
        public var dueDate: String
        public var publishedAt: String
    }

    /// Deadlines that count weekends only because a year has no official calendar yet.
    public struct Provisional: Codable, Sendable, Equatable {
        public var count: Int
        public var yearsWithoutData: [Int]
    }

    public var generatedAt: String
    public var overdue: Int
    public var approaching: Int
    /// Decisions waiting for classification, approval or their case's opening.
    public var held: [Held]
    /// Decisions kept off the feed by policy (confidential, minors, warning-only, revoked first).
    public var withheld: [Held]
    public var late: [Late]
    public var provisional: Provisional

    /// Builds the report from the store.
    public static func make(store: any PublicityStore, calendar: WorkingDayCalendar, rules: PublicityRules, now: Date) async throws -> DeadlineReport {
        let today = ChinaTime.day(of: now)
        var years = Set<Int>()
        var provisionalCount = 0
        var held: [Held] = []
        var withheld: [Held] = []
        for h in try await store.held() {
            var item = Held(caseId: h.caseId, decisionId: h.decisionId, agencyId: h.agencyId, documentNumber: h.documentNumber, reason: h.reason,
                            issuedAt: ChinaTime.format(h.issuedAt), dueDate: nil, provisionalDue: false, state: "waiting", workingDaysLeft: nil)
            if let category = h.category {
                let due = PublicationPolicy.dueDate(category: category, issuedAt: h.issuedAt, calendar: calendar, rules: rules)
                item.dueDate = due.day.description
                item.provisionalDue = due.provisional
                if today > due.day {
                    item.state = "overdue"
                    item.workingDaysLeft = -calendar.workingDays(after: due.day, through: today).count
                } else {
                    let left = calendar.workingDays(after: today, through: due.day).count
                    item.workingDaysLeft = left
                    if left <= rules.approachingWorkingDays { item.state = "approaching" }
                }
                if !h.isWithheld && due.provisional {
                    provisionalCount += 1
                    years.formUnion(due.yearsWithoutData)
                }
            }
            if h.isWithheld {
                item.state = "withheld"
                withheld.append(item)
            } else {
                held.append(item)
            }
        }
        for e in try await store.provisionalEntries() {
            guard let issued = Instant(e.issuedAt), let category = Category(rawValue: e.category) else { continue }
            let due = PublicationPolicy.dueDate(category: category, issuedAt: issued.date, calendar: calendar, rules: rules)
            guard due.provisional else { continue }  // the calendar now knows the year: recomputed shortly
            provisionalCount += 1
            years.formUnion(due.yearsWithoutData)
        }
        let late = try await store.published(late: true).filter { $0.status != .expired }.map {
            Late(entryId: $0.entryId, documentNumber: $0.documentNumber, dueDate: $0.dueDate, publishedAt: $0.publishedAt)
        }
        held.sort { ($0.dueDate ?? "9999", $0.decisionId) < ($1.dueDate ?? "9999", $1.decisionId) }
        return DeadlineReport(
            generatedAt: ChinaTime.format(now), overdue: held.filter { $0.state == "overdue" }.count, approaching: held.filter { $0.state == "approaching" }.count,
            held: held, withheld: withheld, late: late, provisional: Provisional(count: provisionalCount, yearsWithoutData: years.sorted()))
    }
}
