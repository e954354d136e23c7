import Foundation

/// What the service knows about a segment's predecessor on its device (across all cases).
public enum DevicePredecessor: Sendable, Equatable {
    /// No earlier segment of this device is known.
    case none
    /// The device's previous segment in time order. `namedIsKnown`: whether the hash the segment
    /// names as its previous one belongs to a known segment of the device (when it is not this
    /// one's, the segment it names may simply not have arrived yet: segments of different cases
    /// travel on different partitions).
    case known(segmentId: String, sha256: String, endedAt: Date, namedIsKnown: Bool = true)

    /// How `segment` links to this predecessor in its device's hash chain (the rule the review's
    /// AV check and the archive's completeness report share).
    public func link(of segment: AVSegmentRegistered) -> DeviceChainLink {
        switch self {
        case .none: return segment.previousSegmentSha256 == nil ? .first : .unknownPredecessor
        case .known(let previous, let sha, _, let namedIsKnown):
            guard let claimed = segment.previousSegmentSha256 else { return .unlinked(previous: previous) }
            if claimed == sha { return .intact(previous: previous) }
            return namedIsKnown ? .mismatch(previous: previous) : .unknownPredecessor
        }
    }
}

/// A segment's place in its device's hash chain.
public enum DeviceChainLink: Sendable, Equatable {
    /// The device's first known segment, naming no predecessor.
    case first
    /// It names a previous segment that is not known (not registered or archived yet, or missing).
    case unknownPredecessor
    /// A previous segment exists, but the segment names none.
    case unlinked(previous: String)
    /// It names a hash other than the previous segment's: a segment may be missing or replaced.
    case mismatch(previous: String)
    /// It names the previous segment's hash.
    case intact(previous: String)
}

/// Which event prompted the review.
public enum ReviewTrigger: String, Codable, Sendable { case drafted, issued }

/// The decision as reviewed: the latest draft merged with the issued decision, if any.
public struct DecisionView: Sendable {
    public var decisionId: String
    public var trigger: ReviewTrigger
    public var draft: Cited<DecisionDrafted>?
    public var issued: Cited<DecisionIssued>?

    /// The issued penalties (the draft's until issued); a base amount the issued decision omits is
    /// taken from the draft's penalty of the same kind.
    public var penalties: [Penalty] {
        guard let issued else { return draft?.value.penalties ?? [] }
        return issued.value.penalties.map { p in
            var p = p
            if p.baseAmountFen == nil { p.baseAmountFen = draft?.value.penalties.first { $0.kind == p.kind }?.baseAmountFen }
            return p
        }
    }
    public var legalBasis: [LegalBasis] { issued?.value.legalBasis ?? draft?.value.legalBasis ?? [] }
    public var facts: String? { draft?.value.facts ?? issued?.value.facts }
    /// When the decision was (or is to be) taken: issue time, else draft time.
    public var decidedAt: Date? { issued?.value.issuedAt.date ?? draft?.value.draftedAt.date }
    public var eventIds: [String] { [draft?.eventId, issued?.eventId].compactMap { $0 } }

    /// The decision of `decisionId` in `state` as of `trigger`.
    public init?(state: CaseState, decisionId: String, trigger: ReviewTrigger) {
        self.decisionId = decisionId
        self.trigger = trigger
        draft = state.latestDraft(decisionId)
        issued = trigger == .issued ? state.issued[decisionId] : nil
        if draft == nil && issued == nil { return nil }
    }
}

/// The automated legal review of one decision: 16 checks (DOMAIN.md §1) and the classification.
/// Pure: the same case, rules and calendar give the same findings.
public struct DecisionReview: Sendable {
    public let state: CaseState
    public let decision: DecisionView
    public let rules: ReviewRules
    public let book: RulesBook
    public let calendar: WorkingDayCalendar
    public let predecessor: @Sendable (AVSegmentRegistered) -> DevicePredecessor

    public init(state: CaseState, decision: DecisionView, rules: ReviewRules, book: RulesBook, calendar: WorkingDayCalendar,
                predecessor: @escaping @Sendable (AVSegmentRegistered) -> DevicePredecessor) {
        self.state = state
        self.decision = decision
        self.rules = rules
        self.book = book
        self.calendar = calendar
        self.predecessor = predecessor
    }

    var opened: CaseOpened? { state.opened?.value }
    var openedId: [String] { state.opened.map { [$0.eventId] } ?? [] }
    var general: Bool { opened?.procedure != .simple }

    static func day(_ d: Date) -> CalendarDay { ChinaTime.day(of: d) }
    static func t(_ d: Date) -> String {
        let rounded = Date(timeIntervalSince1970: d.timeIntervalSince1970.rounded())
        return String(ChinaTime.format(rounded).prefix(19)).replacingOccurrences(of: "T", with: " ")
    }
    static func yuan(_ fen: Int64) -> String { fen % 100 == 0 ? "\(fen / 100)" : String(format: "%.2f", Double(fen) / 100) }

    func finding(_ id: Int, _ name: String, _ result: CheckResult, _ zh: String, _ en: String, _ ids: [String]) -> Finding {
        Finding(checkId: id, check: name, result: result, reasonZh: zh, reasonEn: en, eventIds: Array(Set(ids)).sorted())
    }

    /// Every check, in order.
    public func findings() -> [Finding] {
        [jurisdiction(), officers(), recusal(), timeBar(), decisionDeadline(), simpleProcedure(), priorNotice(), hearingRights(),
         legalBasisAndDiscretion(), mandatoryAV(), avIntegrity(), coerciveMeasures(), evidence(), minors(), suspectedCrime(), collectiveDiscussion()]
    }

    // MARK: classification

    /// Major decision or not, with reasons (Art. 58, 118号; the agency's list is configuration).
    public func classification() -> Classification {
        var reasons: [Classification.Reason] = []
        if let h = state.hearings.first {
            let held = h.value.heldAt != nil
            reasons.append(.init(code: "hearing", zh: held ? "经过听证程序" : "当事人申请听证", en: held ? "a hearing was held" : "a hearing was requested"))
        }
        let heavy = Set(decision.penalties.map(\.kind)).intersection(rules.majorPenaltyKinds)
        if !heavy.isEmpty {
            reasons.append(.init(code: "penaltyKind", zh: "处罚种类较重（\(heavy.map(\.rawValue).sorted().joined(separator: "、"))）",
                                 en: "penalty of a heavy kind (\(heavy.map(\.rawValue).sorted().joined(separator: ", ")))"))
        }
        let threshold = rules.largeAmount(for: opened?.party)
        if let big = decision.penalties.first(where: { rules.amountKinds.contains($0.kind) && ($0.amountFen ?? 0) >= threshold }) {
            reasons.append(.init(code: "largeAmount", zh: "\(big.kind == .fine ? "罚款" : "没收")\(Self.yuan(big.amountFen ?? 0))元，达到较大数额（\(Self.yuan(threshold))元）",
                                 en: "\(big.kind.rawValue) of \(Self.yuan(big.amountFen ?? 0)) yuan at or above the large amount (\(Self.yuan(threshold)) yuan)"))
        }
        if let n = decision.draft?.value.legalRelationCount, n >= 2 {
            reasons.append(.init(code: "complex", zh: "涉及\(n)个法律关系，案情疑难复杂", en: "\(n) legal relations: a complex case"))
        }
        if decision.draft?.value.suspectedCrime == true {
            reasons.append(.init(code: "suspectedCrime", zh: "涉嫌犯罪", en: "suspected crime"))
        }
        if let o = opened, let agency = book.agencies[o.agencyId], agency.majorMatters.contains(o.matterCode) {
            reasons.append(.init(code: "majorList", zh: "事项列入重大执法决定法制审核目录清单", en: "the matter is on the agency's major-decision list"))
        }
        return Classification(major: !reasons.isEmpty, reasons: reasons)
    }

    // MARK: 1 jurisdiction

    func jurisdiction() -> Finding {
        let name = "jurisdiction"
        guard let o = opened else { return finding(1, name, .needsHuman, "尚未收到立案信息，无法核对职权", "the case opening has not arrived; jurisdiction cannot be checked", decision.eventIds) }
        guard let agency = book.agencies[o.agencyId] else {
            return finding(1, name, .fail, "执法机关\(o.agencyId)未在权责清单中登记", "agency \(o.agencyId) is not registered in the 权责清单", openedId)
        }
        if agency.matters.contains(o.matterCode) {
            return finding(1, name, .pass, "\(agency.shortName)权责清单包含事项\(o.matterCode)", "\(o.matterCode) is in the agency's 权责清单 (Art. 38)", openedId)
        }
        return finding(1, name, .fail, "事项\(o.matterCode)不在\(agency.shortName)的权责清单内，超越职权", "\(o.matterCode) is not in the agency's 权责清单: outside its powers (Art. 38)", openedId)
    }

    // MARK: 2 officers and credentials

    func officers() -> Finding {
        let name = "officersAndCredentials"
        guard !state.actions.isEmpty else {
            return finding(2, name, .needsHuman, "案件无执法行为记录，无法核对执法人员", "no act is recorded; officers cannot be checked", openedId)
        }
        var problemsZh: [String] = []
        var problemsEn: [String] = []
        var ids: [String] = []
        for act in state.actions {
            let a = act.value
            let day = Self.day(a.startedAt.date)
            if a.officers.count < rules.minimumOfficers {
                problemsZh.append("\(a.actionId)仅有\(a.officers.count)名执法人员")
                problemsEn.append("\(a.actionId) has \(a.officers.count) officer(s), \(rules.minimumOfficers) required")
                ids.append(act.eventId)
            }
            for o in a.officers {
                guard let r = book.officers[o.officerId] else {
                    problemsZh.append("\(a.actionId)：执法人员\(o.officerId)未在执法证登记系统中")
                    problemsEn.append("\(a.actionId): officer \(o.officerId) is not in the credential registry")
                    ids.append(act.eventId)
                    continue
                }
                if r.credentialNumber != o.credentialNumber {
                    problemsZh.append("\(a.actionId)：\(o.officerId)出示的执法证号与登记不符")
                    problemsEn.append("\(a.actionId): \(o.officerId) showed a credential number that does not match the registry")
                    ids.append(act.eventId)
                } else if !r.isValid(on: day) {
                    problemsZh.append("\(a.actionId)：\(o.officerId)的执法证在\(day)不在有效期内（\(r.validFrom)至\(r.validTo)）")
                    problemsEn.append("\(a.actionId): \(o.officerId)'s credential is not valid on \(day) (valid \(r.validFrom) to \(r.validTo))")
                    ids.append(act.eventId)
                }
            }
        }
        if problemsZh.isEmpty {
            return finding(2, name, .pass, "全部\(state.actions.count)项执法行为均有\(rules.minimumOfficers)名以上持有效执法证的执法人员",
                           "all \(state.actions.count) acts had at least \(rules.minimumOfficers) officers with valid, matching credentials (Art. 42)", state.actions.map(\.eventId))
        }
        return finding(2, name, .fail, problemsZh.joined(separator: "；"), problemsEn.joined(separator: "; "), ids)
    }

    // MARK: 3 recusal

    func recusal() -> Finding {
        let name = "recusal"
        let investigators = state.investigators
        var hosts: [(String, String)] = []
        for h in state.hearings { if let host = h.value.hostOfficerId { hosts.append((host, h.eventId)) } }
        if let clash = hosts.first(where: { investigators.contains($0.0) }) {
            return finding(3, name, .fail, "听证主持人\(clash.0)系本案调查人员，应当回避", "hearing host \(clash.0) investigated the case and must recuse (Art. 64)", [clash.1])
        }
        if hosts.isEmpty {
            return finding(3, name, .pass, "未举行听证；法制审核人员回避在认领审核任务时核对", "no hearing host to check; the reviewer's recusal is enforced when a reviewer claims the task (Art. 43)", openedId)
        }
        return finding(3, name, .pass, "听证主持人非本案调查人员；法制审核人员回避在认领时核对", "the hearing host did not investigate the case; the reviewer's recusal is enforced at claim (Arts. 43, 64)", hosts.map(\.1))
    }

    // MARK: 4 time bar

    func timeBar() -> Finding {
        let name = "timeBar"
        guard let o = opened, let od = state.opened else { return finding(4, name, .needsHuman, "尚未收到立案信息", "the case opening has not arrived", decision.eventIds) }
        let health = book.matters[o.matterCode]?.healthOrFinance ?? false
        let years = health ? rules.timeBarYearsHealthFinance : rules.timeBarYears
        let ended = o.violationEndedAt?.date ?? o.violationStartedAt?.date ?? o.openedAt.date
        let endDay = Self.day(ended)
        let limit = CalendarDay(year: endDay.year + years, month: endDay.month, day: min(endDay.day, RFC3339Time.daysIn(month: endDay.month, year: endDay.year + years)))
        let openDay = Self.day(o.openedAt.date)
        if openDay <= limit {
            return finding(4, name, .pass, "违法行为终了于\(endDay)，\(openDay)立案，未超过\(years)年追责时效", "the violation ended \(endDay) and the case opened \(openDay), within the \(years)-year time bar (Art. 36)", [od.eventId])
        }
        return finding(4, name, .fail, "违法行为终了于\(endDay)，至\(openDay)立案已超过\(years)年，不再给予行政处罚", "the violation ended \(endDay); opening on \(openDay) is past the \(years)-year time bar (Art. 36)", [od.eventId])
    }

    // MARK: 5 decision within 90 days

    func decisionDeadline() -> Finding {
        let name = "decisionDeadline"
        guard let o = opened else { return finding(5, name, .needsHuman, "尚未收到立案信息", "the case opening has not arrived", decision.eventIds) }
        guard general else { return finding(5, name, .notApplicable, "简易程序不适用九十日办案期限", "simple procedure: the 90-day limit does not apply", openedId) }
        guard let decided = decision.decidedAt else { return finding(5, name, .needsHuman, "缺少决定时间", "no decision time", decision.eventIds) }
        let days = Self.day(decided).daysSinceEpoch - Self.day(o.openedAt.date).daysSinceEpoch
        if days <= rules.decisionDays {
            return finding(5, name, .pass, "立案后第\(days)日作出决定，未超过\(rules.decisionDays)日", "decided on day \(days) after opening, within \(rules.decisionDays) days (Art. 60)", openedId + decision.eventIds)
        }
        if let ext = decision.draft?.value.extensionApprovalRef, !ext.isEmpty {
            return finding(5, name, .pass, "立案后第\(days)日作出决定，已经批准延长（\(ext)）", "decided on day \(days); the extension was approved (\(ext)) (Art. 60)", openedId + decision.eventIds)
        }
        return finding(5, name, .fail, "立案后第\(days)日才作出决定，超过\(rules.decisionDays)日且无延期批准", "decided on day \(days) after opening, past \(rules.decisionDays) days without an approved extension (Art. 60)", openedId + decision.eventIds)
    }

    // MARK: 6 simple procedure limits

    func simpleProcedure() -> Finding {
        let name = "simpleProcedureLimits"
        guard let o = opened else { return finding(6, name, .needsHuman, "尚未收到立案信息", "the case opening has not arrived", decision.eventIds) }
        guard o.procedure == .simple else { return finding(6, name, .notApplicable, "普通程序", "general procedure", openedId) }
        let organisation = o.party.kind == .organisation
        let limit = organisation ? rules.simpleMaxFineOrganisationFen : rules.simpleMaxFineNaturalPersonFen
        for p in decision.penalties {
            if p.kind == .warning { continue }
            if p.kind == .fine, (p.amountFen ?? 0) <= limit { continue }
            if p.kind == .fine {
                return finding(6, name, .fail, "简易程序罚款\(Self.yuan(p.amountFen ?? 0))元，超过当场处罚上限\(Self.yuan(limit))元", "simple procedure fine of \(Self.yuan(p.amountFen ?? 0)) yuan exceeds the on-the-spot limit of \(Self.yuan(limit)) yuan (Art. 51)", openedId + decision.eventIds)
            }
            return finding(6, name, .fail, "简易程序不得作出\(p.kind.rawValue)处罚", "simple procedure cannot impose \(p.kind.rawValue) (Art. 51)", openedId + decision.eventIds)
        }
        return finding(6, name, .pass, "当场处罚在简易程序限额内（\(organisation ? "法人" : "自然人")不超过\(Self.yuan(limit))元或警告）", "on-the-spot penalty within the simple-procedure limit (\(Self.yuan(limit)) yuan or a warning) (Art. 51)", openedId + decision.eventIds)
    }

    // MARK: 7 prior notice

    func priorNotice() -> Finding {
        let name = "priorNotice"
        guard let o = opened else { return finding(7, name, .needsHuman, "尚未收到立案信息", "the case opening has not arrived", decision.eventIds) }
        if o.procedure == .simple {
            if let onSite = state.actions.first(where: { $0.value.actionType == .onSiteDecision }) {
                return finding(7, name, .pass, "当场处罚，现场执法记录载明已当场告知", "on-the-spot penalty: the on-site act record stands for the notice (Art. 52)", [onSite.eventId])
            }
            return finding(7, name, .fail, "当场处罚缺少现场执法记录，无法证明已告知", "on-the-spot penalty without an on-site act record: no proof the party was told (Art. 52)", openedId)
        }
        guard let decided = decision.decidedAt else { return finding(7, name, .needsHuman, "缺少决定时间", "no decision time", decision.eventIds) }
        let notices = state.notices.filter { $0.value.noticeType == .priorPenaltyNotice && $0.value.servedAt.date <= decided }
        guard let notice = notices.last else {
            if decision.trigger == .drafted {
                return finding(7, name, .needsHuman, "尚未送达行政处罚事先告知书；作出决定前必须告知", "the prior notice of penalty has not been served yet; it must be before the decision is issued (Arts. 44, 45)", decision.eventIds)
            }
            return finding(7, name, .fail, "作出处罚决定前未送达行政处罚事先告知书", "no prior notice of penalty was served before the decision (Arts. 44, 45, 62)", decision.eventIds)
        }
        let proposed = notice.value.proposedPenalties ?? []
        for p in decision.penalties {
            guard let q = proposed.first(where: { $0.kind == p.kind }) else {
                return finding(7, name, .fail, "最终处罚增加了告知书未载明的\(p.kind.rawValue)，重于告知内容", "the decision adds \(p.kind.rawValue), which the prior notice did not name: heavier than notified (Art. 45)", [notice.eventId] + decision.eventIds)
            }
            if let a = p.amountFen, let b = q.amountFen, a > b {
                return finding(7, name, .fail, "最终罚没金额\(Self.yuan(a))元高于告知的\(Self.yuan(b))元", "the final amount \(Self.yuan(a)) yuan is higher than the notified \(Self.yuan(b)) yuan (Art. 45)", [notice.eventId] + decision.eventIds)
            }
        }
        return finding(7, name, .pass, "\(Self.t(notice.value.servedAt.date))已送达事先告知书，最终处罚不重于告知内容", "prior notice served \(Self.t(notice.value.servedAt.date)); the final penalty is not heavier than notified (Arts. 44, 45, 62)", [notice.eventId] + decision.eventIds)
    }

    // MARK: 8 hearing rights

    func hearingEligible() -> Bool {
        let threshold = rules.largeAmount(for: opened?.party)
        return decision.penalties.contains { rules.hearingEligibleKinds.contains($0.kind) || (rules.amountKinds.contains($0.kind) && ($0.amountFen ?? 0) >= threshold) }
    }

    func hearingRights() -> Finding {
        let name = "hearingRights"
        guard hearingEligible() else { return finding(8, name, .notApplicable, "处罚不属于应当告知听证权利的情形", "the penalty does not carry the right to a hearing (Art. 63)", decision.eventIds) }
        let decided = decision.decidedAt ?? .distantFuture
        let told = state.notices.filter { ($0.value.noticeType == .hearingRightsNotice || $0.value.noticeType == .priorPenaltyNotice) && $0.value.servedAt.date <= decided }
        guard let notice = told.first else {
            if decision.trigger == .drafted {
                return finding(8, name, .needsHuman, "尚未告知当事人听证权利；作出决定前必须告知", "the party has not yet been told of the right to a hearing; this must happen before the decision (Art. 63)", decision.eventIds)
            }
            return finding(8, name, .fail, "未告知当事人要求听证的权利", "the party was not told of the right to a hearing (Art. 63)", decision.eventIds)
        }
        guard let hearing = state.hearings.first else {
            return finding(8, name, .pass, "已告知听证权利，当事人未申请听证", "the party was told of the right to a hearing and did not request one (Art. 63)", [notice.eventId])
        }
        let h = hearing.value
        let (wd, provisional) = calendar.workingDays(after: Self.day(notice.value.servedAt.date), through: Self.day(h.requestedAt.date))
        if wd > rules.hearingRequestWorkingDays {
            return finding(8, name, .fail, "当事人在告知后第\(wd)个工作日申请听证，超过\(rules.hearingRequestWorkingDays)个工作日；仍举行听证的依据需人工核对",
                           "the hearing was requested on working day \(wd) after the notice, past \(rules.hearingRequestWorkingDays) working days (Art. 64)\(provisional ? " (provisional calendar)" : "")", [notice.eventId, hearing.eventId])
        }
        if h.withdrawn == true {
            return finding(8, name, .pass, "当事人申请听证后撤回", "the party requested a hearing and withdrew it", [notice.eventId, hearing.eventId])
        }
        guard let held = h.heldAt?.date else {
            return finding(8, name, .needsHuman, "当事人已申请听证，尚无举行听证的记录", "a hearing was requested and no hearing is recorded yet", [notice.eventId, hearing.eventId])
        }
        let hearingNotice = h.noticeServedAt?.date ?? state.notices.first { $0.value.noticeType == .hearingNotice }?.value.servedAt.date
        guard let hn = hearingNotice else {
            return finding(8, name, .fail, "未送达听证通知", "no hearing notice was served (Art. 64)", [hearing.eventId])
        }
        let days = Self.day(held).daysSinceEpoch - Self.day(hn).daysSinceEpoch
        if days < rules.hearingNoticeDays {
            return finding(8, name, .fail, "听证通知于举行听证前\(days)日送达，少于\(rules.hearingNoticeDays)日", "the hearing notice was served \(days) days before the hearing, fewer than \(rules.hearingNoticeDays) (Art. 64)", [hearing.eventId])
        }
        return finding(8, name, .pass, "已告知听证权利；当事人于告知后第\(wd)个工作日申请听证；听证通知提前\(days)日送达",
                       "told of the right; hearing requested on working day \(wd) after the notice; notice served \(days) days before the hearing (Arts. 63, 64)", [notice.eventId, hearing.eventId])
    }

    // MARK: 9 legal basis, range and discretion band

    func legalBasisAndDiscretion() -> Finding {
        let name = "legalBasisAndDiscretion"
        let ids = decision.eventIds
        guard decision.legalBasis.contains(where: { $0.role == .penaltyBasis }) else {
            return finding(9, name, .fail, "缺少处罚依据条款（penaltyBasis）", "no legal basis with role penaltyBasis (Art. 34)", ids)
        }
        guard let o = opened, let matter = book.matters[o.matterCode] else {
            return finding(9, name, .needsHuman, "处罚依据已载明；未找到该事项的裁量基准，需人工核对幅度", "a penalty basis is given; no discretion benchmark is configured for the matter, so the range needs a human", ids)
        }
        for p in decision.penalties where !matter.allowedPenalties.contains(p.kind) {
            return finding(9, name, .fail, "\(matter.name)不得处以\(p.kind.rawValue)", "\(p.kind.rawValue) is not a penalty the law allows for \(matter.code)", ids)
        }
        let level = decision.draft?.value.discretion?.level
        let reasons = decision.draft?.value.discretion?.reasons?.trimmingCharacters(in: .whitespaces) ?? ""
        var notes: [String] = []
        for p in decision.penalties where p.kind == .fine {
            guard let amount = p.amountFen, let range = matter.fine else { continue }
            switch range.contains(amount, base: p.baseAmountFen) {
            case .none:
                return finding(9, name, .needsHuman, "罚款幅度按基数百分比计算，但未给出基数（baseAmountFen）", "the fine range is a percentage of a base amount, and no baseAmountFen is given", ids)
            case .some(false):
                return finding(9, name, .fail, "罚款\(Self.yuan(amount))元超出法定幅度（\(range.text)）", "a fine of \(Self.yuan(amount)) yuan is outside the statutory range (\(range.text)) (Art. 34)", ids)
            case .some(true): break
            }
            if let level, level != .none, let band = matter.bands?[level.rawValue] {
                if band.contains(amount, base: p.baseAmountFen) == false {
                    return finding(9, name, .fail, "罚款\(Self.yuan(amount))元不在“\(level.rawValue)”裁量档次（\(band.text)）内", "a fine of \(Self.yuan(amount)) yuan is outside the \(level.rawValue) discretion band (\(band.text))", ids)
                }
                notes.append("\(level.rawValue) band \(band.text)")
            }
        }
        if let level, [.lighter, .mitigated, .heavier].contains(level), reasons.isEmpty {
            return finding(9, name, .fail, "从轻、减轻或从重处罚未说明理由", "a \(level.rawValue) penalty needs stated reasons (Art. 34)", ids)
        }
        return finding(9, name, .pass, "依据\(matter.law)\(matter.penaltyBasis)，处罚在法定幅度\(notes.isEmpty ? "" : "及裁量档次")内",
                       "basis \(matter.law) \(matter.penaltyBasis); penalty inside the statutory range\(notes.isEmpty ? "" : " and the " + notes.joined(separator: ", ")) (Art. 34)", ids)
    }

    // MARK: 10 mandatory AV coverage

    public func coverage() -> [AVCoverage] {
        state.actions.filter { rules.mandatoryAVActions.contains($0.value.actionType) }
            .map { AVCoverage.of($0, segments: state.segments, toleranceSeconds: rules.avGapToleranceSeconds) }
    }

    func mandatoryAV() -> Finding {
        let name = "mandatoryAVCoverage"
        let cov = coverage()
        guard !cov.isEmpty else { return finding(10, name, .notApplicable, "无须全程音像记录的执法行为", "no act that must be recorded from start to end", openedId) }
        var zh: [String] = []
        var en: [String] = []
        var ids: [String] = []
        for c in cov {
            let actEvent = state.actions.first { $0.value.actionId == c.actionId }?.eventId
            ids += [actEvent].compactMap { $0 } + c.spans.map(\.eventId)
            if c.spans.isEmpty {
                zh.append("\(c.actionId)（\(c.actionType.rawValue)）无任何音像记录")
                en.append("\(c.actionId) (\(c.actionType.rawValue)) has no audio-visual recording at all")
                continue
            }
            for g in c.gaps where g.unexplained {
                let minutes = Int((g.seconds / 60).rounded())
                zh.append("\(c.actionId)在\(Self.t(g.from))至\(Self.t(g.to))中断约\(minutes)分钟，未说明原因")
                en.append("\(c.actionId): a \(minutes)-minute gap \(Self.t(g.from))–\(Self.t(g.to)) with no reason")
            }
        }
        if zh.isEmpty {
            let explained = cov.flatMap(\.gaps).count
            return finding(10, name, .pass, "须全程记录的\(cov.count)项执法行为均全程录制\(explained > 0 ? "，\(explained)处中断已说明原因" : "")",
                           "all \(cov.count) acts that must be recorded are covered from start to end\(explained > 0 ? "; \(explained) gap(s) explained" : "") (118号, Art. 47)", ids)
        }
        return finding(10, name, .fail, zh.joined(separator: "；"), en.joined(separator: "; ") + " (118号, Art. 47)", ids)
    }

    // MARK: 11 AV integrity

    func avIntegrity() -> Finding {
        let name = "avIntegrity"
        guard !state.segments.isEmpty else { return finding(11, name, .notApplicable, "本案无音像记录", "no audio-visual segments in this case", openedId) }
        var fails: [(String, String, String)] = []
        var unknown: [(String, String, String)] = []
        var offsetsReported = 0
        for seg in state.segments.sorted(by: { $0.value.startedAt < $1.value.startedAt }) {
            let s = seg.value
            if let o = s.deviceClockOffsetMs {
                offsetsReported += 1
                if abs(o) > rules.clockOffsetToleranceMs {
                    fails.append(("\(s.segmentId)设备时钟偏差\(o / 1000)秒，超过允许的\(rules.clockOffsetToleranceMs / 1000)秒", "\(s.segmentId): device clock off by \(o / 1000) s, beyond \(rules.clockOffsetToleranceMs / 1000) s", seg.eventId))
                }
            }
            let previous = predecessor(s)
            switch previous.link(of: s) {
            case .first, .intact: break
            case .unknownPredecessor:
                unknown.append(("\(s.segmentId)所链接的\(s.deviceId)前一段音像尚未登记（可能仍在上传，也可能缺失）",
                                "\(s.segmentId) links to a previous segment of \(s.deviceId) that has not been registered (still uploading, or missing)", seg.eventId))
            case .unlinked(let prevId):
                fails.append(("\(s.segmentId)未链接\(s.deviceId)的前一段音像\(prevId)", "\(s.segmentId) does not link to \(s.deviceId)'s previous segment \(prevId)", seg.eventId))
            case .mismatch(let prevId):
                fails.append(("\(s.segmentId)的哈希链与\(s.deviceId)的前一段音像\(prevId)不符，可能有音像缺失或被替换", "\(s.segmentId)'s hash link does not match \(s.deviceId)'s previous segment \(prevId): a segment may be missing or replaced", seg.eventId))
            }
            if case .known(let prevId, _, let ended, _) = previous, ended.timeIntervalSince(s.startedAt.date) > 1 {
                fails.append(("\(s.segmentId)与\(s.deviceId)的前一段音像\(prevId)时间重叠", "\(s.segmentId) overlaps \(s.deviceId)'s previous segment \(prevId)", seg.eventId))
            }
        }
        if !fails.isEmpty {
            return finding(11, name, .fail, fails.map(\.0).joined(separator: "；"), fails.map(\.1).joined(separator: "; "), fails.map(\.2))
        }
        if !unknown.isEmpty {
            return finding(11, name, .needsHuman, unknown.map(\.0).joined(separator: "；"), unknown.map(\.1).joined(separator: "; "), unknown.map(\.2))
        }
        if offsetsReported == 0 {
            return finding(11, name, .notApplicable, "哈希链完整、无重叠；设备未报告时钟偏差，无法核对时钟", "hash chains intact and no overlaps; no device reported a clock offset, so clocks cannot be checked", state.segments.map(\.eventId))
        }
        return finding(11, name, .pass, "\(state.segments.count)段音像按设备哈希链完整、互不重叠，设备时钟偏差在允许范围内",
                       "\(state.segments.count) segments: per-device hash chains intact, no overlaps, device clocks within tolerance", state.segments.map(\.eventId))
    }

    // MARK: 12 coercive measures

    func coerciveMeasures() -> Finding {
        let name = "coerciveMeasures"
        let acts = state.actions.filter { rules.coerciveActions.contains($0.value.actionType) }
        guard !acts.isEmpty else { return finding(12, name, .notApplicable, "未采取行政强制措施", "no coercive measure was taken", openedId) }
        var zh: [String] = []
        var en: [String] = []
        for act in acts {
            let a = act.value
            let approved = !(a.priorApprovalRef ?? "").isEmpty
            let reportedInTime = a.emergencyReportedAt.map { $0.date.timeIntervalSince(a.startedAt.date) <= rules.emergencyReportHours * 3600 } ?? false
            if !approved && !reportedInTime {
                zh.append("\(a.actionId)未经事先批准，也未在\(Int(rules.emergencyReportHours))小时内补报")
                en.append("\(a.actionId): neither prior approval nor an emergency report within \(Int(rules.emergencyReportHours)) h (行政强制法 Arts. 18–19)")
            }
            let signed = a.partySignature == .signed || a.partySignature == .refused
            let witnessed = !(a.witness ?? "").isEmpty
            if !signed && !witnessed {
                zh.append("\(a.actionId)既无当事人签名或拒绝签名记录，也无见证人")
                en.append("\(a.actionId): no party signature, no recorded refusal and no witness (行政强制法 Art. 18)")
            }
        }
        if zh.isEmpty {
            return finding(12, name, .pass, "\(acts.count)项强制措施均经批准，并有当事人签名、拒签记录或见证人", "all \(acts.count) coercive measures were approved and signed, refused on record or witnessed (行政强制法 Arts. 18–19)", acts.map(\.eventId))
        }
        return finding(12, name, .fail, zh.joined(separator: "；"), en.joined(separator: "; "), acts.map(\.eventId))
    }

    // MARK: 13 evidence

    func evidence() -> Finding {
        let name = "evidence"
        if general {
            guard let d = decision.draft else {
                return finding(13, name, .needsHuman, "普通程序决定缺少拟处理意见（证据清单），需人工核对证据", "a general-procedure decision without a draft (evidence list): evidence needs a human", decision.eventIds)
            }
            let n = d.value.evidence?.count ?? 0
            let factsOK = !d.value.facts.trimmingCharacters(in: .whitespaces).isEmpty
            if n >= 1 && factsOK {
                return finding(13, name, .pass, "载明违法事实并列明\(n)份证据", "facts stated and \(n) evidence document(s) listed", [d.eventId])
            }
            return finding(13, name, .fail, n == 0 ? "未列明任何证据" : "违法事实为空", n == 0 ? "no evidence document is listed" : "the facts are empty", [d.eventId])
        }
        guard let onSite = state.actions.first(where: { $0.value.actionType == .onSiteDecision }) else {
            return finding(13, name, .fail, "当场处罚缺少现场执法记录", "on-the-spot penalty without an on-site act record", decision.eventIds)
        }
        let docs = onSite.value.documents?.count ?? 0
        if docs >= 1 {
            return finding(13, name, .pass, "现场执法记录附有\(docs)份文书（含当场处罚决定书）", "the on-site act carries \(docs) document(s), the on-the-spot decision letter among them", [onSite.eventId])
        }
        return finding(13, name, .fail, "现场执法记录未附当场处罚决定书等文书", "the on-site act carries no document (no on-the-spot decision letter)", [onSite.eventId])
    }

    // MARK: 14 minors

    func minors() -> Finding {
        let name = "minors"
        guard let o = opened else { return finding(14, name, .needsHuman, "尚未收到立案信息", "the case opening has not arrived", decision.eventIds) }
        guard o.party.kind != .organisation else { return finding(14, name, .notApplicable, "当事人为单位", "the party is an organisation", openedId) }
        guard let birth = o.party.birthDate, let decided = decision.decidedAt else {
            return finding(14, name, .notApplicable, "未提供当事人出生日期", "no birth date of the party is given", openedId)
        }
        let day = Self.day(decided)
        var age = day.year - birth.year
        if (day.month, day.day) < (birth.month, birth.day) { age -= 1 }
        let penalised = !decision.penalties.isEmpty  // a warning is a penalty too
        if age < 14 {
            if penalised {
                return finding(14, name, .fail, "当事人作出决定时未满14周岁，不予行政处罚", "the party was under 14 when decided: no penalty may be imposed (Art. 30)", openedId + decision.eventIds)
            }
            return finding(14, name, .pass, "当事人未满14周岁，未予处罚", "the party is under 14 and no penalty is imposed (Art. 30)", openedId + decision.eventIds)
        }
        if age < 18 {
            let level = decision.draft?.value.discretion?.level
            if level == .lighter || level == .mitigated {
                return finding(14, name, .pass, "当事人已满14周岁不满18周岁，已依法从轻或减轻处罚", "the party is 14–17 and the penalty is lighter or mitigated (Art. 30)", openedId + decision.eventIds)
            }
            if level == nil && decision.draft == nil {
                return finding(14, name, .needsHuman, "当事人已满14周岁不满18周岁，未载明裁量情节，需人工核对是否从轻", "the party is 14–17 and no discretion level is stated: a human must check it is lighter or mitigated", openedId + decision.eventIds)
            }
            return finding(14, name, .fail, "当事人已满14周岁不满18周岁，应当从轻或者减轻处罚", "the party is 14–17: the penalty must be lighter or mitigated (Art. 30)", openedId + decision.eventIds)
        }
        return finding(14, name, .pass, "当事人已成年", "the party is an adult", openedId)
    }

    // MARK: 15 suspected crime

    func suspectedCrime() -> Finding {
        let name = "suspectedCrime"
        guard let flag = decision.draft?.value.suspectedCrime else {
            return finding(15, name, .notApplicable, "未载明是否涉嫌犯罪", "no suspected-crime flag is given", decision.eventIds)
        }
        if !flag { return finding(15, name, .pass, "不涉嫌犯罪", "no crime suspected", decision.eventIds) }
        if decision.penalties.isEmpty || decision.draft?.value.decisionKind == .noPenalty {
            return finding(15, name, .pass, "涉嫌犯罪，未作行政处罚，应移送司法机关", "a crime is suspected and no penalty is imposed: transfer to the judiciary (Art. 82)", decision.eventIds)
        }
        return finding(15, name, .fail, "涉嫌犯罪的案件应当移送司法机关，不应作出行政处罚", "a crime is suspected: transfer to the judiciary instead of imposing a penalty (Art. 82)", decision.eventIds)
    }

    // MARK: 16 collective discussion

    func collectiveDiscussion() -> Finding {
        let name = "collectiveDiscussion"
        guard classification().major else { return finding(16, name, .notApplicable, "非重大执法决定", "not a major decision", decision.eventIds) }
        if let ref = decision.draft?.value.collectiveDiscussionRef, !ref.isEmpty {
            return finding(16, name, .pass, "重大执法决定已经集体讨论（\(ref)）", "the major decision was discussed collectively (\(ref)) (Art. 57)", decision.eventIds)
        }
        return finding(16, name, .fail, "重大执法决定未记录集体讨论", "no collective discussion is recorded for a major decision (Art. 57)", decision.eventIds)
    }
}

/// Segments per device in time order, for finding each segment's predecessor on its device.
public struct DeviceHistory: Sendable {
    private var byDevice: [String: [AVSegmentRegistered]] = [:]

    public init(_ segments: [AVSegmentRegistered] = []) {
        for s in segments { add(s) }
    }

    /// Adds a segment (a segment id seen again replaces the earlier one).
    public mutating func add(_ s: AVSegmentRegistered) {
        var list = byDevice[s.deviceId, default: []]
        list.removeAll { $0.segmentId == s.segmentId }
        let i = list.firstIndex { ($0.startedAt.date, $0.segmentId) > (s.startedAt.date, s.segmentId) } ?? list.count
        list.insert(s, at: i)
        byDevice[s.deviceId] = list
    }

    /// The segment recorded just before `s` on its device, if known.
    public func predecessor(of s: AVSegmentRegistered) -> DevicePredecessor {
        guard let list = byDevice[s.deviceId], let i = list.firstIndex(where: { $0.segmentId == s.segmentId }) ?? list.firstIndex(where: { $0.startedAt.date >= s.startedAt.date }) ?? Optional(list.count), i > 0 else {
            return .none
        }
        let p = list[i - 1]
        let named = s.previousSegmentSha256
        return .known(segmentId: p.segmentId, sha256: p.sha256, endedAt: p.endedAt.date,
                      namedIsKnown: named == nil || named == p.sha256 || list.contains { $0.sha256 == named && $0.segmentId != s.segmentId })
    }
}
