import Foundation

/// The publication policy and deadlines (DOMAIN.md §2; all configuration).
public struct PublicityRules: Sendable {
    /// Publish decisions whose only penalty is a warning.
    public var publishWarningOnly = false
    /// Parties younger than this on the decision date are not published.
    public var adultAge = 18
    /// Penalty and licence decisions: published within this many working days of issue (118号).
    public var penaltyLicenceWorkingDays = 7
    /// Other decisions.
    public var otherWorkingDays = 20
    /// Withdrawal of a revoked decision within this many working days (Art. 48).
    public var withdrawalWorkingDays = 3
    /// Entries leave the feed this long after publication (SAMR rules Art. 13).
    public var expiryDays = 1_095
    /// Circulated criticism, or fines under `smallFineFen`, leave sooner.
    public var shortExpiryDays = 90
    public var smallFineFen: Int64 = 100_000
    /// Held decisions this close to their due date are reported as approaching.
    public var approachingWorkingDays = 2

    public init() {}
}

/// Why a decision is kept off the public feed.
public struct Withholding: Sendable, Equatable, Codable {
    public var code: String
    public var zh: String
    public var en: String
}

/// Decides what is published, by when, and for how long.
public enum PublicationPolicy {
    /// A reason to keep the decision off the feed, or nil to publish it.
    public static func withholding(opened: CaseOpened, issued: DecisionIssued, rules: PublicityRules) -> Withholding? {
        if let c = opened.confidentiality, c != .none {
            return Withholding(code: "confidential", zh: "涉及\(c == .stateSecret ? "国家秘密" : c == .commercialSecret ? "商业秘密" : "个人隐私")，依法不予公开",
                               en: "confidentiality \(c.rawValue): not published (政府信息公开条例 Art. 15)")
        }
        if opened.party.kind != .organisation, let birth = opened.party.birthDate {
            let day = ChinaTime.day(of: issued.issuedAt.date)
            var age = day.year - birth.year
            if (day.month, day.day) < (birth.month, birth.day) { age -= 1 }
            if age < rules.adultAge {
                return Withholding(code: "minor", zh: "当事人作出决定时未满\(rules.adultAge)周岁，不予公开", en: "the party was under \(rules.adultAge) on the decision date: not published")
            }
        }
        if !rules.publishWarningOnly, !issued.penalties.isEmpty, issued.penalties.allSatisfy({ $0.kind == .warning }) {
            return Withholding(code: "warningOnly", zh: "仅给予警告的决定按规定不公开", en: "warning-only decisions are not published (configuration)")
        }
        return nil
    }

    /// The publication due date: issue date plus 7 working days (penalty, licence) or 20 (others).
    public static func dueDate(category: Category, issuedAt: Date, calendar: WorkingDayCalendar, rules: PublicityRules) -> WorkingDayCalendar.Result {
        let days = category == .penalty || category == .licence ? rules.penaltyLicenceWorkingDays : rules.otherWorkingDays
        return calendar.addingWorkingDays(days, to: ChinaTime.day(of: issuedAt))
    }

    /// When an entry published at `publishedAt` leaves the feed.
    public static func expiry(publishedAt: Date, penalties: [Penalty], rules: PublicityRules) -> Date {
        let short = penalties.contains { $0.kind == .circulatedCriticism }
            || (!penalties.isEmpty && penalties.allSatisfy { $0.kind == .warning || ($0.kind == .fine && ($0.amountFen ?? 0) < rules.smallFineFen) }
                && penalties.contains { $0.kind == .fine })
        return publishedAt.addingTimeInterval(Double(short ? rules.shortExpiryDays : rules.expiryDays) * 86_400)
    }
}

/// An entry of the public feed (redacted).
public struct PublicEntry: Codable, Sendable, Equatable {
    public enum Status: String, Codable, Sendable { case published, withdrawn, expired }

    public var entryId: String
    public var caseId: String
    public var decisionId: String
    public var status: Status
    public var documentNumber: String
    public var agencyId: String
    public var agencyName: String
    public var category: String
    public var matterCode: String
    public var matterName: String
    public var party: PublicParty
    public var facts: String
    public var legalBasis: [String]
    public var penalties: [String]
    /// Issue date (CST), `YYYY-MM-DD`.
    public var decidedOn: String
    public var issuedAt: String
    public var dueDate: String
    public var provisionalDue: Bool
    public var publishedAt: String
    public var updatedAt: String
    public var expiresAt: String
    public var late: Bool
    public var withdrawnAt: String?
    public var withdrawalReason: String?
    public var withdrawalChange: String?
    public var replaces: String?
    public var replacedBy: String?

    /// Marks a change at `at`: `updatedAt` becomes strictly later than before (feeds order by it).
    public mutating func touch(_ at: Date) {
        let previous = Instant(updatedAt)?.date ?? .distantPast
        updatedAt = ChinaTime.formatMillis(max(at, previous.addingTimeInterval(0.001)))
    }

    /// The title shown on every feed (withdrawn entries start with 【已撤回】).
    public var title: String {
        let base = "\(documentNumber) \(party.name) \(matterName)"
        return status == .withdrawn ? "【已撤回】" + base : base
    }
}

/// Builds the public entry of an issued decision.
public enum PublicEntryBuilder {
    /// A stable entry id for a decision (safe in URLs and Atom ids).
    public static func entryId(agencyId: String, decisionId: String) -> String { "\(agencyId).\(decisionId)" }

    public static func build(
        opened: CaseOpened, issued: DecisionIssued, draft: DecisionDrafted?, extraNames: [String], book: RulesBook, calendar: WorkingDayCalendar,
        rules: PublicityRules, publishedAt: Date, replaces: String?
    ) -> PublicEntry {
        let secrets = Redactor.Secrets(party: opened.party, extraNames: extraNames)
        let due = PublicationPolicy.dueDate(category: opened.category, issuedAt: issued.issuedAt.date, calendar: calendar, rules: rules)
        let dueEnd = ChinaTime.startOfDay(due.day.adding(days: 1))
        let facts = issued.facts ?? draft?.facts ?? ""
        let basis = (issued.legalBasis ?? draft?.legalBasis ?? []).map { "《\($0.law)》\($0.article)" }
        return PublicEntry(
            entryId: entryId(agencyId: opened.agencyId, decisionId: issued.decisionId), caseId: opened.caseId, decisionId: issued.decisionId,
            status: .published, documentNumber: issued.documentNumber, agencyId: opened.agencyId,
            agencyName: book.agencies[opened.agencyId]?.name ?? opened.agencyId, category: opened.category.rawValue, matterCode: opened.matterCode,
            matterName: book.matters[opened.matterCode]?.name ?? opened.summary ?? opened.matterCode, party: Redactor.party(opened.party),
            facts: Redactor.text(facts, secrets: secrets), legalBasis: basis, penalties: issued.penalties.map { penaltyText($0, secrets: secrets) },
            decidedOn: ChinaTime.day(of: issued.issuedAt.date).description, issuedAt: ChinaTime.format(issued.issuedAt.date),
            dueDate: due.day.description, provisionalDue: due.provisional, publishedAt: ChinaTime.formatMillis(publishedAt), updatedAt: ChinaTime.formatMillis(publishedAt),
            expiresAt: ChinaTime.format(PublicationPolicy.expiry(publishedAt: publishedAt, penalties: issued.penalties, rules: rules)),
            late: publishedAt >= dueEnd, withdrawnAt: nil, withdrawalReason: nil, withdrawalChange: nil, replaces: replaces, replacedBy: nil)
    }

    static let kindNames: [PenaltyKind: String] = [
        .warning: "警告", .circulatedCriticism: "通报批评", .fine: "罚款", .confiscateIllegalGains: "没收违法所得", .confiscateProperty: "没收非法财物",
        .suspendLicence: "暂扣许可证件", .lowerQualification: "降低资质等级", .revokeLicence: "吊销许可证件", .restrictActivities: "限制开展生产经营活动",
        .suspendProduction: "责令停产停业", .orderClosure: "责令关闭", .restrictEmployment: "限制从业", .detention: "行政拘留",
    ]

    static func penaltyText(_ p: Penalty, secrets: Redactor.Secrets) -> String {
        var s = kindNames[p.kind] ?? p.kind.rawValue
        if let a = p.amountFen { s += (a % 100 == 0 ? "\(a / 100)" : String(format: "%.2f", Double(a) / 100)) + "元" }
        if let d = p.durationDays { s += "\(d)日" }
        if let d = p.description, !d.isEmpty { s += "（\(Redactor.text(d, secrets: secrets))）" }
        return s
    }

    /// Withdraws an entry (revoked, changed, confirmed illegal or void), keeping its id.
    public static func withdraw(_ e: PublicEntry, change: DecisionChange, reason: String, at: Date, replacedBy: String?, secrets: Redactor.Secrets) -> PublicEntry {
        var w = e
        w.status = .withdrawn
        w.touch(at)
        w.withdrawnAt = w.updatedAt
        w.withdrawalChange = change.rawValue
        let label = ["revoked": "撤销", "changed": "变更", "confirmedIllegal": "确认违法", "confirmedVoid": "确认无效"][change.rawValue] ?? change.rawValue
        w.withdrawalReason = "该决定已被\(label)：\(Redactor.text(reason, secrets: secrets))"
        w.replacedBy = replacedBy
        return w
    }
}
