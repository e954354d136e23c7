import AsyncHTTPClient
import Crypto
import Foundation
import NIOCore
import NIOHTTP1
import Synchronization
import ZhifaRuntime

/// The ingest's answer to one request.
public struct IngestResponse: Sendable {
    public var status: Int
    public var body: [UInt8]
    /// `Retry-After` in seconds, on 503.
    public var retryAfter: Int?
    /// The `Content-Type` of the answer (`application/problem+json` on errors).
    public var contentType: String? = nil

    /// The body as JSON.
    public var json: Any? { try? JSONSerialization.jsonObject(with: Data(body)) }
}

/// Sends signed events to the ingest (`POST /v1/events`, `POST /v1/events:batch`) as a terminal
/// does: Ed25519 over `METHOD \n PATH \n DATE \n hex(SHA-256(body))`.
public final class IngestClient: Sendable {
    private let base: String
    private let http: HTTPClient
    private let keys: Mutex<[String: Curve25519.Signing.PrivateKey]>
    private let configDirectory: URL

    /// A client for the ingest at `baseURL` (e.g. `http://127.0.0.1:8080`), signing with the demo
    /// device keys in `<config>/dev-keys/`.
    public init(baseURL: String, configDirectory: URL) {
        base = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
        var c = HTTPClient.Configuration()
        c.timeout = .init(connect: .seconds(5), read: .seconds(60))
        c.connectionPool = .init(idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: 64)
        http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: c)
        keys = Mutex([:])
        self.configDirectory = configDirectory
    }

    /// Uses a given private key for a device (instead of its demo key).
    public func setKey(_ key: Curve25519.Signing.PrivateKey, for deviceId: String) {
        keys.withLock { $0[deviceId] = key }
    }

    private func key(_ deviceId: String) throws -> Curve25519.Signing.PrivateKey {
        if let k = keys.withLock({ $0[deviceId] }) { return k }
        let k = try DemoDeviceKeys.load(deviceId: deviceId, configDirectory: configDirectory)
        keys.withLock { $0[deviceId] = k }
        return k
    }

    /// One structured-mode event.
    public func send(_ event: [UInt8], deviceId: String, contentType: String = "application/cloudevents+json") async throws -> IngestResponse {
        try await post("/v1/events", body: event, deviceId: deviceId, contentType: contentType)
    }

    /// A batch: the events as one JSON array.
    public func sendBatch(_ events: [[UInt8]], deviceId: String) async throws -> IngestResponse {
        var body = Array("[".utf8)
        for (i, e) in events.enumerated() {
            if i > 0 { body.append(UInt8(ascii: ",")) }
            body += e
        }
        body.append(UInt8(ascii: "]"))
        return try await post("/v1/events:batch", body: body, deviceId: deviceId, contentType: "application/cloudevents-batch+json")
    }

    /// A request with explicit headers (tests use it to send wrong signatures and dates).
    public func post(_ path: String, body: [UInt8], deviceId: String?, contentType: String, signedAt: Date = Date(), extraHeaders: [(String, String)] = []) async throws -> IngestResponse {
        var request = HTTPClientRequest(url: base + path)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: contentType)
        if let deviceId {
            for (n, v) in try DeviceSignature.headers(method: "POST", path: path, body: body, deviceId: deviceId, privateKey: key(deviceId), now: signedAt) {
                request.headers.add(name: n, value: v)
            }
        }
        for (n, v) in extraHeaders { request.headers.replaceOrAdd(name: n, value: v) }
        request.body = .bytes(ByteBuffer(bytes: body))
        let response = try await http.execute(request, timeout: .seconds(60))
        let data = try await response.body.collect(upTo: 16 << 20)
        return IngestResponse(status: Int(response.status.code), body: Array(data.readableBytesView),
                              retryAfter: response.headers.first(name: "Retry-After").flatMap(Int.init),
                              contentType: response.headers.first(name: "Content-Type"))
    }

    /// Any GET (health, readiness).
    public func get(_ path: String) async throws -> IngestResponse {
        let response = try await http.execute(HTTPClientRequest(url: base + path), timeout: .seconds(30))
        let data = try await response.body.collect(upTo: 16 << 20)
        return IngestResponse(status: Int(response.status.code), body: Array(data.readableBytesView), retryAfter: nil,
                              contentType: response.headers.first(name: "Content-Type"))
    }

    /// Closes the HTTP client.
    public func close() async { try? await http.shutdown() }
}
