import Foundation
import Logging
import Metrics
import Synchronization
import ZhifaDomain
import ZhifaKafka
import ZhifaRuntime

/// The working-day calendar in use; replaced when the calendar folder gains a year.
public final class CalendarHolder: Sendable {
    private let state: Mutex<WorkingDayCalendar>

    public init(_ calendar: WorkingDayCalendar) { state = Mutex(calendar) }

    /// The current calendar.
    public var calendar: WorkingDayCalendar { state.withLock { $0 } }

    /// Replaces the calendar; returns the years it adds.
    @discardableResult
    public func replace(with new: WorkingDayCalendar) -> [Int] {
        state.withLock { old in
            let added = new.years.filter { !old.knows(year: $0) }
            old = new
            return added
        }
    }
}

/// Turns messages of `zhifa.events.v1` and `zhifa.review.v1` into publicity facts and applies them.
///
/// Contract events are validated (an invalid one is dead-lettered with the reason); review events
/// other than classifications and approving opinions are not needed here and are passed over.
/// Idempotent on `ce_id`: the store remembers every applied event id.
public struct PublicityProcessor: Sendable {
    let store: any PublicityStore
    let book: RulesBook
    let calendar: CalendarHolder
    let rules: PublicityRules
    let eventsTopic: String
    let outputTopic: String
    let contract: ContractMessages
    let changes: ChangeHub
    let published: WakeSignal
    let logger: Logger
    let now: @Sendable () -> Date
    let changeCounters: [FeedChange.Kind: Counter]

    public init(store: any PublicityStore, book: RulesBook, calendar: CalendarHolder, rules: PublicityRules, eventsTopic: String, outputTopic: String,
                group: String, changes: ChangeHub, published: WakeSignal, metricsFactory: any MetricsFactory, logger: Logger,
                now: @escaping @Sendable () -> Date = Date.init) {
        self.store = store
        self.book = book
        self.calendar = calendar
        self.rules = rules
        self.eventsTopic = eventsTopic
        self.outputTopic = outputTopic
        self.contract = ContractMessages(group: group, factory: metricsFactory)
        self.changes = changes
        self.published = published
        self.logger = logger
        self.now = now
        var counters: [FeedChange.Kind: Counter] = [:]
        for k in [FeedChange.Kind.published, .updated, .withdrawn, .expired] {
            counters[k] = Counter(label: "zhifa_publicity_feed_changes_total", dimensions: [("kind", k.rawValue)], factory: metricsFactory)
        }
        changeCounters = counters
    }

    /// The context the store evaluates decisions in.
    public var context: PublicationContext { PublicationContext(book: book, calendar: calendar.calendar, rules: rules, topic: outputTopic) }

    /// The worker's handler. Outgoing events go through the store's outbox, so it returns none.
    public func handle(_ message: KafkaConsumerMessage) async throws -> [KafkaRecord] {
        guard let (eventId, fact) = try fact(of: message) else { return [] }
        let made = try await store.apply(eventId: eventId, fact: fact, context: context, now: now())
        announce(made)
        return []
    }

    /// Tells SSE streams and the outbox publisher about new changes, and logs them (ids only).
    public func announce(_ made: [FeedChange]) {
        guard !made.isEmpty else { return }
        changes.notify()
        published.notify()
        for c in made {
            changeCounters[c.kind]?.increment()
            logger.info("feed entry \(c.kind.rawValue)", metadata: ["entry": "\(c.entry.entryId)", "seq": "\(c.seq)", "late": "\(c.entry.late)"])
        }
    }

    /// The event id and fact a message carries, or nil when the publicity service does not need it.
    func fact(of message: KafkaConsumerMessage) throws -> (String, PublicityFact)? {
        if message.topic == eventsTopic {
            let (_, event) = try contract.decode(message)
            switch event.payload {
            case .caseOpened(let o): return (event.id, .opened(o))
            case .decisionDrafted(let d): return (event.id, .drafted(d))
            case .decisionIssued(let i): return (event.id, .issued(i))
            case .decisionRevoked(let r): return (event.id, .revoked(r))
            case .actionRecorded(let a):
                guard let w = a.witness, !w.isEmpty else { return nil }
                return (event.id, .witnesses(caseId: a.caseId, names: [w]))
            default: return nil
            }
        }
        guard let type = message.headers.text("ce_type").flatMap(ReviewEventType.init(rawValue:)) else { return nil }
        guard let id = message.headers.text("ce_id"), !id.isEmpty else { throw PermanentFailure("review event without ce_id") }
        switch type {
        case .classification:
            let c = try InternalEvents.decode(ReviewClassificationEvent.self, from: message)
            return (id, .classified(caseId: c.caseId, decisionId: c.decisionId, major: c.major))
        case .opinion:
            let o = try InternalEvents.decode(ReviewOpinionEvent.self, from: message)
            guard o.opinion == .approve else { return nil }
            return (id, .approved(caseId: o.caseId, decisionId: o.decisionId))
        default:
            return nil
        }
    }
}
