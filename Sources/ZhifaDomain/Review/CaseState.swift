import Foundation

/// An event's payload with the id of the event that carried it (findings cite these ids).
public struct Cited<T: Sendable & Equatable>: Sendable, Equatable {
    public var eventId: String
    public var value: T
    public init(eventId: String, value: T) {
        self.eventId = eventId
        self.value = value
    }
}

/// Everything known about one case, folded from its events sorted by (event time, id): the same
/// events in any arrival order give the same state.
public struct CaseState: Sendable, Equatable {
    public var caseId: String
    public var opened: Cited<CaseOpened>?
    public var actions: [Cited<ActionRecorded>] = []
    public var segments: [Cited<AVSegmentRegistered>] = []
    public var notices: [Cited<NoticeServed>] = []
    public var hearings: [Cited<HearingRecorded>] = []
    /// Draft versions per decision, oldest first.
    public var drafts: [String: [Cited<DecisionDrafted>]] = [:]
    public var issued: [String: Cited<DecisionIssued>] = [:]
    public var revocations: [Cited<DecisionRevoked>] = []
    public var closed: Cited<CaseClosed>?
    /// Every event id folded in.
    public var eventIds: [String] = []

    public init(caseId: String) { self.caseId = caseId }

    /// Folds events (of this case) in (time, id) order.
    public static func fold(caseId: String, events: [EnforcementEvent]) -> CaseState {
        var s = CaseState(caseId: caseId)
        let ordered = events.sorted { ($0.time.date, $0.id) < ($1.time.date, $1.id) }
        var seen = Set<String>()
        for e in ordered where seen.insert(e.id).inserted {
            s.apply(e)
        }
        return s
    }

    mutating func apply(_ e: EnforcementEvent) {
        eventIds.append(e.id)
        switch e.payload {
        case .caseOpened(let p): opened = Cited(eventId: e.id, value: p)
        case .actionRecorded(let p):
            actions.removeAll { $0.value.actionId == p.actionId }
            actions.append(Cited(eventId: e.id, value: p))
        case .avSegmentRegistered(let p):
            segments.removeAll { $0.value.segmentId == p.segmentId }
            segments.append(Cited(eventId: e.id, value: p))
        case .noticeServed(let p): notices.append(Cited(eventId: e.id, value: p))
        case .hearingRecorded(let p):
            hearings.removeAll { $0.value.hearingId == p.hearingId }
            hearings.append(Cited(eventId: e.id, value: p))
        case .decisionDrafted(let p): drafts[p.decisionId, default: []].append(Cited(eventId: e.id, value: p))
        case .decisionIssued(let p): issued[p.decisionId] = Cited(eventId: e.id, value: p)
        case .decisionRevoked(let p): revocations.append(Cited(eventId: e.id, value: p))
        case .caseClosed(let p): closed = Cited(eventId: e.id, value: p)
        }
    }

    /// Officers who investigated: those of the opening and of every act.
    public var investigators: Set<String> {
        var out = Set(opened?.value.officers.map(\.officerId) ?? [])
        for a in actions { out.formUnion(a.value.officers.map(\.officerId)) }
        return out
    }

    /// The latest draft of a decision.
    public func latestDraft(_ decisionId: String) -> Cited<DecisionDrafted>? { drafts[decisionId]?.last }

    /// Every decision id drafted or issued in this case.
    public var decisionIds: [String] { Array(Set(drafts.keys).union(issued.keys)).sorted() }
}
