import Foundation
import ZhifaDomain

/// The demo's major decisions, held at their draft until a reviewer gives an opinion — what an
/// agency's case system does (重大执法决定法制审核: no major decision is issued before an approving
/// legal review opinion).
///
/// - An approval releases the decision and what follows it (its service, …), moved in time so the
///   decision is issued when the approval arrives; its `reviewOpinionRef` names the opinion.
///   What is then dated later waits until its time (within `horizon`; later events are dropped,
///   as the demo drops every event dated in the future).
/// - A return (存在问题) sends the draft again, dated now under a new event id: its next version,
///   which the review queues as a new task linked to the returned one.
///
/// Pure: the caller sends what it returns. Codable, so a restarted demo still holds what its
/// reviewers' queue holds (`demo-held.json` in the data directory).
public struct HeldDecisions: Sendable, Codable {
    /// One held decision: its draft, and its case's events from `decision.issued` on.
    struct Held: Sendable, Codable {
        var draft: SimulatedEvent
        var tail: [SimulatedEvent]
        var issuedAt: Date
        var redrafts = 0
    }

    private var held: [String: Held] = [:]
    /// Decision ids in the order they were held (the oldest are dropped past `capacity`).
    private var order: [String] = []
    /// Released events dated after their release, in time order.
    private var scheduled: [SimulatedEvent] = []
    /// Released events dated later than this after their release are dropped.
    public var horizon: TimeInterval = 86_400
    /// At most this many decisions are held (a demo left running for days forgets the oldest; the
    /// file that keeps them for a restart stays a few megabytes).
    public var capacity = 2_000

    /// What a restarted demo goes on from (the limits are settings, not state).
    enum CodingKeys: String, CodingKey { case held, order, scheduled }

    public init() {}

    /// Decisions held now.
    public var count: Int { held.count }

    /// Whether `decisionId` is held.
    public func isHeld(_ decisionId: String) -> Bool { held[decisionId] != nil }

    /// When the next released event waiting for its time is due, if any.
    public var nextDue: Date? { scheduled.first?.time }

    /// Holds `full`'s major decision: returns the case as sent now — its events dated by `now`,
    /// up to the decision's draft. A case without a draft and an issued decision is returned as
    /// known at `now`, and nothing is held.
    public mutating func hold(_ full: SimulatedCase, now: Date) -> SimulatedCase {
        var known = full.known(at: now)
        guard let issuedIndex = full.events.firstIndex(where: { $0.event.type == EventType.decisionIssued.rawValue }),
              let draft = full.events[..<issuedIndex].last(where: { $0.event.type == EventType.decisionDrafted.rawValue }),
              let decisionId = Self.decisionId(of: full.events[issuedIndex]) else { return known }
        if let cut = known.events.firstIndex(where: { $0.event.type == EventType.decisionIssued.rawValue }) {
            known.events.removeSubrange(cut...)
        }
        // Not held when its draft is not sent yet (it is dated after now).
        guard known.events.contains(where: { $0.event.id == draft.event.id }) else { return known }
        held[decisionId] = Held(draft: draft, tail: Array(full.events[issuedIndex...]), issuedAt: full.events[issuedIndex].time)
        order.append(decisionId)
        trim()
        return known
    }

    /// Takes over the decisions `other` holds (a round's, into the run's).
    public mutating func merge(_ other: HeldDecisions) {
        for id in other.order {
            guard let h = other.held[id] else { continue }
            if held[id] == nil { order.append(id) }
            held[id] = h
        }
        trim()
    }

    /// Forgets the oldest decisions past `capacity`.
    private mutating func trim() {
        guard order.count > capacity else { return }
        for old in order.prefix(order.count - capacity) { held[old] = nil }
        order.removeFirst(order.count - capacity)
    }

    /// A reviewer's opinion on a decision: the events to send now (none if the decision is not
    /// held here).
    public mutating func opinion(_ o: ReviewOpinionEvent, now: Date) throws -> [SimulatedEvent] {
        guard var h = held[o.decisionId] else { return [] }
        switch o.opinion {
        case .approve:
            held[o.decisionId] = nil
            order.removeAll { $0 == o.decisionId }
            // Issued when the approval arrives: in its second, so it is sent now (never dated
            // after now, and never before the planned time).
            let shift = max(0, now.timeIntervalSince(h.issuedAt).rounded(.down))
            let released = try h.tail.map { event in
                try event.moved(by: shift, setting: event.event.type == EventType.decisionIssued.rawValue ? ("reviewOpinionRef", .string(o.opinionId)) : nil)
            }
            let sendNow = released.filter { $0.time <= now }
            let later = released.filter { $0.time > now && $0.time <= now.addingTimeInterval(horizon) }
            scheduled = (scheduled + later).sorted { $0.time < $1.time }
            return sendNow
        case .return:
            // The next version of the draft, dated now.
            h.redrafts += 1
            let shift = max(0, now.timeIntervalSince(h.draft.time).rounded(.down))
            var next = try h.draft.moved(by: shift)
            next.event.id = "\(h.draft.event.id)-v\(h.redrafts + 1)"
            h.draft = next
            held[o.decisionId] = h
            return [next]
        }
    }

    /// Released events whose time has come, in time order.
    public mutating func due(at now: Date) -> [SimulatedEvent] {
        let n = scheduled.prefix { $0.time <= now }.count
        defer { scheduled.removeFirst(n) }
        return Array(scheduled.prefix(n))
    }

    static func decisionId(of event: SimulatedEvent) -> String? {
        guard let data = try? JSONParser.parse(event.event.data) else { return nil }
        return data["decisionId"]?.stringValue
    }
}

extension SimulatedEvent {
    /// The same event `seconds` later: its `time` and every date-time in its data move together
    /// (calendar dates, such as a birth date, stay); with `setting`, that data member is set too.
    public func moved(by seconds: TimeInterval, setting member: (key: String, value: JSONValue)? = nil) throws -> SimulatedEvent {
        guard seconds != 0 || member != nil else { return self }
        var copy = self
        copy.time = time.addingTimeInterval(seconds)
        copy.event.time = ChinaTime.format(copy.time)
        var data = Self.moving(try JSONParser.parse(event.data), by: seconds)
        if let member, case .object(var o) = data {
            o.members.removeAll { $0.key == member.key }
            o.members.append(member)
            data = .object(o)
        }
        copy.event.data = data.jsonBytes
        return copy
    }

    static func moving(_ v: JSONValue, by seconds: TimeInterval) -> JSONValue {
        switch v {
        case .string(let s):
            guard let t = RFC3339Time.parse(s) else { return v }
            return .string(ChinaTime.format(t.date.addingTimeInterval(seconds)))
        case .array(let a): return .array(a.map { moving($0, by: seconds) })
        case .object(let o): return .object(JSONObject(o.members.map { ($0.key, moving($0.value, by: seconds)) }))
        default: return v
        }
    }
}
