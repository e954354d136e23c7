/// The numbers and lists legal review checks against (all configuration; defaults from DOMAIN.md).
public struct ReviewRules: Sendable {
    /// 较大数额: fines or confiscations at or above these are major and hearing-eligible.
    public var largeAmountNaturalPersonFen: Int64 = 1_000_000
    public var largeAmountOrganisationFen: Int64 = 10_000_000
    /// Simple procedure only up to these fines (Art. 51).
    public var simpleMaxFineNaturalPersonFen: Int64 = 20_000
    public var simpleMaxFineOrganisationFen: Int64 = 300_000
    /// Time bar (Art. 36).
    public var timeBarYears = 2
    public var timeBarYearsHealthFinance = 5
    /// General procedure: decision within this many days of opening (Art. 60).
    public var decisionDays = 90
    /// Hearing request within this many working days of the notice (Art. 64).
    public var hearingRequestWorkingDays = 5
    /// Hearing notice at least this many calendar days before the hearing (Art. 64).
    public var hearingNoticeDays = 7
    /// AV gaps longer than this need a reason.
    public var avGapToleranceSeconds: Double = 30
    /// Device clock offset tolerance.
    public var clockOffsetToleranceMs: Int64 = 60_000
    /// An emergency coercive measure must be reported within this many hours (行政强制法 Art. 19).
    public var emergencyReportHours: Double = 24
    /// Officers required on every act (Art. 42).
    public var minimumOfficers = 2
    /// Acts that must be recorded from start to end (118号, Art. 47).
    public var mandatoryAVActions: Set<ActionType> = [.seizure, .sealing, .demolition, .restrictionOfLiberty]
    /// Coercive measures (行政强制法 Arts. 18–19).
    public var coerciveActions: Set<ActionType> = [.seizure, .sealing, .restrictionOfLiberty]
    /// Penalties that make a decision major regardless of amount.
    public var majorPenaltyKinds: Set<PenaltyKind> = [.revokeLicence, .suspendLicence, .lowerQualification, .suspendProduction, .orderClosure, .restrictEmployment]
    /// Penalties that give the right to a hearing regardless of amount (Art. 63).
    public var hearingEligibleKinds: Set<PenaltyKind> = [.lowerQualification, .revokeLicence, .suspendProduction, .orderClosure, .restrictEmployment]
    /// Penalties whose amount counts towards 较大数额.
    public var amountKinds: Set<PenaltyKind> = [.fine, .confiscateIllegalGains, .confiscateProperty]

    public init() {}

    /// The 较大数额 threshold for a party.
    public func largeAmount(for party: Party?) -> Int64 {
        party?.kind == .organisation ? largeAmountOrganisationFen : largeAmountNaturalPersonFen
    }
}

/// The outcome of one automated check.
public enum CheckResult: String, Codable, Sendable, CaseIterable {
    case pass, fail, needsHuman, notApplicable
}

/// One automated check's finding: the check, its result, why (in Chinese and English) and the
/// events it rests on.
public struct Finding: Codable, Sendable, Equatable {
    public var checkId: Int
    public var check: String
    public var result: CheckResult
    public var reasonZh: String
    public var reasonEn: String
    public var eventIds: [String]

    public init(checkId: Int, check: String, result: CheckResult, reasonZh: String, reasonEn: String, eventIds: [String]) {
        self.checkId = checkId
        self.check = check
        self.result = result
        self.reasonZh = reasonZh
        self.reasonEn = reasonEn
        self.eventIds = eventIds
    }
}

/// Why a decision is (or is not) major.
public struct Classification: Codable, Sendable, Equatable {
    public struct Reason: Codable, Sendable, Equatable {
        public var code: String
        public var zh: String
        public var en: String
    }

    public var major: Bool
    public var reasons: [Reason]
}
