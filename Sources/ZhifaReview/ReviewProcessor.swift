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
///
/// A segment whose device's next segment belongs to another, already reviewed case asks for that
/// case to be checked again (`ReviewRecheckEvent`, through the group's retry topic): its AV
/// checks rested on a chain without this segment. One handler at a time works on a case, and
/// one at a time on a device's recordings: a handler holds the devices of its case's segments from
/// looking up their neighbours until its commit, so a segment committed meanwhile by another
/// case is either seen (it committed first) or finds this case reviewed and asks for a re-check.
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
    let retryTopic: String
    let locks = CaseLocks()
    /// Held per body camera (device id) while a handler reads and commits what its segments link to.
    let deviceLocks = CaseLocks()

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
        self.retryTopic = TopicNames.retry(group)
    }

    /// The worker's handler.
    public func handle(_ message: KafkaConsumerMessage) async throws -> [KafkaRecord] {
        if message.topic == retryTopic, message.headers.text("ce_type") == ReviewRecheckEvent.type {
            return try await recheck(message)
        }
        let (cloudEvent, event) = try contract.decode(message)
        let waiting = ContinuousClock.now
        return try await locks.run(event.caseId) {
            metrics.time(.caseWait, since: waiting)
            return try await process(cloudEvent, event)
        }
    }

    private func process(_ cloudEvent: CloudEvent, _ event: EnforcementEvent) async throws -> [KafkaRecord] {
        let cached = cache.events(event.caseId)
        let reading = ContinuousClock.now
        let snapshot = try await store.snapshot(eventId: event.id, caseId: event.caseId, loadEvents: cached == nil)
        metrics.time(.read, since: reading)
        if let recorded = snapshot.outputs { return recorded }
        let structured = StructuredCloudEvent.serialize(cloudEvent)
        let events = (cached ?? Self.decode(snapshot.events)) + [event]
        let state = CaseState.fold(caseId: event.caseId, events: events)
        let pending: AVSegmentRegistered? = { if case .avSegmentRegistered(let s) = event.payload { return s } else { return nil } }()
        let toReview = Self.toReview(event, state: state, snapshot: snapshot)
        // A review reads what the case's segments link to; a new segment is what others link to.
        var devices = toReview.isEmpty ? [] : Self.devices(state)
        if let pending { devices.insert(pending.deviceId) }
        let waiting = ContinuousClock.now
        return try await deviceLocks.run(all: devices) {
            metrics.time(.cameraWait, since: waiting)
            return try await process(event, structured: structured, state: state, events: events, snapshot: snapshot, pending: pending, toReview: toReview)
        }
    }

    /// The decisions an event has reviewed (with their trigger, and whether the event prompted
    /// it): the one it drafts or issues, else every decision of the case reviewed before.
    private static func toReview(_ event: EnforcementEvent, state: CaseState, snapshot: CaseSnapshot) -> [(String, ReviewTrigger, Bool)] {
        switch event.payload {
        case .decisionDrafted(let d): [(d.decisionId, state.issued[d.decisionId] != nil ? .issued : .drafted, true)]
        case .decisionIssued(let d): [(d.decisionId, .issued, true)]
        default: reviewed(state, snapshot).map { ($0.0, $0.1, false) }
        }
    }

    /// The rest of `process`, holding the devices it reads or writes segments of.
    private func process(_ event: EnforcementEvent, structured: [UInt8], state: CaseState, events: [EnforcementEvent], snapshot: CaseSnapshot,
                         pending: AVSegmentRegistered?, toReview: [(String, ReviewTrigger, Bool)]) async throws -> [KafkaRecord] {
        if let pending { cache.forget(device: pending.deviceId) }
        // Looked up only when held: a lookup outside the lock could cache what a commit changes.
        let lookingUp = ContinuousClock.now
        let preds = toReview.isEmpty ? [:] : try await predecessors(state, pending: pending)
        var lookups = ContinuousClock.now - lookingUp
        let checking = ContinuousClock.now

        var step = ProcessingStep(
            eventId: event.id, caseId: event.caseId, type: event.type.rawValue, time: event.time.date, structured: structured,
            segment: pending, decisions: [], newTasks: [], updatedTasks: [], investigators: state.investigators.sorted(), outputs: [])

        for (decisionId, trigger, prompted) in toReview {
            try review(decisionId, trigger: trigger, prompted: prompted, triggerId: event.id, state: state, predecessors: preds,
                       snapshot: snapshot, step: &step)
        }
        metrics.time(.checks, since: checking)
        let lookingAfter = ContinuousClock.now
        if let pending, let other = try await store.caseReviewedAfter(pending, caseId: event.caseId) {
            step.outputs.append(try InternalEvents.record(
                topic: retryTopic, key: other, id: ReviewRecheckEvent.id(segmentEventId: event.id), type: ReviewRecheckEvent.type,
                service: "review", time: now(),
                payload: ReviewRecheckEvent(caseId: other, deviceId: pending.deviceId, segmentId: pending.segmentId, segmentEventId: event.id)))
        }
        lookups += ContinuousClock.now - lookingAfter
        metrics.record(.neighbours, lookups)
        let committing = ContinuousClock.now
        try await store.commit(step)
        metrics.time(.commit, since: committing)
        cache.store(event.caseId, events: events)
        if let pending { cache.forget(device: pending.deviceId) }  // neighbours see it now
        metrics.processed.increment()
        return step.outputs
    }

    /// Reviews a case's decisions again on what is known now (a `ReviewRecheckEvent`). Outputs
    /// appear only where something changed, as on any event that does not concern a decision.
    private func recheck(_ message: KafkaConsumerMessage) async throws -> [KafkaRecord] {
        let request = try InternalEvents.decode(ReviewRecheckEvent.self, from: message)
        let id = ReviewRecheckEvent.id(segmentEventId: request.segmentEventId)
        return try await locks.run(request.caseId) {
            let cached = cache.events(request.caseId)
            let snapshot = try await store.snapshot(eventId: id, caseId: request.caseId, loadEvents: cached == nil)
            if let recorded = snapshot.outputs { return recorded }
            let events = cached ?? Self.decode(snapshot.events)
            let state = CaseState.fold(caseId: request.caseId, events: events)
            let outputs = try await deviceLocks.run(all: Self.devices(state)) {
                try await recheck(request, id: id, state: state, snapshot: snapshot)
            }
            if cached == nil { cache.store(request.caseId, events: events) }
            metrics.rechecked.increment()
            logger.debug("case checked again after a recording of another case arrived",
                         metadata: ["case": "\(request.caseId)", "segment": "\(request.segmentId)", "outputs": "\(outputs.count)"])
            return outputs
        }
    }

    /// The rest of a re-check, holding the devices of the case's segments.
    private func recheck(_ request: ReviewRecheckEvent, id: String, state: CaseState, snapshot: CaseSnapshot) async throws -> [KafkaRecord] {
        let preds = try await predecessors(state, pending: nil)
        var step = ProcessingStep(
            eventId: id, caseId: request.caseId, type: ReviewRecheckEvent.type, time: now(), structured: [],
            segment: nil, decisions: [], newTasks: [], updatedTasks: [], investigators: state.investigators.sorted(), outputs: [])
        for (decisionId, trigger) in Self.reviewed(state, snapshot) {
            try review(decisionId, trigger: trigger, prompted: false, triggerId: request.segmentEventId, state: state, predecessors: preds,
                       snapshot: snapshot, step: &step)
        }
        try await store.commit(step)
        return step.outputs
    }

    /// The devices that recorded the case's segments.
    private static func devices(_ state: CaseState) -> Set<String> { Set(state.segments.map(\.value.deviceId)) }

    /// The case's decisions reviewed before, each with what it is now (drafted, or issued).
    private static func reviewed(_ state: CaseState, _ snapshot: CaseSnapshot) -> [(String, ReviewTrigger)] {
        state.decisionIds.filter { snapshot.decisions[$0] != nil }.map { ($0, state.issued[$0] != nil ? .issued : .drafted) }
    }

    /// Reviews one decision of the case as it stands; `triggerId` names the event that prompted it.
    private func review(_ decisionId: String, trigger: ReviewTrigger, prompted: Bool, triggerId: String, state: CaseState,
                        predecessors: [String: DevicePredecessor], snapshot: CaseSnapshot, step: inout ProcessingStep) throws {
        guard let view = DecisionView(state: state, decisionId: decisionId, trigger: trigger) else { return }
        let review = DecisionReview(state: state, decision: view, rules: settings.rules, book: book, calendar: calendar,
                                    predecessor: { predecessors[$0.segmentId] ?? .none })
        try evaluate(review, state: state, triggerId: triggerId, prompted: prompted, snapshot: snapshot, step: &step)
    }

    /// Stored structured-mode events, decoded (unreadable ones are skipped: they were validated when stored).
    private static func decode(_ stored: [[UInt8]]?) -> [EnforcementEvent] {
        (stored ?? []).compactMap { bytes -> EnforcementEvent? in
            guard let ce = try? StructuredCloudEvent.parse(bytes) else { return nil }
            return try? EnforcementEvent.decode(ce)
        }
    }

    /// Each segment's predecessor on its device, from the cache or the store.
    private func predecessors(_ state: CaseState, pending: AVSegmentRegistered?) async throws -> [String: DevicePredecessor] {
        var found: [String: DevicePredecessor] = [:]
        for s in state.segments {
            if let p = cache.predecessor(s.value.segmentId) { found[s.value.segmentId] = p; continue }
            let p = try await store.predecessor(of: s.value, pending: pending)
            found[s.value.segmentId] = p
            cache.remember(s.value, p)
        }
        return found
    }

    /// Classifies and checks one decision; `triggerId` is the event that prompted it (output ids derive from it).
    private func evaluate(_ review: DecisionReview, state: CaseState, triggerId: String, prompted: Bool, snapshot: CaseSnapshot,
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
        let base = "review-\(decisionId)-\(triggerId)"

        if prompted || previous?.major != classification.major {
            step.outputs.append(try record(.classification, id: "\(base)-classification", caseId: caseId, payload: ReviewClassificationEvent(
                caseId: caseId, decisionId: decisionId, agencyId: agency, major: classification.major, reasons: classification.reasons,
                trigger: trigger, basedOn: review.decision.eventIds)))
            metrics.classified(major: classification.major)
        }
        if prompted || previous?.findingsHash != hash {
            step.outputs.append(try record(.findings, id: "\(base)-findings", caseId: caseId, payload: ReviewFindingsEvent(
                caseId: caseId, decisionId: decisionId, agencyId: agency, trigger: trigger, triggerEventId: triggerId,
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
            try queueTask(review, state: state, triggerId: triggerId, prompted: prompted, stored: snapshot.tasks[decisionId] ?? [], step: &step)
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
    private func queueTask(_ review: DecisionReview, state: CaseState, triggerId: String, prompted: Bool, stored: [ReviewTask],
                           step: inout ProcessingStep) throws {
        let decisionId = review.decision.decisionId
        let tasks = stored + step.newTasks.filter { $0.decisionId == decisionId }
        let draftEventId = review.decision.draft?.eventId ?? review.decision.issued?.eventId ?? triggerId
        let latest = tasks.last
        if let latest, latest.state == .open || latest.state == .claimed {
            if latest.draftEventId != draftEventId {
                var t = latest
                t.draftEventId = draftEventId
                step.updatedTasks.append(t)
                step.outputs.append(try taskRecord(t, id: "review-task-\(t.taskId)-\(triggerId)"))
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
    let rechecked: Counter
    /// One timer per `ReviewStage`.
    let stages: [ReviewStage: Metrics.Timer]

    init(factory: any MetricsFactory) {
        self.factory = factory
        processed = Counter(label: "zhifa_review_events_processed_total", factory: factory)
        checked = Counter(label: "zhifa_review_decisions_checked_total", factory: factory)
        violations = Counter(label: "zhifa_review_violations_total", factory: factory)
        tasks = Counter(label: "zhifa_review_tasks_created_total", factory: factory)
        rechecked = Counter(label: "zhifa_review_rechecks_total", factory: factory)
        stages = Dictionary(uniqueKeysWithValues: ReviewStage.allCases.map {
            ($0, Metrics.Timer(label: "zhifa_review_stage_seconds", dimensions: [("stage", $0.rawValue)], preferredDisplayUnit: .seconds, factory: factory))
        })
    }

    /// Records the time from `start` until now as spent in `stage`.
    func time(_ stage: ReviewStage, since start: ContinuousClock.Instant) { record(stage, ContinuousClock.now - start) }

    /// Records `d` as spent in `stage`.
    func record(_ stage: ReviewStage, _ d: Duration) {
        stages[stage]!.recordNanoseconds(d.components.seconds &* 1_000_000_000 &+ d.components.attoseconds / 1_000_000_000)
    }

    func classified(major: Bool) {
        Counter(label: "zhifa_review_classifications_total", dimensions: [("major", String(major))], factory: factory).increment()
    }

    func failed(check: Int) {
        Counter(label: "zhifa_review_check_failures_total", dimensions: [("check", String(check))], factory: factory).increment()
    }
}

/// Where a contract event's review spends its time, as `zhifa_review_stage_seconds{stage}` shows:
/// when the review falls behind, the stage that grows says why — the store's reads, another
/// handler holding a body camera, the AV-chain lookups, the checks themselves, or the commit (fsync).
public enum ReviewStage: String, CaseIterable, Sendable {
    /// Waiting for another handler of the same case (a re-check or a replay).
    case caseWait = "case_wait"
    /// Reading the case's stored state (idempotency, decisions, tasks, opinions; events on a cache miss).
    case read
    /// Waiting for the body cameras of the case's recordings, held by other cases' handlers until their commit.
    case cameraWait = "camera_wait"
    /// Looking up recordings' neighbours on their cameras (check 11's chain, and re-checks to ask for).
    case neighbours
    /// Classifying and running the 16 checks.
    case checks
    /// Committing the step (one group commit, one fsync per group).
    case commit
}
