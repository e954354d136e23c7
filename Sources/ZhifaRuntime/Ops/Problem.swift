import Foundation
import HTTPTypes
import Hummingbird

/// An RFC 9457 problem: the error body of every Zhifa HTTP answer (`application/problem+json`).
///
/// `detail` and `errors` must never carry personal data from the request.
public struct Problem: Error, HTTPResponseError, Sendable {
    /// One failing field of a validation error.
    public struct FieldError: Sendable, Codable, Equatable {
        /// JSON Pointer to the field, e.g. `/data/party/idNumber`.
        public var pointer: String
        /// What is wrong with it.
        public var detail: String
        public init(pointer: String, detail: String) {
            self.pointer = pointer
            self.detail = detail
        }
    }

    public var status: HTTPResponse.Status
    public var title: String
    public var detail: String
    public var type: String
    public var errors: [FieldError]
    /// Extra response headers (e.g. `Retry-After`, `WWW-Authenticate`).
    public var extraHeaders: HTTPFields

    /// Creates a problem.
    public init(
        _ status: HTTPResponse.Status, title: String? = nil, detail: String, type: String = "about:blank",
        errors: [FieldError] = [], headers: HTTPFields = [:]
    ) {
        self.status = status
        self.title = title ?? status.reasonPhrase
        self.detail = detail
        self.type = type
        self.errors = errors
        self.extraHeaders = headers
    }

    /// The JSON body.
    public var body: [String: Any] {
        var b: [String: Any] = ["type": type, "title": title, "status": Int(status.code), "detail": detail]
        if !errors.isEmpty { b["errors"] = errors.map { ["pointer": $0.pointer, "detail": $0.detail] } }
        return b
    }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        var headers = extraHeaders
        headers[.contentType] = "application/problem+json"
        let data = (try? JSONSerialization.data(withJSONObject: body, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data()
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}

/// Turns every error that is not already a `Problem` into one, so no answer is plain text and no
/// internal error text (which might hold personal data) reaches the client.
public struct ProblemMiddleware<Context: RequestContext>: RouterMiddleware {
    public init() {}

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let p as Problem {
            throw p
        } catch let e as HTTPError {
            let detail: String
            switch e.status {
            case .notFound: detail = "no resource at \(request.uri.path)"
            case .methodNotAllowed: detail = "\(request.method) is not allowed on \(request.uri.path)"
            default: detail = e.body ?? e.status.reasonPhrase
            }
            throw Problem(e.status, detail: detail)
        } catch {
            context.logger.error("request failed", metadata: ["error": "\((error as? any SafelyDescribedError)?.safeDescription ?? String(describing: type(of: error)))"])
            throw Problem(.internalServerError, detail: "the server could not complete the request; the operator can find it in the service log")
        }
    }
}

/// JSON responses.
public enum JSONResponse {
    /// A JSON body from `JSONSerialization`-compatible values.
    public static func make(_ object: Any, status: HTTPResponse.Status = .ok, contentType: String = "application/json; charset=utf-8", headers: HTTPFields = [:]) -> Response {
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data("{}".utf8)
        var h = headers
        h[.contentType] = contentType
        return Response(status: status, headers: h, body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }

    /// A body of ready JSON text.
    public static func make(rawJSON: String, status: HTTPResponse.Status = .ok) -> Response {
        var h = HTTPFields()
        h[.contentType] = "application/json; charset=utf-8"
        return Response(status: status, headers: h, body: .init(byteBuffer: ByteBuffer(string: rawJSON)))
    }

    /// A JSON body from an `Encodable` value.
    public static func encode<T: Encodable>(_ value: T, status: HTTPResponse.Status = .ok, headers: HTTPFields = [:]) throws -> Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        var h = headers
        h[.contentType] = "application/json; charset=utf-8"
        return Response(status: status, headers: h, body: .init(byteBuffer: ByteBuffer(bytes: try encoder.encode(value))))
    }
}
