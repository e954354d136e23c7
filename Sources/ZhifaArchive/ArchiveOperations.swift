import Foundation
import ZhifaDomain
import ZhifaRuntime

/// A registered archivist (档案管理人员), from `config/archivists.yaml`.
public struct Archivist: Codable, Sendable, Equatable {
    public var archivistId: String
    public var agencyId: String
    public var name: String
}

/// What archivists and operators do with the archive: read a case's record and completeness,
/// verify, export. Shared by the HTTP API and the `zhifa archive` commands; every read and export
/// is written to the audit log.
public struct ArchiveOperations: Sendable {
    public let store: any ArchiveStore
    public let rules: ReviewRules

    public init(store: any ArchiveStore, rules: ReviewRules) {
        self.store = store
        self.rules = rules
    }

    /// The archivists in the registry, checked against the agencies.
    public static func archivists(_ file: URL, book: RulesBook) throws -> [String: Archivist] {
        struct Doc: Decodable { var archivists: [Archivist] }
        let list = try RulesFile.decode(Doc.self, from: file).archivists
        for (i, a) in list.enumerated() where book.agencies[a.agencyId] == nil {
            throw ConfigError(file: file.path, key: "archivists[\(i)].agencyId", problem: "agency \(a.agencyId) is not defined in agencies.yaml")
        }
        return Dictionary(list.map { ($0.archivistId, $0) }, uniquingKeysWith: { a, _ in a })
    }

    /// The agency that opened a case, from its archived record.
    public func agency(of items: [ArchivedItem]) -> String? {
        for i in items { if case .caseOpened(let o)? = i.enforcementEvent?.payload { return o.agencyId } }
        return nil
    }

    /// A case's record.
    public func record(_ caseId: String, actor: String) async throws -> (CaseRecord, [ArchivedItem]) {
        let items = try await store.caseItems(caseId)
        try await store.audit(actor: actor, action: "read-record", target: caseId, at: Date())
        return (CaseRecordBuilder.record(caseId: caseId, items: items), items)
    }

    /// A case's completeness report.
    public func completeness(_ caseId: String, actor: String) async throws -> CompletenessReport {
        let items = try await store.caseItems(caseId)
        try await store.audit(actor: actor, action: "read-completeness", target: caseId, at: Date())
        return try await completeness(caseId, items: items)
    }

    func completeness(_ caseId: String, items: [ArchivedItem]) async throws -> CompletenessReport {
        var predecessors: [String: DevicePredecessor] = [:]
        for i in items {
            if case .avSegmentRegistered(let s)? = i.enforcementEvent?.payload { predecessors[s.segmentId] = try await store.predecessor(of: s) }
        }
        let known = predecessors
        return CaseRecordBuilder.completeness(caseId: caseId, items: items, rules: rules) { known[$0.segmentId] ?? .none }
    }

    /// 四性检测 of the whole archive or one case.
    public func verify(caseId: String?, actor: String) async throws -> FourPropertiesReport {
        try await store.audit(actor: actor, action: "verify", target: caseId ?? "*", at: Date())
        return try await store.verify(caseId: caseId, now: Date())
    }

    /// The archive package of a case.
    public func export(_ caseId: String, actor: String) async throws -> Data {
        let items = try await store.caseItems(caseId)
        guard !items.isEmpty else { throw ArchiveOperationError.unknownCase(caseId) }
        try await store.audit(actor: actor, action: "export", target: caseId, at: Date())
        let messages = items.messages
        let record = CaseRecordBuilder.record(caseId: caseId, items: items)
        let completeness = try await completeness(caseId, items: messages)
        let verify = try await store.verify(caseId: caseId, now: Date())
        var tombstones: [String: Tombstone] = [:]
        for i in items.tombstones {
            if let p = i.payload, let t = try? JSONDecoder().decode(Tombstone.self, from: Data(p)) { tombstones["\(t.chain)#\(t.sequence)"] = t }
        }
        let heads = Dictionary(uniqueKeysWithValues: try await store.heads().map { ($0.chain, $0) })
        var proofs: [ArchivePackage.ChainProof] = []
        for (chain, entries) in Dictionary(grouping: items.map(\.entry), by: \.chain).sorted(by: { $0.key < $1.key }) {
            let first = entries.map(\.sequence).min() ?? 1
            let last = entries.map(\.sequence).max() ?? 1
            var head = heads[chain]
            var published = false
            if let p = try await store.publishedHead(chain), p.sequence >= last {
                head = p
                published = true
            }
            guard let head else { continue }
            proofs.append(ArchivePackage.ChainProof(chain: chain, links: try await store.links(chain: chain, from: first, through: head.sequence), head: head, headPublished: published))
        }
        return try ArchivePackage.build(caseId: caseId, items: items, proofs: proofs, record: record, completeness: completeness, verify: verify,
                                        tombstones: tombstones, exportedBy: actor, at: Date())
    }
}

/// Why an archive operation could not be done.
public enum ArchiveOperationError: Error, CustomStringConvertible {
    case unknownCase(String)

    public var description: String {
        switch self {
        case .unknownCase(let id): "no entries are archived for case \(id)"
        }
    }
}
