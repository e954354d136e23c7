import Foundation

/// An archived entry with its payload (nil once retention removed it).
extension Sequence where Element == ArchivedItem {
    /// The archived Kafka messages, without tombstones, in order.
    public var messages: [ArchivedItem] {
        var out: [ArchivedItem] = []
        for item in self where item.entry.kind == .message { out.append(item) }
        return out
    }

    /// The tombstones of removed payloads, in order.
    public var tombstones: [ArchivedItem] {
        var out: [ArchivedItem] = []
        for item in self where item.entry.kind == .tombstone { out.append(item) }
        return out
    }
}

public struct ArchivedItem: Sendable {
    public var entry: ArchiveEntry
    public var payload: [UInt8]?

    public init(entry: ArchiveEntry, payload: [UInt8]?) {
        self.entry = entry
        self.payload = payload
    }

    /// The contract event it holds (binary mode: `ce_*` headers and the value), if valid.
    public var enforcementEvent: EnforcementEvent? {
        guard entry.valid, let payload, let id = entry.header("ce_id"), let type = entry.header("ce_type"),
              let source = entry.header("ce_source"), let time = entry.header("ce_time") else { return nil }
        let ce = CloudEvent(id: id, source: source, type: type, time: time, dataContentType: entry.header("content-type"), data: payload)
        return try? EnforcementEvent.decode(ce)
    }

    /// The payload as JSON, if it parses.
    public var json: JSONValue? { payload.flatMap { try? JSONParser.parse($0) } }

    /// The event's own time (`ce_time`), else when it was archived.
    public var time: String { entry.header("ce_time") ?? entry.receivedAt }
}

/// A case's record as archived: every entry about the case in order, by section.
public struct CaseRecord: Codable, Sendable {
    public struct Item: Codable, Sendable, Equatable {
        /// opening, act, av, notice, hearing, draft, decision, revocation, closing, review, publication, invalid, tombstone, other.
        public var section: String
        public var eventId: String
        public var eventType: String?
        public var time: String
        public var chain: String
        public var sequence: Int64
        public var hash: String
        public var valid: Bool
        public var invalidReason: String?
        /// Removed by retention (a tombstone remains).
        public var payloadRemoved: Bool
        public var summary: String
    }

    public var caseId: String
    public var agencyId: String?
    public var items: [Item]
    /// Items per section.
    public var counts: [String: Int]
}

/// Whether a case's record is complete (DOMAIN.md §3). Reported, never a reason for `verify` to fail.
public struct CompletenessReport: Codable, Sendable {
    public struct Check: Codable, Sendable, Equatable {
        public var name: String
        public var nameZh: String
        /// `ok`, `incomplete`, `pending` (not due yet) or `notApplicable`.
        public var status: String
        public var detail: String
    }

    public struct Coverage: Codable, Sendable, Equatable {
        public struct Gap: Codable, Sendable, Equatable {
            public var from: String
            public var to: String
            public var seconds: Double
            public var reason: String?
            public var explained: Bool
        }
        public var actionId: String
        public var actionType: String
        public var start: String
        public var end: String
        public var segments: [String]
        public var complete: Bool
        public var gaps: [Gap]
    }

    public var caseId: String
    public var complete: Bool
    public var checks: [Check]
    public var avCoverage: [Coverage]

    /// A text rendering for operators.
    public var text: String {
        var lines = ["case \(caseId): \(complete ? "complete" : "INCOMPLETE")"]
        for c in checks { lines.append("  [\(c.status)] \(c.name) \(c.nameZh): \(c.detail)") }
        for a in avCoverage {
            lines.append("  act \(a.actionId) (\(a.actionType)) \(a.start) – \(a.end): \(a.complete ? "covered" : "NOT covered") by \(a.segments.joined(separator: ", "))")
            for g in a.gaps {
                lines.append("    gap \(g.from) – \(g.to) (\(Int(g.seconds)) s): \(g.explained ? "explained: \(g.reason ?? "")" : "UNEXPLAINED")")
            }
        }
        return lines.joined(separator: "\n")
    }
}

/// Builds a case's record and completeness from its archived entries. Pure.
public enum CaseRecordBuilder {
    static func section(_ item: ArchivedItem) -> String {
        if item.entry.kind == .tombstone { return "tombstone" }
        guard item.entry.valid else { return "invalid" }
        guard let t = item.entry.eventType else { return "other" }
        if t.hasPrefix("cn.zhifa.review.") { return "review" }
        if t.hasPrefix("cn.zhifa.publicity.") { return "publication" }
        switch EventType(rawValue: t) {
        case .caseOpened: return "opening"
        case .actionRecorded: return "act"
        case .avSegmentRegistered: return "av"
        case .noticeServed: return "notice"
        case .hearingRecorded: return "hearing"
        case .decisionDrafted: return "draft"
        case .decisionIssued: return "decision"
        case .decisionRevoked: return "revocation"
        case .caseClosed: return "closing"
        case nil: return "other"
        }
    }

    static func summary(_ item: ArchivedItem) -> String {
        if item.entry.kind == .tombstone { return "tombstone: " + ((item.payload.flatMap { try? JSONDecoder().decode(Tombstone.self, from: Data($0)) })?.reason ?? "") }
        if !item.entry.valid { return "invalid: \(item.entry.invalidReason ?? "")" }
        if item.payload == nil { return "payload removed under the retention schedule" }
        if let e = item.enforcementEvent {
            switch e.payload {
            case .caseOpened(let o): return "opened: \(o.category.rawValue), \(o.procedure.rawValue) procedure, matter \(o.matterCode)"
            case .actionRecorded(let a): return "\(a.actionType.rawValue) \(ChinaTime.format(a.startedAt.date)) – \(ChinaTime.format(a.endedAt.date)), \(a.officers.count) officer(s)"
            case .avSegmentRegistered(let s): return "segment \(s.segmentId) on \(s.deviceId), \(ChinaTime.format(s.startedAt.date)) – \(ChinaTime.format(s.endedAt.date))"
            case .noticeServed(let n): return "\(n.noticeType.rawValue) served \(ChinaTime.format(n.servedAt.date))"
            case .hearingRecorded(let h): return "hearing \(h.hearingId)\(h.withdrawn == true ? " (withdrawn)" : "")"
            case .decisionDrafted(let d): return "draft of \(d.decisionId), \(d.penalties.count) penalty(ies)"
            case .decisionIssued(let d): return "\(d.documentNumber) issued \(ChinaTime.format(d.issuedAt.date))"
            case .decisionRevoked(let r): return "\(r.decisionId) \(r.change.rawValue)"
            case .caseClosed(let c): return "closed: \(c.outcome.rawValue)"
            }
        }
        let j = item.json
        if let t = item.entry.eventType, t.hasPrefix("cn.zhifa.review.") {
            let what = t.dropFirst("cn.zhifa.review.".count).split(separator: ".").first.map(String.init) ?? t
            let detail = [j?["decisionId"]?.stringValue, j?["opinion"]?.stringValue, j?["state"]?.stringValue, j?["major"]?.boolValue.map { $0 ? "major" : "not major" }]
                .compactMap { $0 }.joined(separator: ", ")
            return "review \(what): \(detail)"
        }
        if let t = item.entry.eventType, t.hasPrefix("cn.zhifa.publicity.") {
            return "publicity \(j?["status"]?.stringValue ?? ""): \(j?["entryId"]?.stringValue ?? "")"
        }
        return item.entry.eventType ?? "message"
    }

    /// The record: every item, ordered by the event's time, then by archive order.
    public static func record(caseId: String, items: [ArchivedItem]) -> CaseRecord {
        let ordered = items.sorted { ($0.time, $0.entry.receivedAt, $0.entry.chain, $0.entry.sequence) < ($1.time, $1.entry.receivedAt, $1.entry.chain, $1.entry.sequence) }
        var counts: [String: Int] = [:]
        var agency: String? = nil
        let out = ordered.map { i -> CaseRecord.Item in
            let s = section(i)
            counts[s, default: 0] += 1
            if case .caseOpened(let o)? = i.enforcementEvent?.payload { agency = o.agencyId }
            return CaseRecord.Item(section: s, eventId: i.entry.eventId, eventType: i.entry.eventType, time: i.time, chain: i.entry.chain, sequence: i.entry.sequence,
                                   hash: i.entry.hash, valid: i.entry.valid, invalidReason: i.entry.invalidReason, payloadRemoved: i.payload == nil, summary: summary(i))
        }
        return CaseRecord(caseId: caseId, agencyId: agency, items: out, counts: counts)
    }

    /// Completeness: mandatory-AV acts covered start to end (gaps with and without reasons),
    /// per-device segment chains intact, documents the decisions reference present, decisions
    /// served, and published on time.
    public static func completeness(caseId: String, items: [ArchivedItem], rules: ReviewRules,
                                    predecessor: (AVSegmentRegistered) -> DevicePredecessor) -> CompletenessReport {
        let events = items.compactMap { i in i.enforcementEvent }
        let state = CaseState.fold(caseId: caseId, events: events)
        var checks: [CompletenessReport.Check] = []

        // 1. Mandatory audio-visual recording.
        var coverage: [CompletenessReport.Coverage] = []
        let mandatory = state.actions.filter { rules.mandatoryAVActions.contains($0.value.actionType) }
        for act in mandatory {
            let c = AVCoverage.of(act, segments: state.segments, toleranceSeconds: rules.avGapToleranceSeconds)
            coverage.append(.init(actionId: c.actionId, actionType: c.actionType.rawValue, start: ChinaTime.format(c.actStart), end: ChinaTime.format(c.actEnd),
                                  segments: c.spans.map(\.segmentId), complete: c.complete,
                                  gaps: c.gaps.map { .init(from: ChinaTime.format($0.from), to: ChinaTime.format($0.to), seconds: $0.seconds, reason: $0.reason, explained: !$0.unexplained) }))
        }
        if mandatory.isEmpty {
            checks.append(.init(name: "avCoverage", nameZh: "音像记录覆盖", status: "notApplicable", detail: "no act that requires audio-visual recording"))
        } else {
            let bad = coverage.filter { !$0.complete }
            let explained = coverage.flatMap(\.gaps).filter(\.explained).count
            checks.append(.init(name: "avCoverage", nameZh: "音像记录覆盖", status: bad.isEmpty ? "ok" : "incomplete",
                                detail: bad.isEmpty ? "\(coverage.count) act(s) covered from start to end\(explained > 0 ? "; \(explained) gap(s) explained" : "")"
                                    : bad.map { a in "\(a.actionId) (\(a.actionType)): " + (a.segments.isEmpty ? "no recording" : a.gaps.filter { !$0.explained }.map { "unexplained gap \($0.from) – \($0.to) (\(Int($0.seconds)) s)" }.joined(separator: ", ")) }.joined(separator: "; ")))
        }

        // 2. Per-device segment chains.
        if state.segments.isEmpty {
            checks.append(.init(name: "deviceChains", nameZh: "设备音像哈希链", status: "notApplicable", detail: "no audio-visual segments"))
        } else {
            var problems: [String] = []
            for seg in state.segments {
                let s = seg.value
                let link = predecessor(s).link(of: s)  // bound first: Swift 6.3's optimizer crashes (CopyPropagation) switching on the call
                switch link {
                case .first, .intact: break
                case .unknownPredecessor: problems.append("\(s.segmentId) links to a previous segment of \(s.deviceId) that is not archived")
                case .unlinked(let prevId), .mismatch(let prevId): problems.append("\(s.segmentId) does not link to \(s.deviceId)'s previous segment \(prevId)")
                }
            }
            checks.append(.init(name: "deviceChains", nameZh: "设备音像哈希链", status: problems.isEmpty ? "ok" : "incomplete",
                                detail: problems.isEmpty ? "\(state.segments.count) segment(s), every device chain intact" : problems.joined(separator: "; ")))
        }

        // 3. Documents and recordings the decisions reference.
        let documents = state.actions.flatMap { $0.value.documents ?? [] }
        let segmentIds = Set(state.segments.map(\.value.segmentId))
        var missing: [String] = []
        var referenced = 0
        for draft in state.drafts.values.compactMap(\.last) {
            for d in draft.value.evidence ?? [] {
                referenced += 1
                let present = documents.contains { doc in doc.sha256 == d.sha256 || (d.docNumber != nil && doc.docNumber == d.docNumber) }
                if !present { missing.append("\(draft.value.decisionId): \(d.docType) \(d.docNumber ?? "")") }
            }
            for id in draft.value.avEvidenceSegmentIds ?? [] {
                referenced += 1
                if !segmentIds.contains(id) { missing.append("\(draft.value.decisionId): recording \(id)") }
            }
        }
        checks.append(.init(name: "referencedDocuments", nameZh: "决定引用的证据材料", status: referenced == 0 ? "notApplicable" : missing.isEmpty ? "ok" : "incomplete",
                            detail: referenced == 0 ? "no decision references documents or recordings" : missing.isEmpty ? "\(referenced) reference(s), all archived" : "not archived: " + missing.joined(separator: "; ")))

        // 4. Decisions served (送达), on the spot or by notice.
        let issued = state.issued.values.sorted { $0.value.decisionId < $1.value.decisionId }
        if issued.isEmpty {
            checks.append(.init(name: "decisionServed", nameZh: "决定书送达", status: "pending", detail: "no decision issued yet"))
        } else {
            let unserved = issued.filter { d in
                let byNotice = state.notices.contains { $0.value.noticeType == .decisionService && ($0.value.decisionId == nil || $0.value.decisionId == d.value.decisionId) }
                let onTheSpot = documents.contains { $0.docNumber == d.value.documentNumber }
                return !byNotice && !onTheSpot
            }
            checks.append(.init(name: "decisionServed", nameZh: "决定书送达", status: unserved.isEmpty ? "ok" : "incomplete",
                                detail: unserved.isEmpty ? "\(issued.count) decision(s) served" : "no service recorded for " + unserved.map(\.value.documentNumber).joined(separator: ", ")))
        }

        // 5. Published on time (as the publicity service reported on zhifa.publicity.v1).
        var publications: [String: JSONValue] = [:]
        for i in items where i.entry.eventType?.hasPrefix("cn.zhifa.publicity.") == true {
            if let j = i.json, let d = j["decisionId"]?.stringValue { publications[d] = j }
        }
        if issued.isEmpty {
            checks.append(.init(name: "publishedOnTime", nameZh: "按期公示", status: "pending", detail: "no decision issued yet"))
        } else {
            var late: [String] = []
            var unpublished: [String] = []
            for d in issued {
                guard let p = publications[d.value.decisionId] else { unpublished.append(d.value.documentNumber); continue }
                if p["late"]?.boolValue == true { late.append("\(d.value.documentNumber) (due \(p["dueDate"]?.stringValue ?? "?"), published \(p["publishedAt"]?.stringValue ?? "?"))") }
            }
            let status = !late.isEmpty ? "incomplete" : unpublished.isEmpty ? "ok" : "pending"
            var detail: [String] = []
            if !late.isEmpty { detail.append("published late: " + late.joined(separator: ", ")) }
            if !unpublished.isEmpty { detail.append("no publication archived (not yet published, or withheld by policy): " + unpublished.joined(separator: ", ")) }
            checks.append(.init(name: "publishedOnTime", nameZh: "按期公示", status: status, detail: detail.isEmpty ? "\(issued.count) decision(s) published on time" : detail.joined(separator: "; ")))
        }
        return CompletenessReport(caseId: caseId, complete: !checks.contains { $0.status == "incomplete" }, checks: checks, avCoverage: coverage)
    }
}
