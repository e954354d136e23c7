/// The review service's events on `zhifa.review.v1` (key = caseId, CloudEvents binary mode).
public enum ReviewEventType: String, Codable, Sendable, CaseIterable {
    /// Every decision's classification (major or not) — what the publicity service acts on.
    case classification = "cn.zhifa.review.classification.v1"
    /// The automated findings for a decision (re-published when they change).
    case findings = "cn.zhifa.review.findings.v1"
    /// A non-major decision whose checks all pass or do not apply.
    case cleared = "cn.zhifa.review.cleared.v1"
    /// A review task created or changed.
    case task = "cn.zhifa.review.task.v1"
    /// A reviewer's opinion: 同意 (approve) or 存在问题 (return).
    case opinion = "cn.zhifa.review.opinion.v1"
    /// A major decision issued without an approving opinion.
    case violation = "cn.zhifa.review.violation.v1"
}

public struct ReviewClassificationEvent: Codable, Sendable, Equatable {
    public var caseId: String
    public var decisionId: String
    public var agencyId: String
    public var major: Bool
    public var reasons: [Classification.Reason]
    public var trigger: ReviewTrigger
    public var basedOn: [String]

    public init(caseId: String, decisionId: String, agencyId: String, major: Bool, reasons: [Classification.Reason], trigger: ReviewTrigger, basedOn: [String]) {
        self.caseId = caseId
        self.decisionId = decisionId
        self.agencyId = agencyId
        self.major = major
        self.reasons = reasons
        self.trigger = trigger
        self.basedOn = basedOn
    }
}

public struct ReviewFindingsEvent: Codable, Sendable, Equatable {
    public var caseId: String
    public var decisionId: String
    public var agencyId: String
    public var trigger: ReviewTrigger
    public var triggerEventId: String
    public var major: Bool
    public var findings: [Finding]
    /// Counts by result.
    public var summary: [String: Int]

    public init(caseId: String, decisionId: String, agencyId: String, trigger: ReviewTrigger, triggerEventId: String, major: Bool, findings: [Finding]) {
        self.caseId = caseId
        self.decisionId = decisionId
        self.agencyId = agencyId
        self.trigger = trigger
        self.triggerEventId = triggerEventId
        self.major = major
        self.findings = findings
        var s: [String: Int] = [:]
        for r in CheckResult.allCases { s[r.rawValue] = findings.filter { $0.result == r }.count }
        summary = s
    }
}

public struct ReviewClearedEvent: Codable, Sendable, Equatable {
    public var caseId: String
    public var decisionId: String
    public var agencyId: String
    public var trigger: ReviewTrigger
    public init(caseId: String, decisionId: String, agencyId: String, trigger: ReviewTrigger) {
        self.caseId = caseId
        self.decisionId = decisionId
        self.agencyId = agencyId
        self.trigger = trigger
    }
}

public enum ReviewTaskState: String, Codable, Sendable { case open, claimed, approved, returned, superseded }

public struct ReviewTaskEvent: Codable, Sendable, Equatable {
    public var taskId: String
    public var caseId: String
    public var decisionId: String
    public var agencyId: String
    public var state: ReviewTaskState
    public var draftEventId: String
    public var createdAt: String
    public var dueDate: String
    public var dueProvisional: Bool
    public var previousTaskId: String?
    public init(taskId: String, caseId: String, decisionId: String, agencyId: String, state: ReviewTaskState, draftEventId: String, createdAt: String, dueDate: String, dueProvisional: Bool, previousTaskId: String?) {
        self.taskId = taskId
        self.caseId = caseId
        self.decisionId = decisionId
        self.agencyId = agencyId
        self.state = state
        self.draftEventId = draftEventId
        self.createdAt = createdAt
        self.dueDate = dueDate
        self.dueProvisional = dueProvisional
        self.previousTaskId = previousTaskId
    }
}

public enum ReviewOpinionKind: String, Codable, Sendable { case approve, `return` }

public struct ReviewOpinionEvent: Codable, Sendable, Equatable {
    public var opinionId: String
    public var taskId: String
    public var caseId: String
    public var decisionId: String
    public var agencyId: String
    public var reviewerId: String
    /// `approve` (同意) or `return` (存在问题).
    public var opinion: ReviewOpinionKind
    public var reasons: String?
    public var at: String
    public init(opinionId: String, taskId: String, caseId: String, decisionId: String, agencyId: String, reviewerId: String, opinion: ReviewOpinionKind, reasons: String?, at: String) {
        self.opinionId = opinionId
        self.taskId = taskId
        self.caseId = caseId
        self.decisionId = decisionId
        self.agencyId = agencyId
        self.reviewerId = reviewerId
        self.opinion = opinion
        self.reasons = reasons
        self.at = at
    }
}

public struct ReviewViolationEvent: Codable, Sendable, Equatable {
    public var caseId: String
    public var decisionId: String
    public var agencyId: String
    public var kind: String
    public var issuedEventId: String
    public var documentNumber: String
    public var reasonZh: String
    public var reasonEn: String
    public init(caseId: String, decisionId: String, agencyId: String, kind: String, issuedEventId: String, documentNumber: String, reasonZh: String, reasonEn: String) {
        self.caseId = caseId
        self.decisionId = decisionId
        self.agencyId = agencyId
        self.kind = kind
        self.issuedEventId = issuedEventId
        self.documentNumber = documentNumber
        self.reasonZh = reasonZh
        self.reasonEn = reasonEn
    }
}
