import Foundation
import ZhifaDomain
import ZhifaRuntime

/// One simulated event: the CloudEvent and the device that sends it.
public struct SimulatedEvent: Sendable {
    public var event: CloudEvent
    /// The registered device that sends it over HTTP (a body camera, a PDA or the case system).
    public var deviceId: String
    /// The event's `time`.
    public var time: Date
}

/// One simulated case, its kind, and its events in the order a terminal sends them.
public struct SimulatedCase: Sendable {
    public var caseId: String
    public var procedure: Procedure
    public var major: Bool
    public var revoked: Bool
    public var avGap: Bool
    public var avMissing: Bool
    public var minor: Bool
    public var confidential: Bool
    public var warningOnly: Bool
    public var events: [SimulatedEvent]

    /// The case as sent by `now`: its events up to the first one dated after `now` (a payment, the
    /// closing, a later recording), so a terminal never sends an event from the future.
    public func known(at now: Date) -> SimulatedCase {
        var c = self
        c.events = Array(events.prefix { $0.time <= now })
        return c
    }
}

/// Generates realistic, contract-valid traffic for the configured town: complete general and
/// simple (on-the-spot) cases, AV segments chained per device, and configurable shares of major
/// decisions, recording gaps and losses, revocations, minors and confidential cases.
///
/// Pure: the same rules, settings, seed and start give the same events.
public struct TownSimulator {
    public let rules: RulesBook
    public let settings: SimulatorSettings
    public let start: Date
    /// When set, each case's dates move by whole days so that its decision is issued in the day
    /// before this moment, the cases' decisions in case order (`zhifa up --demo`: what it
    /// publishes is then current, not weeks late). A case without a decision keeps its dates.
    /// Moving whole days keeps every case's own timeline, and devices are assigned afterwards,
    /// so recordings stay chained per device in time order.
    public var decisionsIssuedBy: Date? = nil
    private var rng: SeededRandom
    private let seed: UInt64
    /// What case and decision ids end with: by default the seed modulo 1,000.
    public var idSuffix: String
    /// The last document number used (决定书文号 〔year〕N号): the next decision gets one more.
    public internal(set) var decisionNumber = 0
    /// The last case number used: the next case gets one more. Simulators that go on from one
    /// another's numbers (the demo's rounds) never repeat a case, its acts or its documents.
    public internal(set) var caseNumber = 0
    /// Where each body camera's chain of recordings stands before this simulator's cases: their
    /// recordings follow on, each naming its camera's last one (a demo's live rounds go on from
    /// the rounds before them). Empty by default: every camera starts a new chain.
    public var cameraChains = CameraChains()
    private var eventCounter = 0

    /// Days from a case's opening day to its last event, at most: a general case with a hearing
    /// is decided up to about 41 days after it opens, then closed up to 50 days later.
    public static let longestCaseDays = 92

    public init(rules: RulesBook, settings: SimulatorSettings, seed: UInt64, start: Date) {
        self.rules = rules
        self.settings = settings
        self.seed = seed
        self.start = start
        idSuffix = String(seed % 1000)
        rng = SeededRandom(seed: seed)
    }

    // MARK: planning

    /// A segment before a device is chosen.
    struct SegmentPlan {
        var caseIndex: Int
        var actionId: String?
        var officerId: String
        var startedAt: Date
        var endedAt: Date
        var gapReason: String?
        var key: Int
    }

    /// An event before its bytes are built (segments wait for their device).
    enum Spec {
        case data(type: EventType, time: Date, deviceId: String, encode: () throws -> [UInt8])
        case segment(SegmentPlan)
    }

    struct CasePlan {
        var info: SimulatedCase
        var specs: [Spec]
        /// Events the terminal sends later than they are dated (spec index → when it sends them).
        var sentAt: [Int: Date] = [:]

        /// When its (first) decision is issued.
        var issuedAt: Date? {
            for spec in specs {
                if case .data(let type, let time, _, _) = spec, type == .decisionIssued { return time }
            }
            return nil
        }
    }

    /// Generates `count` cases, starting at `start`, spread over `daysSpan` days.
    public mutating func generate(cases count: Int, daysSpan: Int = 30) throws -> [SimulatedCase] {
        var plans: [CasePlan] = []
        for i in 0..<count {
            let day = start.addingTimeInterval(Double(i) * Double(daysSpan) * 86_400 / Double(max(count, 1)))
            let before = self
            var plan = planCase(index: i, at: day)
            if let anchor = decisionsIssuedBy, let issued = plan.issuedAt {
                let target = anchor.addingTimeInterval(-Double(count - i) * 86_400 / Double(count))
                let days = (target.timeIntervalSince(issued) / 86_400).rounded(.down)
                if days != 0 {
                    // The same draws again, from a day `days` later (or earlier): the same case, moved.
                    self = before
                    plan = planCase(index: i, at: day.addingTimeInterval(days * 86_400))
                }
            }
            plans.append(plan)
        }
        return try build(plans)
    }

    /// On-the-spot cases opened at `times`, each recorded on a body camera free from its start
    /// (the last recording of every camera is in `cameraChains`). A case for which no camera is
    /// free is not made: a recording on a busy camera would break that camera's chain. Its case
    /// number is then skipped.
    public mutating func onTheSpot(openedAt times: [Date]) throws -> [SimulatedCase] {
        var plans: [CasePlan] = []
        for (i, t) in times.enumerated() { plans.append(simpleCase(index: i, at: t, opening: t)) }
        return try build(plans, onlyChained: true)
    }

    /// The cases' events: recordings assigned to cameras, events built and put in sending order.
    /// With `onlyChained`, a case with a recording no camera was free for is left out.
    mutating func build(_ plans: [CasePlan], onlyChained: Bool = false) throws -> [SimulatedCase] {
        var segments: [SegmentPlan] = []
        for plan in plans {
            for spec in plan.specs { if case .segment(let s) = spec { segments.append(s) } }
        }
        let assigned = assignDevices(segments, busyFallback: !onlyChained)
        var out: [SimulatedCase] = []
        for plan in plans {
            let unassigned = plan.specs.contains { if case .segment(let s) = $0 { assigned[s.key] == nil } else { false } }
            if onlyChained && unassigned { continue }
            var events: [(Date, SimulatedEvent)] = []
            for (index, spec) in plan.specs.enumerated() {
                switch spec {
                case .data(let type, let time, let deviceId, let encode):
                    events.append((plan.sentAt[index] ?? time, try makeEvent(type: type, time: time, deviceId: deviceId, data: encode())))
                case .segment(let s):
                    guard let a = assigned[s.key] else { continue }
                    let data = AVSegmentRegistered(
                        caseId: plan.info.caseId, actionId: s.actionId, segmentId: a.segmentId, deviceId: a.deviceId, officerId: s.officerId,
                        startedAt: Instant(s.startedAt), endedAt: Instant(s.endedAt), mediaType: "video/mp4",
                        sizeBytes: Int64(s.endedAt.timeIntervalSince(s.startedAt) * 760_000), sha256: a.sha,
                        previousSegmentSha256: a.previous, gapReason: s.gapReason, deviceClockOffsetMs: Int64(a.clockOffsetMs),
                        storageUri: "evidence://\(a.deviceId)/\(a.fileName)", fileName: a.fileName)
                    let uploaded = s.endedAt.addingTimeInterval(60)
                    events.append((uploaded, try makeEvent(type: .avSegmentRegistered, time: uploaded, deviceId: a.deviceId, data: try encoder.encode(data))))
                }
            }
            events.sort { $0.0 < $1.0 }
            var info = plan.info
            info.events = events.map(\.1)
            out.append(info)
        }
        return out
    }

    /// One case's plan, general or simple (the first draw decides).
    mutating func planCase(index: Int, at day: Date) -> CasePlan {
        rng.chance(settings.generalShare) ? generalCase(index: index, at: day) : simpleCase(index: index, at: day)
    }

    struct AssignedSegment {
        var deviceId: String
        var segmentId: String
        var sha: String
        var previous: String?
        var fileName: String
        var clockOffsetMs: Int
    }

    /// Chooses a free body camera for each segment in time order (preferring the officer's own)
    /// and links each segment to its device's previous one, going on from `cameraChains`. When no
    /// camera is free, the officer's own is used anyway with `busyFallback`, and none without.
    mutating func assignDevices(_ segments: [SegmentPlan], busyFallback: Bool = true) -> [Int: AssignedSegment] {
        let cameras = (1...30).map { String(format: "DSJ-%04d", $0) }
        var lastEnd = cameraChains.cameras.mapValues(\.endedAt.date)
        var lastSha = cameraChains.cameras.mapValues(\.sha256)
        var counter: [String: Int] = [:]
        var out: [Int: AssignedSegment] = [:]
        for s in segments.sorted(by: { ($0.startedAt, $0.key) < ($1.startedAt, $1.key) }) {
            let preferred = cameras[(Int(s.officerId.filter(\.isNumber)) ?? 0) % cameras.count]
            let free = ([preferred] + cameras).first { (lastEnd[$0] ?? .distantPast) <= s.startedAt }
            guard let device = free ?? (busyFallback ? preferred : nil) else { continue }
            let n = (counter[device] ?? 0) + 1
            counter[device] = n
            let sha = rng.sha256Hex()
            let compactDevice = device.replacingOccurrences(of: "-", with: "")
            let stamp = ChinaTime.format(s.startedAt).prefix(19).filter(\.isNumber)
            out[s.key] = AssignedSegment(
                deviceId: device, segmentId: "SEG-\(compactDevice)-S\(String(seed, radix: 36))-\(n)", sha: sha, previous: lastSha[device],
                fileName: "\(compactDevice)_\(stamp).mp4", clockOffsetMs: Int(rng.next() % 1_600) - 800)
            lastSha[device] = sha
            lastEnd[device] = s.endedAt
        }
        return out
    }

    // MARK: cases

    var encoder: JSONEncoder {
        let e = JSONEncoder()
        e.outputFormatting = [.withoutEscapingSlashes]
        return e
    }

    mutating func nextEventId() -> String {
        eventCounter += 1
        return String(format: "sim-%llx-%06d-%@", seed, eventCounter, String(rng.next() % 0xFFFF_FFFF, radix: 16))
    }

    mutating func makeEvent(type: EventType, time: Date, deviceId: String, data: Data) throws -> SimulatedEvent {
        try makeEvent(type: type, time: time, deviceId: deviceId, data: Array(data))
    }

    mutating func makeEvent(type: EventType, time: Date, deviceId: String, data: [UInt8]) throws -> SimulatedEvent {
        let source = deviceId.hasPrefix("SYS-") ? "urn:zhifa:agency:\(rules.town.agencyId)" : "urn:zhifa:device:\(deviceId)"
        let ce = CloudEvent(id: nextEventId(), source: source, type: type.rawValue, time: ChinaTime.format(time), data: data)
        return SimulatedEvent(event: ce, deviceId: deviceId, time: time)
    }

    mutating func pick<T>(_ a: [T]) -> T { a[Int(rng.next() % UInt64(a.count))] }
    mutating func between(_ lo: Int, _ hi: Int) -> Int { lo + Int(rng.next() % UInt64(hi - lo + 1)) }

    /// Two investigators (never the legal department).
    mutating func investigators() -> [OfficerRecord] {
        let pool = rules.officers.values.filter { $0.agencyId == rules.town.agencyId && $0.role == nil && $0.validTo.year >= 2027 }
            .sorted { $0.officerId < $1.officerId }
        let a = between(0, pool.count - 1)
        var b = between(0, pool.count - 2)
        if b >= a { b += 1 }
        return [pool[a], pool[b]]
    }

    mutating func pda() -> String { String(format: "PDA-%04d", between(21, 40)) }

    mutating func place() -> Place {
        let inCommunity = rng.chance(0.2)
        let area = inCommunity ? pick(rules.town.communities) : pick(rules.town.villages)
        let street = pick(rules.town.streets)
        return Place(address: "\(rules.town.district)\(rules.town.name)\(area)\(street)\(between(1, 60))号",
                     lat: 39.40 + Double(between(0, 900)) / 10_000, lon: 117.05 + Double(between(0, 900)) / 10_000, adminArea: area)
    }

    mutating func documentNumber(prefix: String, kind: String, year: Int) -> String {
        decisionNumber += 1
        return "\(prefix)\(kind)〔\(year)〕\(decisionNumber)号"
    }

    /// A working-day-ish moment: `days` after `base`, at `hour`:`minute` CST.
    func at(_ base: Date, days: Int, hour: Int, minute: Int = 0) -> Date {
        let day = ChinaTime.day(of: base).adding(days: days)
        return ChinaTime.startOfDay(day).addingTimeInterval(Double(hour * 3600 + minute * 60))
    }

    func fmtYuan(_ fen: Int64) -> String { fen % 100 == 0 ? "\(fen / 100)元" : String(format: "%.2f元", Double(fen) / 100) }

    // MARK: general procedure

    mutating func generalCase(index: Int, at day: Date) -> CasePlan {
        caseNumber += 1
        let agency = rules.agencies[rules.town.agencyId]!
        let year = ChinaTime.day(of: day).year
        let caseId = "\(rules.town.agencyId)-\(year)-G\(String(format: "%05d", caseNumber))-\(idSuffix)"
        var major = rng.chance(settings.majorShare)
        let confidential = rng.chance(settings.confidentialShare)
        let officers = investigators()
        let refs = officers.map { OfficerRef(officerId: $0.officerId, credentialNumber: $0.credentialNumber) }
        var matterCodes = agency.matters.filter { rules.matters[$0]?.fine != nil }
        if major && rng.chance(0.2) { matterCodes = agency.majorMatters.isEmpty ? matterCodes : agency.majorMatters }
        let matter = rules.matters[pick(matterCodes)]!
        let minor = rng.chance(settings.minorShare)
        let organisation = !minor && (matter.fine?.isPercentage == true || rng.chance(0.5))
        let party = organisation ? PartyFactory.organisation(&rng, place: place()) : PartyFactory.person(&rng, place: place(), atDecision: day, minor: minor)
        let opened = at(day, days: 0, hour: 9, minute: between(0, 50))
        let sys = rules.town.caseSystemDevice
        var specs: [Spec] = []
        var info = SimulatedCase(caseId: caseId, procedure: .general, major: false, revoked: false, avGap: false, avMissing: false, minor: minor,
                                 confidential: confidential, warningOnly: false, events: [])

        let caseOpened = CaseOpened(
            caseId: caseId, caseNumber: "\(agency.documentPrefix)立〔\(year)〕\(caseNumber)号", agencyId: agency.agencyId, matterCode: matter.code,
            category: matter.category, procedure: .general, party: party, officers: refs,
            violationStartedAt: Instant(opened.addingTimeInterval(-Double(between(3, 60)) * 86_400)),
            violationEndedAt: Instant(opened.addingTimeInterval(-Double(between(0, 2)) * 86_400)), openedAt: Instant(opened),
            summary: matter.name, confidentiality: confidential ? .privacy : nil)
        let enc = encoder
        specs.append(.data(type: .caseOpened, time: opened, deviceId: sys) { Array(try enc.encode(caseOpened)) })

        // Inspection, recorded.
        var documents: [DocumentRef] = []
        var segmentIds: [Int] = []
        func act(_ type: ActionType, dayOffset: Int, hour: Int, minutes: Int, docType: String, coercive: Bool, record: Bool) -> (ActionRecorded, Date) {
            let s = at(day, days: dayOffset, hour: hour, minute: between(0, 30))
            let e = s.addingTimeInterval(Double(minutes * 60))
            let doc = DocumentRef(docType: docType, docNumber: "\(docType.prefix(2))-\(year)-\(caseNumber)-\(dayOffset)", sha256: rng.sha256Hex(), uri: nil)
            documents.append(doc)
            let refusal = coercive && rng.chance(0.4)
            let a = ActionRecorded(
                caseId: caseId, actionId: "ACT-\(caseNumber)-\(dayOffset)-\(type.rawValue.prefix(4))", actionType: type,
                startedAt: Instant(s), endedAt: Instant(e), place: place(), officers: refs, credentialsShown: true,
                priorApprovalRef: coercive ? "SP-\(year)-\(between(1000, 9999))" : nil, emergencyReportedAt: nil,
                partySignature: refusal ? .refused : .signed, witness: refusal ? "村委会工作人员" : nil, documents: [doc], notes: nil)
            return (a, e)
        }
        let (inspection, inspectionEnd) = act(.inspection, dayOffset: 0, hour: 10, minutes: between(25, 50), docType: "现场检查笔录", coercive: false, record: true)
        let inspectionDevice = pda()
        specs.append(.data(type: .actionRecorded, time: inspectionEnd, deviceId: inspectionDevice, encode: { Array(try enc.encode(inspection)) }))
        let key0 = index * 100
        segmentIds.append(key0)
        let segs0 = [SegmentPlan(caseIndex: index, actionId: inspection.actionId, officerId: officers[0].officerId,
                                 startedAt: inspection.startedAt.date.addingTimeInterval(-30), endedAt: inspection.endedAt.date.addingTimeInterval(10), gapReason: nil, key: key0)]
        specs += segs0.map { .segment($0) }

        let (inquiry, inquiryEnd) = act(.inquiry, dayOffset: 1, hour: 14, minutes: between(40, 70), docType: "询问笔录", coercive: false, record: false)
        specs.append(.data(type: .actionRecorded, time: inquiryEnd, deviceId: pda(), encode: { Array(try enc.encode(inquiry)) }))

        if rng.chance(settings.coerciveShare) {
            let type: ActionType = rng.chance(0.5) ? .sealing : .seizure
            let (coerciveAct, coerciveEnd) = act(type, dayOffset: 2, hour: 14, minutes: between(60, 100), docType: type == .sealing ? "查封决定书" : "扣押决定书", coercive: true, record: true)
            specs.append(.data(type: .actionRecorded, time: coerciveEnd, deviceId: pda(), encode: { Array(try enc.encode(coerciveAct)) }))
            if rng.chance(settings.avMissingShare) {
                info.avMissing = true
            } else {
                let s = coerciveAct.startedAt.date.addingTimeInterval(-60)
                let e = coerciveAct.endedAt.date.addingTimeInterval(30)
                let mid = s.addingTimeInterval(e.timeIntervalSince(s) / 2)
                let gap = rng.chance(settings.avGapShare)
                info.avGap = gap
                let firstEnd = mid
                let secondStart = gap ? mid.addingTimeInterval(600) : mid.addingTimeInterval(90)
                let reason: String? = gap ? nil : "电池更换，恢复录制时已口头说明"
                specs.append(.segment(SegmentPlan(caseIndex: index, actionId: coerciveAct.actionId, officerId: officers[0].officerId, startedAt: s, endedAt: firstEnd, gapReason: nil, key: key0 + 1)))
                specs.append(.segment(SegmentPlan(caseIndex: index, actionId: coerciveAct.actionId, officerId: officers[0].officerId, startedAt: secondStart, endedAt: e, gapReason: reason, key: key0 + 2)))
                segmentIds += [key0 + 1, key0 + 2]
            }
        }

        // Penalty: inside the ordinary band (heavier for some major cases).
        var penalties: [Penalty] = []
        var level: DiscretionLevel = minor ? .mitigated : .ordinary
        if let fine = matter.fine {
            let band = matter.bands?[level.rawValue] ?? fine
            if band.isPercentage {
                var base = Int64(between(20, 300)) * 1_000_000  // 工程造价 200k–3M yuan
                let pct = Double(between(Int((band.minPercent ?? 5) * 10), Int((band.maxPercent ?? 10) * 10))) / 10
                if major {
                    // A 工程造价 large enough that the fine, still inside the band, is above the
                    // 较大数额 threshold (100,000 yuan) by a fifth.
                    let needed = Int64((12_000_000 * 100 / pct).rounded(.up))
                    base = max(base, (needed + 999_999) / 1_000_000 * 1_000_000)
                }
                let amount = Int64(Double(base) * pct / 100) / 100 * 100
                penalties.append(Penalty(kind: .fine, amountFen: amount, baseAmountFen: base))
            } else {
                var lo = band.minFen ?? 0
                let hi = band.maxFen ?? lo
                if major {
                    // Major: a fine at or above 较大数额 (10,000 yuan person / 100,000 yuan organisation), where the statute allows.
                    let threshold: Int64 = organisation ? 10_000_000 : 1_000_000
                    if let statMax = fine.maxFen, statMax >= threshold {
                        lo = max(threshold, matter.bands?["heavier"]?.minFen ?? threshold)
                        level = .heavier
                    } else {
                        major = agency.majorMatters.contains(matter.code)
                    }
                }
                let top = major && level == .heavier ? (fine.maxFen ?? hi) : hi
                let amount = (lo + Int64(rng.next() % UInt64(max(1, top - lo + 1)))) / 100 * 100
                penalties.append(Penalty(kind: .fine, amountFen: max(lo, amount)))
            }
        } else {
            penalties.append(Penalty(kind: .restrictActivities, description: "限期自行拆除违法建筑"))
        }
        if matter.code.hasPrefix("URBAN") { penalties.append(Penalty(kind: .restrictActivities, description: "限期三十日内自行拆除违法建筑")) }
        if agency.majorMatters.contains(matter.code) { major = true }
        let fineFen = penalties.first { $0.kind == .fine }?.amountFen ?? 0
        let hearingEligible = fineFen >= (organisation ? 10_000_000 : 1_000_000)

        let notice = at(day, days: between(10, 14), hour: 10)
        let priorNotice = NoticeServed(caseId: caseId, noticeId: "NT-\(caseNumber)-1", noticeType: .priorPenaltyNotice, servedAt: Instant(notice), method: "inPerson",
                                       proposedPenalties: penalties, decisionId: nil, statementOrDefenceReceived: rng.chance(0.3))
        specs.append(.data(type: .noticeServed, time: notice, deviceId: sys, encode: { Array(try enc.encode(priorNotice)) }))
        var draftDay = notice.addingTimeInterval(Double(between(8, 10)) * 86_400)
        if hearingEligible && (major || rng.chance(0.5)) {
            major = true
            let requested = notice.addingTimeInterval(Double(between(1, 2)) * 86_400 + 3_600)
            let noticeServed = requested.addingTimeInterval(2 * 86_400)
            let held = noticeServed.addingTimeInterval(Double(between(8, 12)) * 86_400)
            let legal = rules.officers.values.filter { $0.role == "legal" && $0.agencyId == agency.agencyId }.sorted { $0.officerId < $1.officerId }
            let hearing = HearingRecorded(caseId: caseId, hearingId: "HR-\(caseNumber)", requestedAt: Instant(requested), noticeServedAt: Instant(noticeServed),
                                          heldAt: Instant(held), hostOfficerId: legal.isEmpty ? nil : pick(legal).officerId, withdrawn: nil)
            specs.append(.data(type: .hearingRecorded, time: held.addingTimeInterval(7_200), deviceId: sys, encode: { Array(try enc.encode(hearing)) }))
            draftDay = held.addingTimeInterval(Double(between(3, 5)) * 86_400)
        }
        // A fine at or above 较大数额 makes the decision major with or without a hearing (DOMAIN.md
        // §1): it then carries a collective discussion and waits for legal review like any other.
        if hearingEligible { major = true }
        info.major = major
        let facts = FactsFactory.facts(&rng, matter: matter, party: party, mentionPersonalData: rng.chance(settings.personalDataInFactsShare))
        let decisionId = "DEC-\(caseNumber)-\(idSuffix)"
        let drafted = DecisionDrafted(
            caseId: caseId, decisionId: decisionId, draftedAt: Instant(draftDay), decisionKind: .penalty, penalties: penalties,
            legalBasis: [LegalBasis(law: matter.law, article: matter.violated, role: .violated), LegalBasis(law: matter.law, article: matter.penaltyBasis, role: .penaltyBasis)],
            facts: facts, evidence: documents, discretion: Discretion(level: level, reasons: level == .mitigated ? "当事人系未成年人，依法从轻处罚" : "综合违法情节，按裁量基准处罚"),
            legalRelationCount: 1, suspectedCrime: false, collectiveDiscussionRef: major ? "JT-\(year)-\(between(10, 99))" : nil, extensionApprovalRef: nil,
            avEvidenceSegmentIds: nil)
        specs.append(.data(type: .decisionDrafted, time: draftDay, deviceId: sys, encode: { Array(try enc.encode(drafted)) }))
        let issuedAt = at(draftDay, days: between(3, 5), hour: 10)
        let docNo = documentNumber(prefix: agency.documentPrefix, kind: "罚", year: ChinaTime.day(of: issuedAt).year)
        let issued = DecisionIssued(caseId: caseId, decisionId: decisionId, documentNumber: docNo, issuedAt: Instant(issuedAt), penalties: penalties,
                                    legalBasis: [LegalBasis(law: matter.law, article: matter.penaltyBasis, role: .penaltyBasis)], facts: facts,
                                    reviewOpinionRef: major ? "REV-\(decisionId)" : nil, documentSha256: rng.sha256Hex())
        specs.append(.data(type: .decisionIssued, time: issuedAt, deviceId: sys, encode: { Array(try enc.encode(issued)) }))
        let served = issuedAt.addingTimeInterval(5 * 3_600)
        let service = NoticeServed(caseId: caseId, noticeId: "NT-\(caseNumber)-2", noticeType: .decisionService, servedAt: Instant(served), method: "inPerson",
                                   proposedPenalties: nil, decisionId: decisionId, statementOrDefenceReceived: nil)
        specs.append(.data(type: .noticeServed, time: served, deviceId: sys, encode: { Array(try enc.encode(service)) }))
        if rng.chance(settings.revokedShare) {
            info.revoked = true
            let at = issuedAt.addingTimeInterval(Double(between(15, 40)) * 86_400)
            let revoked = DecisionRevoked(caseId: caseId, decisionId: decisionId, change: rng.chance(0.7) ? .revoked : .confirmedIllegal, at: Instant(at),
                                          reason: "经行政复议，认定事实不清、证据不足，予以撤销", replacementDecisionId: nil)
            specs.append(.data(type: .decisionRevoked, time: at, deviceId: sys, encode: { Array(try enc.encode(revoked)) }))
        } else {
            let closedAt = issuedAt.addingTimeInterval(Double(between(20, 50)) * 86_400)
            let closed = CaseClosed(caseId: caseId, closedAt: Instant(closedAt), outcome: .executed)
            specs.append(.data(type: .caseClosed, time: closedAt, deviceId: sys, encode: { Array(try enc.encode(closed)) }))
        }
        return CasePlan(info: info, specs: specs)
    }

    // MARK: simple procedure (当场处罚)

    /// An on-the-spot case on `day`, at an hour of the working day or, given, `opening`.
    mutating func simpleCase(index: Int, at day: Date, opening: Date? = nil) -> CasePlan {
        caseNumber += 1
        let agency = rules.agencies[rules.town.agencyId]!
        let year = ChinaTime.day(of: day).year
        let caseId = "\(rules.town.agencyId)-\(year)-S\(String(format: "%05d", caseNumber))-\(idSuffix)"
        let officers = investigators()
        let refs = officers.map { OfficerRef(officerId: $0.officerId, credentialNumber: $0.credentialNumber) }
        let candidates = agency.matters.compactMap { rules.matters[$0] }.filter { ($0.fine?.minFen ?? .max) <= 20_000 && !($0.fine?.isPercentage ?? true) }
        let matter = pick(candidates)
        let warningOnly = matter.allowedPenalties.contains(.warning) && rng.chance(settings.warningOnlyShare)
        let spot = place()
        let party = PartyFactory.person(&rng, place: place(), atDecision: day, minor: false)
        let device = pda()
        let t0 = opening ?? at(day, days: 0, hour: between(8, 17), minute: between(0, 50))
        let enc = encoder
        var specs: [Spec] = []
        let opened = CaseOpened(caseId: caseId, caseNumber: nil, agencyId: agency.agencyId, matterCode: matter.code, category: .penalty, procedure: .simple,
                                party: party, officers: refs, violationStartedAt: Instant(t0.addingTimeInterval(-900)), violationEndedAt: Instant(t0.addingTimeInterval(-60)),
                                openedAt: Instant(t0), summary: matter.name, confidentiality: nil)
        specs.append(.data(type: .caseOpened, time: t0, deviceId: device, encode: { Array(try enc.encode(opened)) }))
        let docNo = documentNumber(prefix: agency.documentPrefix, kind: "简罚", year: year)
        let actStart = t0.addingTimeInterval(60)
        let actEnd = actStart.addingTimeInterval(Double(between(6, 12)) * 60)
        let onSite = ActionRecorded(caseId: caseId, actionId: "ACT-S-\(caseNumber)", actionType: .onSiteDecision, startedAt: Instant(actStart), endedAt: Instant(actEnd),
                                    place: spot, officers: refs, credentialsShown: true, priorApprovalRef: nil, emergencyReportedAt: nil, partySignature: .signed,
                                    witness: nil, documents: [DocumentRef(docType: "当场行政处罚决定书", docNumber: docNo, sha256: rng.sha256Hex(), uri: nil),
                                                              DocumentRef(docType: "现场照片", docNumber: nil, sha256: rng.sha256Hex(), uri: nil)], notes: nil)
        specs.append(.data(type: .actionRecorded, time: actEnd, deviceId: device, encode: { Array(try enc.encode(onSite)) }))
        specs.append(.segment(SegmentPlan(caseIndex: index, actionId: onSite.actionId, officerId: officers[1].officerId, startedAt: actStart.addingTimeInterval(-20),
                                          endedAt: actEnd.addingTimeInterval(20), gapReason: nil, key: index * 100)))
        let amount = Int64(between(Int((matter.fine?.minFen ?? 5_000) / 100), min(200, Int((matter.fine?.maxFen ?? 20_000) / 100)))) * 100
        let penalties = warningOnly ? [Penalty(kind: .warning)] : [Penalty(kind: .fine, amountFen: amount)]
        let facts = FactsFactory.facts(&rng, matter: matter, party: party, mentionPersonalData: rng.chance(settings.personalDataInFactsShare))
        let issuedAt = actEnd.addingTimeInterval(-60)
        let issued = DecisionIssued(caseId: caseId, decisionId: "DEC-S-\(caseNumber)-\(idSuffix)", documentNumber: docNo, issuedAt: Instant(issuedAt),
                                    penalties: penalties, legalBasis: [LegalBasis(law: matter.law, article: matter.penaltyBasis, role: .penaltyBasis)],
                                    facts: facts, reviewOpinionRef: nil, documentSha256: nil)
        specs.append(.data(type: .decisionIssued, time: issuedAt, deviceId: device, encode: { Array(try enc.encode(issued)) }))
        // The PDA sends the decision made during the act once the act's record is closed and sent
        // (as the contract's simple example does), so the review sees the act with it.
        let decisionSpec = specs.count - 1
        let closedAt = actEnd.addingTimeInterval(3_600)
        let closed = CaseClosed(caseId: caseId, closedAt: Instant(closedAt), outcome: .executed)
        specs.append(.data(type: .caseClosed, time: closedAt, deviceId: rules.town.caseSystemDevice, encode: { Array(try enc.encode(closed)) }))
        let info = SimulatedCase(caseId: caseId, procedure: .simple, major: false, revoked: false, avGap: false, avMissing: false, minor: false,
                                 confidential: false, warningOnly: warningOnly, events: [])
        return CasePlan(info: info, specs: specs, sentAt: [decisionSpec: actEnd.addingTimeInterval(1)])
    }
}
