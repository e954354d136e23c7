import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import ZhifaDomain
import ZhifaRuntime

/// The archivists' HTTP API (port 8083), bearer tokens with role `archivist`. An archivist sees
/// only their own agency's cases (another agency's case is 404). Every read and export goes to
/// the audit log.
public struct ArchiveAPI: Sendable {
    let operations: ArchiveOperations
    let tokens: BearerTokens
    let archivists: [String: Archivist]

    public init(operations: ArchiveOperations, tokens: BearerTokens, archivists: [String: Archivist]) {
        self.operations = operations
        self.tokens = tokens
        self.archivists = archivists
    }

    public func add(to router: Router<BasicRequestContext>) {
        router.get("/v1/archive/cases/:id") { request, context in try await record(request, id: context.parameters.get("id") ?? "") }
        router.get("/v1/archive/cases/:id/completeness") { request, context in try await completeness(request, id: context.parameters.get("id") ?? "") }
        router.get("/v1/archive/verify") { request, _ in try await verify(request) }
        router.post("/v1/archive/cases/:id/export") { request, context in try await export(request, id: context.parameters.get("id") ?? "") }
    }

    func archivist(_ request: Request) async throws -> Archivist {
        let claims = try await tokens.authenticate(request, role: "archivist")
        guard let a = archivists[claims.sub.value], a.agencyId == claims.agency else {
            throw Problem(.unauthorized, title: "Sign in again", detail: "the token's archivist is not (or no longer) registered", headers: [.wwwAuthenticate: "Bearer realm=\"zhifa\""])
        }
        return a
    }

    static func actor(_ a: Archivist) -> String { "archivist:\(a.archivistId)" }

    /// The case's items when it belongs to the archivist's agency.
    func ownCase(_ id: String, _ a: Archivist) async throws -> [ArchivedItem] {
        let items = try await operations.store.caseItems(id)
        guard !items.isEmpty, operations.agency(of: items) == a.agencyId else {
            throw Problem(.notFound, title: "No such case", detail: "no case \(id.prefix(80)) is archived for your agency")
        }
        return items
    }

    func record(_ request: Request, id: String) async throws -> Response {
        let a = try await archivist(request)
        _ = try await ownCase(id, a)
        let (record, _) = try await operations.record(id, actor: Self.actor(a))
        return try JSONResponse.encode(record)
    }

    func completeness(_ request: Request, id: String) async throws -> Response {
        let a = try await archivist(request)
        _ = try await ownCase(id, a)
        return try JSONResponse.encode(try await operations.completeness(id, actor: Self.actor(a)))
    }

    func verify(_ request: Request) async throws -> Response {
        let a = try await archivist(request)
        let caseId: String? = request.uri.queryParameters.get("case").map { String($0) }
        if let caseId { _ = try await ownCase(caseId, a) }
        return try JSONResponse.encode(try await operations.verify(caseId: caseId, actor: Self.actor(a)))
    }

    func export(_ request: Request, id: String) async throws -> Response {
        let a = try await archivist(request)
        _ = try await ownCase(id, a)
        let zip = try await operations.export(id, actor: Self.actor(a))
        let safe = id.filter { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" }
        return Response(status: .ok, headers: [.contentType: "application/zip", .contentDisposition: "attachment; filename=\"\(safe)-aip.zip\""],
                        body: .init(byteBuffer: ByteBuffer(bytes: zip)))
    }
}
