import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1

/// A small HTTP client for tests: JSON in, status and JSON out.
public final class HTTPTestClient: Sendable {
    let http: HTTPClient

    /// Uses the process-wide shared client, so a test that fails early leaks nothing that traps.
    public init() { http = HTTPClient.shared }

    public struct Reply: Sendable {
        public var status: Int
        public var body: [UInt8]
        public var headers: [(String, String)]
        public var json: [String: Any]? { (try? JSONSerialization.jsonObject(with: Data(body))) as? [String: Any] }
        public var text: String { String(decoding: body, as: UTF8.self) }
        public func header(_ name: String) -> String? { headers.first { $0.0.lowercased() == name.lowercased() }?.1 }
    }

    public func request(_ method: HTTPMethod, _ url: String, token: String? = nil, json: Any? = nil, headers: [(String, String)] = [],
                        rawBody: [UInt8]? = nil) async throws -> Reply {
        var r = HTTPClientRequest(url: url)
        r.method = method
        if let token { r.headers.add(name: "Authorization", value: "Bearer \(token)") }
        for (n, v) in headers { r.headers.add(name: n, value: v) }
        if let rawBody { r.body = .bytes(ByteBuffer(bytes: rawBody)) }
        if let json {
            r.headers.add(name: "Content-Type", value: "application/json")
            r.body = .bytes(ByteBuffer(bytes: Array(try JSONSerialization.data(withJSONObject: json, options: [.fragmentsAllowed]))))
        }
        let response = try await http.execute(r, timeout: .seconds(30))
        let body = try await response.body.collect(upTo: 32 << 20)
        return Reply(status: Int(response.status.code), body: Array(body.readableBytesView), headers: response.headers.map { ($0.name, $0.value) })
    }

    public func get(_ url: String, token: String? = nil, headers: [(String, String)] = []) async throws -> Reply { try await request(.GET, url, token: token, headers: headers) }
    public func post(_ url: String, token: String? = nil, json: Any? = nil) async throws -> Reply { try await request(.POST, url, token: token, json: json) }

    public func close() async {}
}
