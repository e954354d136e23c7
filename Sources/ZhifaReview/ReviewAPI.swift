import Foundation
import HTTPTypes
import Hummingbird
import Logging
import ZhifaDomain
import ZhifaKafka
import ZhifaRuntime

/// The reviewer API (`/v1/review/...`): bearer tokens; a reviewer sees only their own agency's
/// tasks (another agency's task is 404); a reviewer without 法律职业资格 gets 403.
public struct ReviewAPI: Sendable {
    let store: any ReviewStore
    let tokens: BearerTokens
    let reviewers: ReviewerRegistry
    let book: RulesBook
    let calendar: WorkingDayCalendar
    let settings: ReviewSettings
    let topic: String
    let published: WakeSignal
    let logger: Logger
    let now: @Sendable () -> Date

    public init(store: any ReviewStore, tokens: BearerTokens, reviewers: ReviewerRegistry, book: RulesBook, calendar: WorkingDayCalendar,
                settings: ReviewSettings, topic: String, published: WakeSignal, logger: Logger, now: @escaping @Sendable () -> Date = Date.init) {
        self.store = store
        self.tokens = tokens
        self.reviewers = reviewers
        self.book = book
        self.calendar = calendar
        self.settings = settings
        self.topic = topic
        self.published = published
        self.logger = logger
        self.now = now
    }

    public func add(to router: Router<BasicRequestContext>) {
        router.get("/") { _, _ in ReviewConsole.response }
        router.get("/console") { _, _ in ReviewConsole.response }
        router.get("/v1/review/me") { request, _ in
            let r = try await reviewer(request)
            return JSONResponse.make(["reviewerId": r.reviewerId, "name": r.name, "agencyId": r.agencyId,
                                      "agencyName": book.agencies[r.agencyId]?.name ?? r.agencyId, "qualified": r.qualified])
        }
        router.get("/v1/review/tasks") { request, _ in try await list(request) }
        router.post("/v1/review/tasks/claim") { request, _ in try await claim(request) }
        router.get("/v1/review/tasks/:id") { request, context in try await detail(request, id: context.parameters.get("id") ?? "") }
        router.post("/v1/review/tasks/:id/opinion") { request, context in try await opinion(request, id: context.parameters.get("id") ?? "") }
        router.post("/v1/review/tasks/:id/renew") { request, context in try await renew(request, id: context.parameters.get("id") ?? "") }
        router.get("/v1/review/attention") { request, _ in
            let r = try await reviewer(request)
            let list = try await store.attention(agencyId: r.agencyId)
            return JSONResponse.make(["decisions": list.map { ["caseId": $0.caseId, "decisionId": $0.decisionId, "agencyId": $0.agencyId] }])
        }
    }

    // MARK: authentication

    func reviewer(_ request: Request) async throws -> Reviewer {
        let claims = try await tokens.authenticate(request, role: "reviewer")
        guard let r = reviewers.reviewers[claims.sub.value], r.agencyId == claims.agency else {
            throw Problem(.unauthorized, title: "Sign in again", detail: "the token's reviewer is not (or no longer) registered", headers: [.wwwAuthenticate: "Bearer realm=\"zhifa\""])
        }
        guard r.qualified else {
            throw Problem(.forbidden, title: "Not qualified", detail: "legal review requires 法律职业资格 (行政处罚法 Art. 58); this reviewer is not registered as qualified")
        }
        return r
    }

    func ownTask(_ id: String, _ r: Reviewer) async throws -> ReviewTask {
        guard let t = try await store.task(id), t.agencyId == r.agencyId else {
            throw Problem(.notFound, detail: "no task \(id) in your agency's queue")
        }
        return t
    }

    // MARK: queue

    func taskJSON(_ t: ReviewTask) -> [String: Any] {
        let n = now()
        let state = t.effectiveState(at: n)
        let dueSoonDay = calendar.addingWorkingDays(settings.dueSoonWorkingDays, to: ChinaTime.day(of: n)).day
        var o: [String: Any] = [
            "taskId": t.taskId, "caseId": t.caseId, "decisionId": t.decisionId, "agencyId": t.agencyId, "state": state.rawValue,
            "createdAt": ChinaTime.format(t.createdAt), "dueDate": t.dueDate.description, "dueProvisional": t.dueProvisional,
            "overdue": t.overdue(at: n), "dueSoon": !t.overdue(at: n) && t.dueDate <= dueSoonDay && (state == .open || state == .claimed),
        ]
        if state == .claimed, let by = t.claimedBy, let until = t.leaseUntil {
            o["claimedBy"] = by
            o["leaseUntil"] = ChinaTime.format(until)
        }
        if let p = t.previousTaskId { o["previousTaskId"] = p }
        if let op = t.opinionId { o["opinionId"] = op }
        return o
    }

    func list(_ request: Request) async throws -> Response {
        let r = try await reviewer(request)
        let q = request.uri.queryParameters
        var tasks = try await store.listTasks(agencyId: r.agencyId, now: now())
        if let s = q.get("state") {
            guard let state = ReviewTaskState(rawValue: s) else {
                throw Problem(.badRequest, detail: "state must be one of open, claimed, approved, returned, superseded",
                              errors: [.init(pointer: "?state", detail: "unknown state")])
            }
            tasks = tasks.filter { $0.effectiveState(at: now()) == state }
        }
        if let o = q.get("overdue") {
            guard let flag = Bool(o) else { throw Problem(.badRequest, detail: "overdue must be true or false", errors: [.init(pointer: "?overdue", detail: "not a boolean")]) }
            tasks = tasks.filter { $0.overdue(at: now()) == flag }
        }
        return JSONResponse.make(["tasks": tasks.map(taskJSON)])
    }

    func claim(_ request: Request) async throws -> Response {
        let r = try await reviewer(request)
        guard let t = try await store.claimOldest(agencyId: r.agencyId, reviewerId: r.reviewerId, recuseOfficer: r.officerId, now: now(),
                                                  lease: Double(settings.leaseSeconds)) else {
            return Response(status: .noContent)
        }
        logger.info("task claimed", metadata: ["task": "\(t.taskId)", "reviewer": "\(r.reviewerId)"])
        return JSONResponse.make(taskJSON(t))
    }

    func renew(_ request: Request, id: String) async throws -> Response {
        let r = try await reviewer(request)
        _ = try await ownTask(id, r)
        do {
            return JSONResponse.make(taskJSON(try await store.renew(taskId: id, reviewerId: r.reviewerId, now: now(), lease: Double(settings.leaseSeconds))))
        } catch let e as TaskQueueError {
            throw Self.problem(e)
        }
    }

    static func problem(_ e: TaskQueueError) -> Problem {
        switch e {
        case .notFound: return Problem(.notFound, detail: "no such task")
        case .notClaimedByYou: return Problem(.conflict, title: "Not your claim", detail: "claim the task before working on it (POST /v1/review/tasks/claim)")
        case .leaseExpired: return Problem(.conflict, title: "Lease expired", detail: "your lease ran out and the task went back to the queue; claim it again")
        case .alreadyDecided: return Problem(.conflict, title: "Already decided", detail: "an opinion was already recorded for this task")
        }
    }

    // MARK: opinion

    func opinion(_ request: Request, id: String) async throws -> Response {
        let r = try await reviewer(request)
        let task = try await ownTask(id, r)
        let body = Array(try await request.body.collect(upTo: 64 * 1024).readableBytesView)
        guard let json = try? JSONParser.parse(body), case .object(let o) = json else {
            throw Problem(.badRequest, title: "Malformed JSON", detail: "send {\"opinion\": \"approve\" | \"return\", \"reasons\": \"…\"}")
        }
        var errors: [Problem.FieldError] = []
        let kind = o["opinion"]?.stringValue.flatMap(ReviewOpinionKind.init(rawValue:))
        if kind == nil { errors.append(.init(pointer: "/opinion", detail: "must be \"approve\" (同意) or \"return\" (存在问题)")) }
        let reasons = o["reasons"]?.stringValue?.trimmingCharacters(in: .whitespacesAndNewlines)
        if kind == .return && (reasons ?? "").isEmpty { errors.append(.init(pointer: "/reasons", detail: "required when returning a draft (存在问题): say what must change")) }
        if let reasons, reasons.count > 8_000 { errors.append(.init(pointer: "/reasons", detail: "at most 8000 characters")) }
        for key in o.keys where key != "opinion" && key != "reasons" { errors.append(.init(pointer: "/\(key)", detail: "unknown field")) }
        guard errors.isEmpty, let kind else {
            throw Problem(.unprocessableContent, title: "Invalid opinion", detail: errors.map { "\($0.pointer): \($0.detail)" }.joined(separator: "; "), errors: errors)
        }
        let at = now()
        let opinion = ReviewOpinion(opinionId: "OP-\(task.taskId)-\(Int(at.timeIntervalSince1970 * 1000))", taskId: task.taskId, caseId: task.caseId,
                                    decisionId: task.decisionId, reviewerId: r.reviewerId, opinion: kind, reasons: (reasons ?? "").isEmpty ? nil : reasons, at: at)
        let topic = self.topic
        let decided: ReviewTask
        do {
            decided = try await store.recordOpinion(opinion, now: at) { t in
                [
                    try InternalEvents.record(topic: topic, key: t.caseId, id: opinion.opinionId, type: ReviewEventType.opinion.rawValue, service: "review", time: at,
                                              payload: ReviewOpinionEvent(opinionId: opinion.opinionId, taskId: t.taskId, caseId: t.caseId, decisionId: t.decisionId,
                                                                          agencyId: t.agencyId, reviewerId: r.reviewerId, opinion: kind, reasons: opinion.reasons,
                                                                          at: ChinaTime.format(at))),
                    try InternalEvents.record(topic: topic, key: t.caseId, id: "review-task-\(t.taskId)-\(t.state.rawValue)", type: ReviewEventType.task.rawValue,
                                              service: "review", time: at, payload: ReviewProcessor.taskEvent(t)),
                ]
            }
        } catch let e as TaskQueueError {
            throw Self.problem(e)
        }
        published.notify()
        logger.info("opinion recorded", metadata: ["task": "\(task.taskId)", "opinion": "\(kind.rawValue)", "reviewer": "\(r.reviewerId)"])
        var out = taskJSON(decided)
        out["opinionId"] = opinion.opinionId
        out["opinion"] = kind.rawValue
        return JSONResponse.make(out)
    }

    // MARK: the whole case

    func detail(_ request: Request, id: String) async throws -> Response {
        let r = try await reviewer(request)
        let task = try await ownTask(id, r)
        let events = try await store.caseEvents(task.caseId).compactMap { try? EnforcementEvent.decode(StructuredCloudEvent.parse($0)) }
        let state = CaseState.fold(caseId: task.caseId, events: events)
        var preds: [String: DevicePredecessor] = [:]
        for s in state.segments { preds[s.value.segmentId] = try await store.predecessor(of: s.value) }
        let frozen = preds
        var out = taskJSON(task)
        let trigger: ReviewTrigger = state.issued[task.decisionId] != nil ? .issued : .drafted
        if let view = DecisionView(state: state, decisionId: task.decisionId, trigger: trigger) {
            let review = DecisionReview(state: state, decision: view, rules: settings.rules, book: book, calendar: calendar, predecessor: { frozen[$0.segmentId] ?? .none })
            let c = review.classification()
            out["classification"] = ["major": c.major, "reasons": c.reasons.map { ["code": $0.code, "zh": $0.zh, "en": $0.en] }]
            out["findings"] = review.findings().map { f in
                ["checkId": f.checkId, "check": f.check, "result": f.result.rawValue, "reasonZh": f.reasonZh, "reasonEn": f.reasonEn, "eventIds": f.eventIds] as [String: Any]
            }
        }
        out["case"] = CaseView.json(state, book: book, rules: settings.rules)
        out["opinions"] = try await store.opinions(caseId: task.caseId).filter { $0.decisionId == task.decisionId }.map { o in
            ["opinionId": o.opinionId, "taskId": o.taskId, "reviewerId": o.reviewerId, "opinion": o.opinion.rawValue, "reasons": o.reasons ?? "", "at": ChinaTime.format(o.at)] as [String: Any]
        }
        return JSONResponse.make(out)
    }
}

/// The case as a reviewer reads it: acts with their AV timelines and gaps, documents, notices,
/// hearing, drafts and the issued decision.
enum CaseView {
    static func json(_ s: CaseState, book: RulesBook, rules: ReviewRules) -> [String: Any] {
        var o: [String: Any] = ["caseId": s.caseId]
        if let opened = s.opened?.value {
            o["agencyId"] = opened.agencyId
            o["matterCode"] = opened.matterCode
            o["matterName"] = book.matters[opened.matterCode]?.name ?? opened.matterCode
            o["procedure"] = opened.procedure.rawValue
            o["caseNumber"] = opened.caseNumber ?? ""
            o["openedAt"] = opened.openedAt.text
            o["summary"] = opened.summary ?? ""
            o["party"] = ["kind": opened.party.kind.rawValue, "name": opened.party.name, "creditCode": opened.party.creditCode ?? "",
                          "legalRepresentative": opened.party.legalRepresentative ?? "", "birthDate": opened.party.birthDate?.description ?? ""]
            o["officers"] = opened.officers.map { ["officerId": $0.officerId, "credentialNumber": $0.credentialNumber] }
        }
        o["acts"] = s.actions.sorted { $0.value.startedAt < $1.value.startedAt }.map { act -> [String: Any] in
            let a = act.value
            let cov = AVCoverage.of(act, segments: s.segments, toleranceSeconds: rules.avGapToleranceSeconds)
            return [
                "eventId": act.eventId, "actionId": a.actionId, "actionType": a.actionType.rawValue,
                "startedAt": a.startedAt.text, "endedAt": a.endedAt.text, "place": a.place.address, "adminArea": a.place.adminArea ?? "",
                "officers": a.officers.map(\.officerId), "partySignature": a.partySignature?.rawValue ?? "", "witness": a.witness ?? "",
                "priorApprovalRef": a.priorApprovalRef ?? "",
                "documents": (a.documents ?? []).map { ["docType": $0.docType, "docNumber": $0.docNumber ?? "", "sha256": $0.sha256] },
                "avMandatory": rules.mandatoryAVActions.contains(a.actionType),
                "av": [
                    "complete": cov.complete,
                    "segments": cov.spans.map { ["segmentId": $0.segmentId, "deviceId": $0.deviceId, "from": ChinaTime.formatRounded($0.start), "to": ChinaTime.formatRounded($0.end)] },
                    "gaps": cov.gaps.map { g -> [String: Any] in
                        ["from": ChinaTime.formatRounded(g.from), "to": ChinaTime.formatRounded(g.to), "seconds": Int(g.seconds.rounded()), "reason": g.reason ?? "", "explained": !g.unexplained]
                    },
                ] as [String: Any],
            ]
        }
        o["segments"] = s.segments.map { ["segmentId": $0.value.segmentId, "deviceId": $0.value.deviceId, "actionId": $0.value.actionId ?? "",
                                          "from": $0.value.startedAt.text, "to": $0.value.endedAt.text, "gapReason": $0.value.gapReason ?? ""] }
        o["notices"] = s.notices.map { ["noticeId": $0.value.noticeId, "noticeType": $0.value.noticeType.rawValue, "servedAt": $0.value.servedAt.text, "method": $0.value.method] }
        o["hearings"] = s.hearings.map { h -> [String: Any] in
            ["hearingId": h.value.hearingId, "requestedAt": h.value.requestedAt.text, "noticeServedAt": h.value.noticeServedAt?.text ?? "",
             "heldAt": h.value.heldAt?.text ?? "", "hostOfficerId": h.value.hostOfficerId ?? ""]
        }
        o["drafts"] = s.drafts.values.flatMap { $0 }.map { d -> [String: Any] in
            ["eventId": d.eventId, "decisionId": d.value.decisionId, "draftedAt": d.value.draftedAt.text, "facts": d.value.facts,
             "penalties": d.value.penalties.map(penaltyText), "legalBasis": d.value.legalBasis.map { "\($0.law)\($0.article)" },
             "evidence": (d.value.evidence ?? []).map { "\($0.docType) \($0.docNumber ?? "")" },
             "discretion": d.value.discretion?.level?.rawValue ?? "", "discretionReasons": d.value.discretion?.reasons ?? "",
             "collectiveDiscussionRef": d.value.collectiveDiscussionRef ?? ""]
        }
        o["issued"] = s.issued.values.map { i -> [String: Any] in
            ["eventId": i.eventId, "decisionId": i.value.decisionId, "documentNumber": i.value.documentNumber, "issuedAt": i.value.issuedAt.text,
             "penalties": i.value.penalties.map(penaltyText)]
        }
        return o
    }

    static func penaltyText(_ p: Penalty) -> String {
        var s = p.kind.rawValue
        if let a = p.amountFen { s += " \(a % 100 == 0 ? String(a / 100) : String(format: "%.2f", Double(a) / 100)) 元" }
        if let d = p.description { s += " \(d)" }
        return s
    }
}
