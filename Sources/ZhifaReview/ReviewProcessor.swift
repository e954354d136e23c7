import Crypto
import Foundation
import Logging
import Metrics
import ZhifaDomain
import ZhifaKafka
import ZhifaRuntime

/// Turns each contract event into the review service's state and outputs.
///
/// Per event: validate (invalid → dead letter), store it (idempotent on `ce_id`: a replay returns
/// the outputs recorded the first time), fold the case, then for the decisions the event concerns:
/// classify, run the 16 checks, clear non-major decisions that pass, queue major drafts as tasks,
/// and report a major decision issued without an approving opinion.
public struct ReviewProcessor: Sendable {
    let store: any ReviewStore
    let book: RulesBook
    let calendar: WorkingDayCalendar
    let settings: ReviewSettings
    let topic: String
    let contract: ContractMessages
    let logger: Logger
    let now: @Sendable () -> Date
    let metrics: ReviewMetrics
    let cache: CaseCache

    public init(store: any ReviewStore, book: RulesBook, calendar: WorkingDayCalendar, settings: ReviewSettings, topic: String,
                group: String, metricsFactory: any MetricsFactory, logger: Logger, now: @escaping @Sendable () -> Date = Date.init) {
        self.store = store
        self.book = book
        self.calendar = calendar
        self.settings = settings
        self.topic = topic
        self.contract = ContractMessages(group: group, factory: metricsFactory)
        self.logger = logger
        self.now = now
        self.metrics = ReviewMetrics(factory: metricsFactory)
        self.cache = CaseCache(capacity: 20_000)
    }

    /// The worker's handler.
    public func handle(_ message: KafkaConsumerMessage) async throws -> [KafkaRecord] {
        let (cloudEvent, event) = try contract.decode(message)
        let cached = cache.events(event.caseId)
        let snapshot = try await store.snapshot(eventId: event.id, caseId: event.caseId, loadEvents: cached == nil)
        if let recorded = snapshot.outputs { return recorded }
        let structured = StructuredCloudEvent.serialize(cloudEvent)
        var events: [EnforcementEvent] = cached ?? (snapshot.events ?? []).compactMap { bytes -> EnforcementEvent? in
            guard let ce = try? StructuredCloudEvent.parse(bytes) else { return nil }
            return try? EnforcementEvent.decode(ce)
        }
        events.append(event)
        let state = CaseState.fold(caseId: event.caseId, events: events)
        if case .avSegmentRegistered(let s) = event.payload { cache.forget(device: s.deviceId) }
        var predecessors: [String: DevicePredecessor] = [:]
        let pending: AVSegmentRegistered? = { if case .avSegmentRegistered(let s) = event.payload { return s } else { return nil } }()
        for s in state.segments {
            if let p = cache.predecessor(s.value.segmentId) { predecessors[s.value.segmentId] = p; continue }
            let p = try await store.predecessor(of: s.value, pending: pending)
            predecessors[s.value.segmentId] = p
            cache.remember(s.value, p)
        }
        let preds = predecessors

        var step = ProcessingStep(
            eventId: event.id, caseId: event.caseId, type: event.type.rawValue, time: event.time.date, structured: structured,
            segment: { if case .avSegmentRegistered(let s) = event.payload { return s } else { return nil } }(),
            decisions: [], newTasks: [], updatedTasks: [], investigators: state.investigators.sorted(), outputs: [])

        var toReview: [(String, ReviewTrigger, Bool)] = []  // decision, trigger, prompted by this event
        switch event.payload {
        case .decisionDrafted(let d): toReview.append((d.decisionId, state.issued[d.decisionId] != nil ? .issued : .drafted, true))
        case .decisionIssued(let d): toReview.append((d.decisionId, .issued, true))
        default:
            for id in state.decisionIds where snapshot.decisions[id] != nil {
                toReview.append((id, state.issued[id] != nil ? .issued : .drafted, false))
            }
        }
        for (decisionId, trigger, prompted) in toReview {
            guard let view = DecisionView(state: state, decisionId: decisionId, trigger: trigger) else { continue }
            let review = DecisionReview(state: state, decision: view, rules: settings.rules, book: book, calendar: calendar,
                                        predecessor: { preds[$0.segmentId] ?? .none })
            try evaluate(review, state: state, event: event, prompted: prompted, snapshot: snapshot, step: &step)
        }
        try await store.commit(step)
        cache.store(event.caseId, events: events)
        if case .avSegmentRegistered(let s) = event.payload { cache.forget(device: s.deviceId) }  // neighbours see it now
        metrics.processed.increment()
        return step.outputs
    }

    private func evaluate(_ review: DecisionReview, state: CaseState, event: EnforcementEvent, prompted: Bool, snapshot: CaseSnapshot,
                          step: inout ProcessingStep) throws {
        let decisionId = review.decision.decisionId
        let caseId = state.caseId
        let agency = state.opened?.value.agencyId ?? "unknown"
        let classification = review.classification()
        let findings = review.findings()
        let previous = snapshot.decisions[decisionId]
        let hash = Self.hash(findings)
        var memo = previous ?? DecisionRecord(caseId: caseId, decisionId: decisionId, agencyId: agency, major: classification.major, findingsHash: "", cleared: false, violation: false)
        memo.agencyId = agency
        let trigger = review.decision.trigger
        let base = "review-\(decisionId)-\(event.id)"

        if prompted || previous?.major != classification.major {
            step.outputs.append(try record(.classification, id: "\(base)-classification", caseId: caseId, payload: ReviewClassificationEvent(
                caseId: caseId, decisionId: decisionId, agencyId: agency, major: classification.major, reasons: classification.reasons,
                trigger: trigger, basedOn: review.decision.eventIds)))
            metrics.classified(major: classification.major)
        }
        if prompted || previous?.findingsHash != hash {
            step.outputs.append(try record(.findings, id: "\(base)-findings", caseId: caseId, payload: ReviewFindingsEvent(
                caseId: caseId, decisionId: decisionId, agencyId: agency, trigger: trigger, triggerEventId: event.id,
                major: classification.major, findings: findings)))
            metrics.checked.increment()
            for f in findings where f.result == .fail { metrics.failed(check: f.checkId) }
            logFindingsChange(findings, major: classification.major, previous: previous, caseId: caseId, decisionId: decisionId)
        }
        memo.major = classification.major
        memo.findingsHash = hash

        let allPass = findings.allSatisfy { $0.result == .pass || $0.result == .notApplicable }
        if !classification.major && allPass && !memo.cleared {
            memo.cleared = true
            step.outputs.append(try record(.cleared, id: "review-\(decisionId)-cleared", caseId: caseId, payload: ReviewClearedEvent(
                caseId: caseId, decisionId: decisionId, agencyId: agency, trigger: trigger)))
        }

        if classification.major {
            try queueTask(review, state: state, event: event, prompted: prompted, stored: snapshot.tasks[decisionId] ?? [], step: &step)
        }
        // Judged on what is known, not on which event arrived last: once the issued decision and the
        // major classification are both known and no approval exists, the violation is recorded once.
        if let issued = review.decision.issued?.value, let issuedEventId = review.decision.issued?.eventId,
           classification.major, !memo.violation,
           !snapshot.approved.contains(decisionId) {
            memo.violation = true
            metrics.violations.increment()
            logger.warning("major decision issued without an approving legal review opinion", metadata: ["case": "\(caseId)", "decision": "\(decisionId)"])
            step.outputs.append(try record(.violation, id: "review-\(decisionId)-violation", caseId: caseId, payload: ReviewViolationEvent(
                caseId: caseId, decisionId: decisionId, agencyId: agency, kind: "issuedWithoutApproval", issuedEventId: issuedEventId,
                documentNumber: issued.documentNumber,
                reasonZh: "重大执法决定\(issued.documentNumber)在法制审核同意之前作出（终端提交的审核意见编号不视为审核同意）",
                reasonEn: "major decision \(issued.documentNumber) was issued before any approving legal review opinion (a terminal's reviewOpinionRef is not an approval) (Art. 58)")))
        }
        step.decisions.append(memo)
    }

    /// Tells the agency's operators when a non-major decision starts or stops failing a check (a
    /// major one goes to a reviewer instead). A decision that goes on failing is not logged again
    /// on each later event of its case; its findings on `zhifa.review.v1` say what changed.
    private func logFindingsChange(_ findings: [Finding], major: Bool, previous: DecisionRecord?, caseId: String, decisionId: String) {
        guard !major else { return }
        let failed = findings.filter { $0.result == .fail }.map(\.checkId)
        let failedBefore = previous?.failsACheck ?? false
        if !failed.isEmpty {
            if !failedBefore {
                logger.notice("a non-major decision failed a check", metadata: ["case": "\(caseId)", "decision": "\(decisionId)", "checks": "\(failed)"])
            }
        } else if failedBefore {
            logger.info("a non-major decision no longer fails a check (a missing record arrived)", metadata: ["case": "\(caseId)", "decision": "\(decisionId)"])
        }
    }

    /// A major draft becomes a task; a returned draft's next version becomes a new task linked to the old.
    private func queueTask(_ review: DecisionReview, state: CaseState, event: EnforcementEvent, prompted: Bool, stored: [ReviewTask],
                           step: inout ProcessingStep) throws {
        let decisionId = review.decision.decisionId
        let tasks = stored + step.newTasks.filter { $0.decisionId == decisionId }
        let draftEventId = review.decision.draft?.eventId ?? review.decision.issued?.eventId ?? event.id
        let latest = tasks.last
        if let latest, latest.state == .open || latest.state == .claimed {
            if latest.draftEventId != draftEventId {
                var t = latest
                t.draftEventId = draftEventId
                step.updatedTasks.append(t)
                step.outputs.append(try taskRecord(t, id: "review-task-\(t.taskId)-\(event.id)"))
            }
            return
        }
        if let latest, latest.state == .approved, latest.draftEventId == draftEventId { return }
        if let latest, latest.state == .returned, latest.draftEventId == draftEventId { return }  // waiting for the redraft
        let created = now()
        let due = calendar.addingWorkingDays(settings.deadlineWorkingDays, to: ChinaTime.day(of: created))
        let task = ReviewTask(
            taskId: "TASK-\(decisionId)-\(tasks.count + 1)", caseId: state.caseId, decisionId: decisionId,
            agencyId: state.opened?.value.agencyId ?? "unknown", state: .open, draftEventId: draftEventId, createdAt: created,
            dueDate: due.day, dueProvisional: due.provisional, claimedBy: nil, leaseUntil: nil, previousTaskId: latest?.taskId,
            investigators: state.investigators.sorted(), opinionId: nil)
        step.newTasks.append(task)
        step.outputs.append(try taskRecord(task, id: "review-task-\(task.taskId)-created"))
        metrics.tasks.increment()
    }

    func taskRecord(_ t: ReviewTask, id: String) throws -> KafkaRecord {
        try record(.task, id: id, caseId: t.caseId, payload: Self.taskEvent(t))
    }

    static func taskEvent(_ t: ReviewTask) -> ReviewTaskEvent {
        ReviewTaskEvent(taskId: t.taskId, caseId: t.caseId, decisionId: t.decisionId, agencyId: t.agencyId, state: t.state, draftEventId: t.draftEventId,
                        createdAt: ChinaTime.format(t.createdAt), dueDate: t.dueDate.description, dueProvisional: t.dueProvisional, previousTaskId: t.previousTaskId)
    }

    func record<T: Encodable>(_ type: ReviewEventType, id: String, caseId: String, payload: T) throws -> KafkaRecord {
        try InternalEvents.record(topic: topic, key: caseId, id: id, type: type.rawValue, service: "review", time: now(), payload: payload)
    }

    /// A digest of the findings; "F-" when a check failed.
    static func hash(_ findings: [Finding]) -> String {
        var text = ""
        for f in findings { text += "\(f.checkId)\u{1}\(f.result.rawValue)\u{1}\(f.reasonEn)\u{1}\(f.eventIds.joined(separator: ","))\u{2}" }
        let digest = Hex.encode(SHA256.hash(data: Array(text.utf8)).prefix(12))
        return (findings.contains { $0.result == .fail } ? "F-" : "P-") + digest
    }
}

/// The review service's counters.
struct ReviewMetrics: Sendable {
    let factory: any MetricsFactory
    let processed: Counter
    let checked: Counter
    let violations: Counter
    let tasks: Counter

    init(factory: any MetricsFactory) {
        self.factory = factory
        processed = Counter(label: "zhifa_review_events_processed_total", factory: factory)
        checked = Counter(label: "zhifa_review_decisions_checked_total", factory: factory)
        violations = Counter(label: "zhifa_review_violations_total", factory: factory)
        tasks = Counter(label: "zhifa_review_tasks_created_total", factory: factory)
    }

    func classified(major: Bool) {
        Counter(label: "zhifa_review_classifications_total", dimensions: [("major", String(major))], factory: factory).increment()
    }

    func failed(check: Int) {
        Counter(label: "zhifa_review_check_failures_total", dimensions: [("check", String(check))], factory: factory).increment()
    }
}
