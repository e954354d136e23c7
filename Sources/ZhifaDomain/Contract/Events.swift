import Foundation

/// An RFC 3339 instant as written by the sender, with its parsed value.
public struct Instant: Codable, Sendable, Hashable, Comparable, CustomStringConvertible {
    /// The text as sent.
    public var text: String
    /// The instant.
    public var date: Date
    /// The offset it was written with, in seconds.
    public var offsetSeconds: Int

    /// Parses RFC 3339 text.
    public init?(_ text: String) {
        guard let p = RFC3339Time.parse(text) else { return nil }
        self.text = text
        date = p.date
        offsetSeconds = p.offsetSeconds
    }

    /// An instant from a date, written in China Standard Time.
    public init(_ date: Date) {
        let cst = ChinaTime.format(date)
        self.text = cst
        self.date = date
        offsetSeconds = 8 * 3600
    }

    public init(from decoder: any Decoder) throws {
        let s = try decoder.singleValueContainer().decode(String.self)
        guard let v = Instant(s) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "not an RFC 3339 date-time"))
        }
        self = v
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(text)
    }

    public static func < (a: Instant, b: Instant) -> Bool { a.date < b.date }
    public static func == (a: Instant, b: Instant) -> Bool { a.date == b.date }
    public func hash(into hasher: inout Hasher) { hasher.combine(date) }
    public var description: String { text }
}

extension Int64 {
    /// Division rounding towards negative infinity, with a non-negative remainder.
    func quotientAndRemainderFloor(_ d: Int64) -> (quotient: Int64, remainder: Int64) {
        let (q, r) = quotientAndRemainder(dividingBy: d)
        return r < 0 ? (q - 1, r + d) : (q, r)
    }
}

/// China Standard Time (UTC+8, no daylight saving): every date and working day is computed in it.
public enum ChinaTime {
    /// Seconds east of UTC.
    public static let offset = 8 * 3600

    /// The calendar day (in CST) of an instant.
    public static func day(of date: Date) -> CalendarDay {
        let days = Int(floor((date.timeIntervalSince1970 + Double(offset)) / 86_400))
        let (y, m, d) = RFC3339Time.civilFromDays(days)
        return CalendarDay(year: y, month: m, day: d)
    }

    /// `2024-05-06T09:00:00+08:00`.
    public static func format(_ date: Date) -> String {
        let total = Int(floor(date.timeIntervalSince1970)) + offset
        let days = Int(floor(Double(total) / 86_400))
        let secs = total - days * 86_400
        let (y, m, d) = RFC3339Time.civilFromDays(days)
        var out = ""
        out.reserveCapacity(25)
        padded(y, 4, &out); out += "-"; padded(m, 2, &out); out += "-"; padded(d, 2, &out); out += "T"
        padded(secs / 3600, 2, &out); out += ":"; padded((secs % 3600) / 60, 2, &out); out += ":"; padded(secs % 60, 2, &out)
        out += "+08:00"
        return out
    }

    /// Appends `n` (≥ 0) with leading zeros to `width` digits (String(format:) costs microseconds).
    private static func padded(_ n: Int, _ width: Int, _ out: inout String) {
        let digits = String(n)
        if digits.count < width { out += String(repeating: "0", count: width - digits.count) }
        out += digits
    }

    /// `2024-05-06T09:00:00.123+08:00`: millisecond precision, for change times that must order.
    public static func formatMillis(_ date: Date) -> String {
        let ms = Int64((date.timeIntervalSince1970 * 1000).rounded(.down))
        let whole = Date(timeIntervalSince1970: Double(ms.quotientAndRemainderFloor(1000).quotient))
        let base = format(whole)
        var millis = "."
        padded(Int(ms.quotientAndRemainderFloor(1000).remainder), 3, &millis)
        return String(base.dropLast(6)) + millis + "+08:00"
    }

    /// `format` of the instant rounded to the nearest second.
    public static func formatRounded(_ date: Date) -> String {
        format(Date(timeIntervalSince1970: date.timeIntervalSince1970.rounded()))
    }

    /// Midnight CST at the start of a calendar day.
    public static func startOfDay(_ day: CalendarDay) -> Date {
        Date(timeIntervalSince1970: Double(day.daysSinceEpoch * 86_400 - offset))
    }
}

/// A calendar day (no time zone of its own; Zhifa's days are CST days).
public struct CalendarDay: Codable, Sendable, Hashable, Comparable, CustomStringConvertible {
    public var year: Int
    public var month: Int
    public var day: Int

    /// Creates a day.
    public init(year: Int, month: Int, day: Int) {
        self.year = year
        self.month = month
        self.day = day
    }

    /// Parses `YYYY-MM-DD`.
    public init?(_ text: String) {
        guard let (y, m, d) = RFC3339Time.parseFullDate(text) else { return nil }
        self.init(year: y, month: m, day: d)
    }

    public init(from decoder: any Decoder) throws {
        let s = try decoder.singleValueContainer().decode(String.self)
        guard let d = CalendarDay(s) else { throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "not a date")) }
        self = d
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(description)
    }

    /// Days since 1970-01-01.
    public var daysSinceEpoch: Int { RFC3339Time.daysFromCivil(year: year, month: month, day: day) }

    /// The day `n` days later.
    public func adding(days n: Int) -> CalendarDay {
        let (y, m, d) = RFC3339Time.civilFromDays(daysSinceEpoch + n)
        return CalendarDay(year: y, month: m, day: d)
    }

    /// 1 = Monday … 7 = Sunday.
    public var weekday: Int { ((daysSinceEpoch % 7) + 7 + 3) % 7 + 1 }

    public static func < (a: CalendarDay, b: CalendarDay) -> Bool { a.daysSinceEpoch < b.daysSinceEpoch }
    public var description: String { String(format: "%04d-%02d-%02d", year, month, day) }
}

/// The contract's event types.
public enum EventType: String, Codable, Sendable, CaseIterable {
    case caseOpened = "cn.zhifa.case.opened.v1"
    case actionRecorded = "cn.zhifa.action.recorded.v1"
    case avSegmentRegistered = "cn.zhifa.av.segment.registered.v1"
    case noticeServed = "cn.zhifa.notice.served.v1"
    case hearingRecorded = "cn.zhifa.hearing.recorded.v1"
    case decisionDrafted = "cn.zhifa.decision.drafted.v1"
    case decisionIssued = "cn.zhifa.decision.issued.v1"
    case decisionRevoked = "cn.zhifa.decision.revoked.v1"
    case caseClosed = "cn.zhifa.case.closed.v1"
}

public enum PartyKind: String, Codable, Sendable { case naturalPerson, organisation, individualBusiness }

/// 行政相对人. Personal fields exist only here so that redaction can find them.
public struct Party: Codable, Sendable, Equatable {
    public var kind: PartyKind
    public var name: String
    public var idType: String?
    public var idNumber: String?
    public var creditCode: String?
    public var legalRepresentative: String?
    public var birthDate: CalendarDay?
    public var phone: String?
    public var address: String?
    public var bankAccount: String?

    /// Creates the value field by field.
    public init(kind: PartyKind, name: String, idType: String? = nil, idNumber: String? = nil, creditCode: String? = nil, legalRepresentative: String? = nil, birthDate: CalendarDay? = nil, phone: String? = nil, address: String? = nil, bankAccount: String? = nil) {
        self.kind = kind
        self.name = name
        self.idType = idType
        self.idNumber = idNumber
        self.creditCode = creditCode
        self.legalRepresentative = legalRepresentative
        self.birthDate = birthDate
        self.phone = phone
        self.address = address
        self.bankAccount = bankAccount
    }
}

public struct OfficerRef: Codable, Sendable, Equatable, Hashable {
    public var officerId: String
    public var credentialNumber: String

    /// Creates the value field by field.
    public init(officerId: String, credentialNumber: String) {
        self.officerId = officerId
        self.credentialNumber = credentialNumber
    }
}

public struct Place: Codable, Sendable, Equatable {
    public var address: String
    public var lat: Double?
    public var lon: Double?
    public var adminArea: String?

    /// Creates the value field by field.
    public init(address: String, lat: Double? = nil, lon: Double? = nil, adminArea: String? = nil) {
        self.address = address
        self.lat = lat
        self.lon = lon
        self.adminArea = adminArea
    }
}

public struct DocumentRef: Codable, Sendable, Equatable {
    public var docType: String
    public var docNumber: String?
    public var sha256: String
    public var uri: String?

    /// Creates the value field by field.
    public init(docType: String, docNumber: String? = nil, sha256: String, uri: String? = nil) {
        self.docType = docType
        self.docNumber = docNumber
        self.sha256 = sha256
        self.uri = uri
    }
}

public enum LegalBasisRole: String, Codable, Sendable { case violated, penaltyBasis, procedure }

public struct LegalBasis: Codable, Sendable, Equatable {
    public var law: String
    public var article: String
    public var role: LegalBasisRole?

    /// Creates the value field by field.
    public init(law: String, article: String, role: LegalBasisRole? = nil) {
        self.law = law
        self.article = article
        self.role = role
    }
}

public enum PenaltyKind: String, Codable, Sendable, CaseIterable {
    case warning, circulatedCriticism, fine, confiscateIllegalGains, confiscateProperty, suspendLicence, lowerQualification
    case revokeLicence, restrictActivities, suspendProduction, orderClosure, restrictEmployment, detention
}

public struct Penalty: Codable, Sendable, Equatable {
    public var kind: PenaltyKind
    public var amountFen: Int64?
    public var durationDays: Int?
    public var description: String?
    public var baseAmountFen: Int64?

    public init(kind: PenaltyKind, amountFen: Int64? = nil, durationDays: Int? = nil, description: String? = nil, baseAmountFen: Int64? = nil) {
        self.kind = kind
        self.amountFen = amountFen
        self.durationDays = durationDays
        self.description = description
        self.baseAmountFen = baseAmountFen
    }
}

public enum Category: String, Codable, Sendable { case penalty, licence, coercion, inspection, levy, payment, adjudication, confirmation, other }
public enum Procedure: String, Codable, Sendable { case simple, general }
public enum Confidentiality: String, Codable, Sendable { case none, stateSecret, commercialSecret, privacy }

public struct CaseOpened: Codable, Sendable, Equatable {
    public var caseId: String
    public var caseNumber: String?
    public var agencyId: String
    public var matterCode: String
    public var category: Category
    public var procedure: Procedure
    public var party: Party
    public var officers: [OfficerRef]
    public var violationStartedAt: Instant?
    public var violationEndedAt: Instant?
    public var openedAt: Instant
    public var summary: String?
    public var confidentiality: Confidentiality?

    /// Creates the value field by field.
    public init(caseId: String, caseNumber: String? = nil, agencyId: String, matterCode: String, category: Category, procedure: Procedure, party: Party, officers: [OfficerRef], violationStartedAt: Instant? = nil, violationEndedAt: Instant? = nil, openedAt: Instant, summary: String? = nil, confidentiality: Confidentiality? = nil) {
        self.caseId = caseId
        self.caseNumber = caseNumber
        self.agencyId = agencyId
        self.matterCode = matterCode
        self.category = category
        self.procedure = procedure
        self.party = party
        self.officers = officers
        self.violationStartedAt = violationStartedAt
        self.violationEndedAt = violationEndedAt
        self.openedAt = openedAt
        self.summary = summary
        self.confidentiality = confidentiality
    }
}

public enum ActionType: String, Codable, Sendable, CaseIterable {
    case inspection, inquiry, evidenceCollection, evidencePreservation, seizure, sealing, demolition, restrictionOfLiberty
    case sampling, onSiteDecision, service, execution, other
}

public enum PartySignature: String, Codable, Sendable { case signed, refused, absent }

public struct ActionRecorded: Codable, Sendable, Equatable {
    public var caseId: String
    public var actionId: String
    public var actionType: ActionType
    public var startedAt: Instant
    public var endedAt: Instant
    public var place: Place
    public var officers: [OfficerRef]
    public var credentialsShown: Bool?
    public var priorApprovalRef: String?
    public var emergencyReportedAt: Instant?
    public var partySignature: PartySignature?
    public var witness: String?
    public var documents: [DocumentRef]?
    public var notes: String?

    /// Creates the value field by field.
    public init(caseId: String, actionId: String, actionType: ActionType, startedAt: Instant, endedAt: Instant, place: Place, officers: [OfficerRef], credentialsShown: Bool? = nil, priorApprovalRef: String? = nil, emergencyReportedAt: Instant? = nil, partySignature: PartySignature? = nil, witness: String? = nil, documents: [DocumentRef]? = nil, notes: String? = nil) {
        self.caseId = caseId
        self.actionId = actionId
        self.actionType = actionType
        self.startedAt = startedAt
        self.endedAt = endedAt
        self.place = place
        self.officers = officers
        self.credentialsShown = credentialsShown
        self.priorApprovalRef = priorApprovalRef
        self.emergencyReportedAt = emergencyReportedAt
        self.partySignature = partySignature
        self.witness = witness
        self.documents = documents
        self.notes = notes
    }
}

public struct AVSegmentRegistered: Codable, Sendable, Equatable {
    public var caseId: String
    public var actionId: String?
    public var segmentId: String
    public var deviceId: String
    public var officerId: String
    public var startedAt: Instant
    public var endedAt: Instant
    public var mediaType: String
    public var sizeBytes: Int64
    public var sha256: String
    public var previousSegmentSha256: String?
    public var gapReason: String?
    public var deviceClockOffsetMs: Int64?
    public var storageUri: String?
    public var fileName: String?

    /// Creates the value field by field.
    public init(caseId: String, actionId: String? = nil, segmentId: String, deviceId: String, officerId: String, startedAt: Instant, endedAt: Instant, mediaType: String, sizeBytes: Int64, sha256: String, previousSegmentSha256: String? = nil, gapReason: String? = nil, deviceClockOffsetMs: Int64? = nil, storageUri: String? = nil, fileName: String? = nil) {
        self.caseId = caseId
        self.actionId = actionId
        self.segmentId = segmentId
        self.deviceId = deviceId
        self.officerId = officerId
        self.startedAt = startedAt
        self.endedAt = endedAt
        self.mediaType = mediaType
        self.sizeBytes = sizeBytes
        self.sha256 = sha256
        self.previousSegmentSha256 = previousSegmentSha256
        self.gapReason = gapReason
        self.deviceClockOffsetMs = deviceClockOffsetMs
        self.storageUri = storageUri
        self.fileName = fileName
    }
}

public enum NoticeType: String, Codable, Sendable { case priorPenaltyNotice, hearingRightsNotice, hearingNotice, decisionService, publicationNotice }

public struct NoticeServed: Codable, Sendable, Equatable {
    public var caseId: String
    public var noticeId: String
    public var noticeType: NoticeType
    public var servedAt: Instant
    public var method: String
    public var proposedPenalties: [Penalty]?
    public var decisionId: String?
    public var statementOrDefenceReceived: Bool?

    /// Creates the value field by field.
    public init(caseId: String, noticeId: String, noticeType: NoticeType, servedAt: Instant, method: String, proposedPenalties: [Penalty]? = nil, decisionId: String? = nil, statementOrDefenceReceived: Bool? = nil) {
        self.caseId = caseId
        self.noticeId = noticeId
        self.noticeType = noticeType
        self.servedAt = servedAt
        self.method = method
        self.proposedPenalties = proposedPenalties
        self.decisionId = decisionId
        self.statementOrDefenceReceived = statementOrDefenceReceived
    }
}

public struct HearingRecorded: Codable, Sendable, Equatable {
    public var caseId: String
    public var hearingId: String
    public var requestedAt: Instant
    public var noticeServedAt: Instant?
    public var heldAt: Instant?
    public var hostOfficerId: String?
    public var withdrawn: Bool?

    /// Creates the value field by field.
    public init(caseId: String, hearingId: String, requestedAt: Instant, noticeServedAt: Instant? = nil, heldAt: Instant? = nil, hostOfficerId: String? = nil, withdrawn: Bool? = nil) {
        self.caseId = caseId
        self.hearingId = hearingId
        self.requestedAt = requestedAt
        self.noticeServedAt = noticeServedAt
        self.heldAt = heldAt
        self.hostOfficerId = hostOfficerId
        self.withdrawn = withdrawn
    }
}

public enum DecisionKind: String, Codable, Sendable { case penalty, noPenalty, licenceGranted, licenceRefused, coercion, other }
public enum DiscretionLevel: String, Codable, Sendable { case none, lighter, mitigated, ordinary, heavier }

public struct Discretion: Codable, Sendable, Equatable {
    public var level: DiscretionLevel?
    public var reasons: String?

    /// Creates the value field by field.
    public init(level: DiscretionLevel? = nil, reasons: String? = nil) {
        self.level = level
        self.reasons = reasons
    }
}

public struct DecisionDrafted: Codable, Sendable, Equatable {
    public var caseId: String
    public var decisionId: String
    public var draftedAt: Instant
    public var decisionKind: DecisionKind?
    public var penalties: [Penalty]
    public var legalBasis: [LegalBasis]
    public var facts: String
    public var evidence: [DocumentRef]?
    public var discretion: Discretion?
    public var legalRelationCount: Int?
    public var suspectedCrime: Bool?
    public var collectiveDiscussionRef: String?
    public var extensionApprovalRef: String?
    public var avEvidenceSegmentIds: [String]?

    /// Creates the value field by field.
    public init(caseId: String, decisionId: String, draftedAt: Instant, decisionKind: DecisionKind? = nil, penalties: [Penalty], legalBasis: [LegalBasis], facts: String, evidence: [DocumentRef]? = nil, discretion: Discretion? = nil, legalRelationCount: Int? = nil, suspectedCrime: Bool? = nil, collectiveDiscussionRef: String? = nil, extensionApprovalRef: String? = nil, avEvidenceSegmentIds: [String]? = nil) {
        self.caseId = caseId
        self.decisionId = decisionId
        self.draftedAt = draftedAt
        self.decisionKind = decisionKind
        self.penalties = penalties
        self.legalBasis = legalBasis
        self.facts = facts
        self.evidence = evidence
        self.discretion = discretion
        self.legalRelationCount = legalRelationCount
        self.suspectedCrime = suspectedCrime
        self.collectiveDiscussionRef = collectiveDiscussionRef
        self.extensionApprovalRef = extensionApprovalRef
        self.avEvidenceSegmentIds = avEvidenceSegmentIds
    }
}

public struct DecisionIssued: Codable, Sendable, Equatable {
    public var caseId: String
    public var decisionId: String
    public var documentNumber: String
    public var issuedAt: Instant
    public var penalties: [Penalty]
    public var legalBasis: [LegalBasis]?
    public var facts: String?
    public var reviewOpinionRef: String?
    public var documentSha256: String?

    /// Creates the value field by field.
    public init(caseId: String, decisionId: String, documentNumber: String, issuedAt: Instant, penalties: [Penalty], legalBasis: [LegalBasis]? = nil, facts: String? = nil, reviewOpinionRef: String? = nil, documentSha256: String? = nil) {
        self.caseId = caseId
        self.decisionId = decisionId
        self.documentNumber = documentNumber
        self.issuedAt = issuedAt
        self.penalties = penalties
        self.legalBasis = legalBasis
        self.facts = facts
        self.reviewOpinionRef = reviewOpinionRef
        self.documentSha256 = documentSha256
    }
}

public enum DecisionChange: String, Codable, Sendable { case revoked, changed, confirmedIllegal, confirmedVoid }

public struct DecisionRevoked: Codable, Sendable, Equatable {
    public var caseId: String
    public var decisionId: String
    public var change: DecisionChange
    public var at: Instant
    public var reason: String
    public var replacementDecisionId: String?

    /// Creates the value field by field.
    public init(caseId: String, decisionId: String, change: DecisionChange, at: Instant, reason: String, replacementDecisionId: String? = nil) {
        self.caseId = caseId
        self.decisionId = decisionId
        self.change = change
        self.at = at
        self.reason = reason
        self.replacementDecisionId = replacementDecisionId
    }
}

public enum CaseOutcome: String, Codable, Sendable { case executed, noPenalty, transferredToJudiciary, withdrawn, other }

public struct CaseClosed: Codable, Sendable, Equatable {
    public var caseId: String
    public var closedAt: Instant
    public var outcome: CaseOutcome

    /// Creates the value field by field.
    public init(caseId: String, closedAt: Instant, outcome: CaseOutcome) {
        self.caseId = caseId
        self.closedAt = closedAt
        self.outcome = outcome
    }
}

/// The typed `data` of a contract event.
public enum EventPayload: Sendable, Equatable {
    case caseOpened(CaseOpened)
    case actionRecorded(ActionRecorded)
    case avSegmentRegistered(AVSegmentRegistered)
    case noticeServed(NoticeServed)
    case hearingRecorded(HearingRecorded)
    case decisionDrafted(DecisionDrafted)
    case decisionIssued(DecisionIssued)
    case decisionRevoked(DecisionRevoked)
    case caseClosed(CaseClosed)

    /// The case the event belongs to.
    public var caseId: String {
        switch self {
        case .caseOpened(let e): e.caseId
        case .actionRecorded(let e): e.caseId
        case .avSegmentRegistered(let e): e.caseId
        case .noticeServed(let e): e.caseId
        case .hearingRecorded(let e): e.caseId
        case .decisionDrafted(let e): e.caseId
        case .decisionIssued(let e): e.caseId
        case .decisionRevoked(let e): e.caseId
        case .caseClosed(let e): e.caseId
        }
    }
}

/// A validated contract event: envelope and typed data.
public struct EnforcementEvent: Sendable, Equatable {
    /// `ce_id`.
    public var id: String
    /// `ce_source`.
    public var source: String
    /// `ce_type`.
    public var type: EventType
    /// `ce_time`.
    public var time: Instant
    /// The typed data.
    public var payload: EventPayload

    /// The case the event belongs to.
    public var caseId: String { payload.caseId }

    /// Decodes a CloudEvent that passed the validator.
    public static func decode(_ event: CloudEvent) throws -> EnforcementEvent {
        guard let type = EventType(rawValue: event.type) else { throw CloudEventFormatError(pointer: "/type", detail: "unknown event type") }
        guard let time = Instant(event.time) else { throw CloudEventFormatError(pointer: "/time", detail: "not an RFC 3339 date-time") }
        let d = JSONDecoder()
        let data = Data(event.data)
        let payload: EventPayload
        switch type {
        case .caseOpened: payload = .caseOpened(try d.decode(CaseOpened.self, from: data))
        case .actionRecorded: payload = .actionRecorded(try d.decode(ActionRecorded.self, from: data))
        case .avSegmentRegistered: payload = .avSegmentRegistered(try d.decode(AVSegmentRegistered.self, from: data))
        case .noticeServed: payload = .noticeServed(try d.decode(NoticeServed.self, from: data))
        case .hearingRecorded: payload = .hearingRecorded(try d.decode(HearingRecorded.self, from: data))
        case .decisionDrafted: payload = .decisionDrafted(try d.decode(DecisionDrafted.self, from: data))
        case .decisionIssued: payload = .decisionIssued(try d.decode(DecisionIssued.self, from: data))
        case .decisionRevoked: payload = .decisionRevoked(try d.decode(DecisionRevoked.self, from: data))
        case .caseClosed: payload = .caseClosed(try d.decode(CaseClosed.self, from: data))
        }
        return EnforcementEvent(id: event.id, source: event.source, type: type, time: time, payload: payload)
    }
}
