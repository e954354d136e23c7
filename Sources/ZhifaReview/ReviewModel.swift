import Foundation
import ZhifaDomain
import ZhifaKafka

/// A legal reviewer (config/reviewers.yaml).
public struct Reviewer: Codable, Sendable {
    public var reviewerId: String
    public var agencyId: String
    public var name: String
    /// Holds 法律职业资格 (required to review, Art. 58).
    public var qualified: Bool
    /// The same person's officer id, for recusal.
    public var officerId: String?
}

/// The reviewer registry.
public struct ReviewerRegistry: Sendable {
    public var reviewers: [String: Reviewer]

    public init(_ list: [Reviewer]) { reviewers = Dictionary(list.map { ($0.reviewerId, $0) }, uniquingKeysWith: { a, _ in a }) }
}

/// A review task in an agency's queue.
public struct ReviewTask: Codable, Sendable, Equatable {
    public var taskId: String
    public var caseId: String
    public var decisionId: String
    public var agencyId: String
    public var state: ReviewTaskState
    public var draftEventId: String
    public var createdAt: Date
    public var dueDate: CalendarDay
    public var dueProvisional: Bool
    public var claimedBy: String?
    public var leaseUntil: Date?
    public var previousTaskId: String?
    public var investigators: [String]
    public var opinionId: String?

    /// Claimed with a lease that has run out: back in the queue.
    public func leaseExpired(at now: Date) -> Bool { state == .claimed && (leaseUntil ?? .distantPast) < now }

    /// The state as the queue sees it now (an expired claim is open again).
    public func effectiveState(at now: Date) -> ReviewTaskState { leaseExpired(at: now) ? .open : state }

    /// Past the end of its due day (CST) and not decided.
    public func overdue(at now: Date) -> Bool {
        let s = effectiveState(at: now)
        return (s == .open || s == .claimed) && now >= ChinaTime.startOfDay(dueDate.adding(days: 1))
    }
}

/// A recorded opinion.
public struct ReviewOpinion: Codable, Sendable, Equatable {
    public var opinionId: String
    public var taskId: String
    public var caseId: String
    public var decisionId: String
    public var reviewerId: String
    public var opinion: ReviewOpinionKind
    public var reasons: String?
    public var at: Date
}

/// What the service remembers per decision between events.
public struct DecisionRecord: Codable, Sendable, Equatable {
    public var caseId: String
    public var decisionId: String
    public var agencyId: String
    public var major: Bool
    public var findingsHash: String
    public var cleared: Bool
    public var violation: Bool

    /// Whether its last findings failed a check (`ReviewProcessor.hash` marks those "F-").
    public var failsACheck: Bool { findingsHash.hasPrefix("F-") }
}

/// A Kafka record as stored (for replays and the publish outbox).
public struct StoredRecord: Codable, Sendable {
    public var topic: String
    public var key: String?
    public var value: [UInt8]
    public var headers: [[String]]

    public init(_ r: KafkaRecord) {
        topic = r.topic
        key = r.key.map { String(decoding: $0, as: UTF8.self) }
        value = r.value ?? []
        headers = r.headers.map { [$0.name, $0.text ?? ""] }
    }

    public var record: KafkaRecord {
        KafkaRecord(topic: topic, key: key, value: value, headers: headers.map { KafkaHeader($0[0], $0.count > 1 ? $0[1] : "") })
    }
}

/// One processed event's effects, committed atomically.
public struct ProcessingStep: Sendable {
    public var eventId: String
    public var caseId: String
    public var type: String
    public var time: Date
    /// The event's CloudEvent JSON (structured mode), to rebuild the case state.
    public var structured: [UInt8]
    public var segment: AVSegmentRegistered?
    public var decisions: [DecisionRecord]
    public var newTasks: [ReviewTask]
    public var updatedTasks: [ReviewTask]
    public var investigators: [String]
    public var outputs: [KafkaRecord]
}

/// A case as stored, read in one transaction before one of its events is handled.
public struct CaseSnapshot: Sendable {
    /// The event's recorded outputs, when it was processed already.
    public var outputs: [KafkaRecord]? = nil
    /// The case's stored events (structured mode), when asked for.
    public var events: [[UInt8]]? = nil
    public var decisions: [String: DecisionRecord] = [:]
    /// Tasks per decision id, oldest first.
    public var tasks: [String: [ReviewTask]] = [:]
    /// Decision ids with an approving opinion.
    public var approved: Set<String> = []

    public init() {}
}
