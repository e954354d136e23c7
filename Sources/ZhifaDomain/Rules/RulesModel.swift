/// An enforcement agency, its 权责清单 and its additions to the major-decision list.
public struct AgencyRule: Codable, Sendable {
    public var agencyId: String
    public var name: String
    public var shortName: String
    public var documentPrefix: String
    /// Matter codes the agency may enforce (权责清单).
    public var matters: [String]
    /// Matter codes whose decisions are always major (审核目录清单).
    public var majorMatters: [String]
}

/// A penalty range: fixed amounts in fen, or a percentage of the penalty's `baseAmountFen`.
public struct AmountRange: Codable, Sendable, Equatable {
    public var minFen: Int64?
    public var maxFen: Int64?
    public var minPercent: Double?
    public var maxPercent: Double?

    public init(minFen: Int64? = nil, maxFen: Int64? = nil, minPercent: Double? = nil, maxPercent: Double? = nil) {
        self.minFen = minFen
        self.maxFen = maxFen
        self.minPercent = minPercent
        self.maxPercent = maxPercent
    }

    /// Whether the range is expressed as a percentage of a base amount.
    public var isPercentage: Bool { minPercent != nil || maxPercent != nil }

    /// Whether `amount` lies in the range; nil when a percentage range has no base to apply to.
    public func contains(_ amount: Int64, base: Int64?) -> Bool? {
        if isPercentage {
            guard let base, base > 0 else { return nil }
            let pct = Double(amount) * 100 / Double(base)
            return pct >= (minPercent ?? 0) - 1e-9 && pct <= (maxPercent ?? .infinity) + 1e-9
        }
        return amount >= (minFen ?? 0) && amount <= (maxFen ?? .max)
    }

    /// A readable form, e.g. `50–500 yuan` or `5–10% of the base`.
    public var text: String {
        if isPercentage { return "\(fmt(minPercent ?? 0))–\(fmt(maxPercent ?? 100))% of the base amount" }
        return "\(yuan(minFen ?? 0))–\(maxFen.map(yuan) ?? "∞") yuan"
    }

    private func fmt(_ d: Double) -> String { d == d.rounded() ? String(Int(d)) : String(d) }
    private func yuan(_ f: Int64) -> String { f % 100 == 0 ? String(f / 100) : String(format: "%.2f", Double(f) / 100) }
}

/// One enforcement matter: legal basis, statutory range and discretion bands (裁量基准).
public struct MatterRule: Codable, Sendable {
    public var code: String
    public var name: String
    public var law: String
    public var violated: String
    public var penaltyBasis: String
    public var category: Category
    /// Health or finance matter: 5-year time bar (Art. 36).
    public var healthOrFinance: Bool
    public var allowedPenalties: [PenaltyKind]
    /// Statutory fine range, if the matter carries fines.
    public var fine: AmountRange?
    /// 裁量基准 bands by discretion level (`lighter`, `mitigated`, `ordinary`, `heavier`).
    public var bands: [String: AmountRange]?
}

/// An officer's 执法证.
public struct OfficerRecord: Codable, Sendable {
    public var officerId: String
    public var name: String
    public var agencyId: String
    public var credentialNumber: String
    public var validFrom: CalendarDay
    public var validTo: CalendarDay
    /// `legal` for the legal department (hearing hosts); nil for investigators.
    public var role: String?

    /// Whether the credential is valid on `day`.
    public func isValid(on day: CalendarDay) -> Bool { day >= validFrom && day <= validTo }
}

/// The reference town.
public struct TownProfile: Codable, Sendable {
    public var name: String
    public var district: String
    public var agencyId: String
    public var caseSystemDevice: String
    public var villages: [String]
    public var communities: [String]
    public var streets: [String]
    public var lawFirms: [String]
}

/// Every rules table, indexed.
public struct RulesBook: Sendable {
    public var agencies: [String: AgencyRule]
    public var matters: [String: MatterRule]
    public var officers: [String: OfficerRecord]
    public var town: TownProfile

    public init(agencies: [AgencyRule], matters: [MatterRule], officers: [OfficerRecord], town: TownProfile) {
        self.agencies = Dictionary(agencies.map { ($0.agencyId, $0) }, uniquingKeysWith: { a, _ in a })
        self.matters = Dictionary(matters.map { ($0.code, $0) }, uniquingKeysWith: { a, _ in a })
        self.officers = Dictionary(officers.map { ($0.officerId, $0) }, uniquingKeysWith: { a, _ in a })
        self.town = town
    }
}
