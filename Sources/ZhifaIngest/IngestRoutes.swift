import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import Metrics
import ZhifaDomain
import ZhifaRuntime

/// `POST /v1/events` and `POST /v1/events:batch`.
///
/// Order of checks: body size (413) → device signature (401) → content type (415) → JSON (400) →
/// contract (422) → agency (403) → duplicate (200) → durable in the outbox (202), or 503 when the
/// outbox is full. Every error is `application/problem+json` and never repeats request data.
public struct IngestRoutes: Sendable {
    let settings: IngestSettings
    let devices: DeviceRegistry
    let outbox: Outbox
    let logger: Logger
    let metrics: IngestMetrics
    let now: @Sendable () -> Date

    /// Creates the routes.
    public init(settings: IngestSettings, devices: DeviceRegistry, outbox: Outbox, metricsFactory: any MetricsFactory, logger: Logger, now: @escaping @Sendable () -> Date = Date.init) {
        self.settings = settings
        self.devices = devices
        self.outbox = outbox
        self.logger = logger
        self.metrics = IngestMetrics(factory: metricsFactory)
        self.now = now
    }

    /// Registers the routes.
    public func add(to router: Router<BasicRequestContext>) {
        router.post("/v1/events") { request, _ in try await self.single(request) }
        router.post("/v1/events:batch") { request, _ in try await self.batch(request) }
    }

    // MARK: single

    func single(_ request: Request) async throws -> Response {
        let body = try await collect(request, limit: settings.maxBodyBytes)
        let device = try authenticate(request, body: body)
        try requireContentType(request, "application/cloudevents+json")
        let (event, parsed) = try validated(body)
        let outcome = try await store([item(event, parsed: parsed, device: device)]).first!
        return try answer(outcome, id: event.id)
    }

    // MARK: batch

    func batch(_ request: Request) async throws -> Response {
        let body = try await collect(request, limit: settings.maxBatchBytes)
        let device = try authenticate(request, body: body)
        try requireContentType(request, "application/cloudevents-batch+json")
        let parsed: JSONValue
        do { parsed = try JSONParser.parse(body) } catch {
            metrics.rejected("malformed")
            throw Problem(.badRequest, title: "Malformed JSON", detail: "the body is not valid JSON: \(error.reason) at byte \(error.offset)")
        }
        guard case .array(let elements) = parsed, let raws = JSONRawMembers.elements(of: body) else {
            metrics.rejected("malformed")
            throw Problem(.badRequest, title: "Not a batch", detail: "a CloudEvents batch is a JSON array of events")
        }
        guard elements.count <= settings.maxBatchEvents else {
            metrics.rejected("tooLarge")
            throw Problem(.contentTooLarge, title: "Batch too large", detail: "the batch holds \(elements.count) events; at most \(settings.maxBatchEvents) are allowed per request")
        }
        var results: [[String: Any]] = Array(repeating: [:], count: elements.count)
        var toStore: [(index: Int, item: OutboxItem)] = []
        for (i, element) in elements.enumerated() {
            let id = element["id"]?.stringValue
            switch EventValidator.contract.validate(element) {
            case .valid:
                do {
                    let event = try StructuredCloudEvent.event(from: element, raw: Array(raws[i]))
                    toStore.append((i, item(event, parsed: element, device: device)))
                } catch {
                    results[i] = Self.result(id: id, problem: Problem(.badRequest, detail: "\(error)"))
                }
            case .invalid(let v):
                metrics.rejected("invalid")
                results[i] = Self.result(id: id, problem: Self.schemaProblem(v, pointerPrefix: "/\(i)"))
            case .notJSON:
                results[i] = Self.result(id: id, problem: Problem(.badRequest, detail: "not JSON"))
            }
        }
        let outcomes = try await store(toStore.map(\.item))
        for ((i, item), outcome) in zip(toStore, outcomes) {
            switch outcome {
            case .accepted: results[i] = ["id": item.id, "status": 202]
            case .duplicate: results[i] = ["id": item.id, "status": 200]
            case .forbidden(let why): results[i] = Self.result(id: item.id, problem: Problem(.forbidden, detail: why))
            case .full: results[i] = Self.result(id: item.id, problem: Problem(.serviceUnavailable, detail: "the outbox is full; retry later"))
            }
        }
        return JSONResponse.make(rawJSON: JSONValue.fromFoundation(["results": results]).jsonText)
    }

    static func result(id: String?, problem: Problem) -> [String: Any] {
        ["id": id as Any? ?? NSNull(), "status": Int(problem.status.code), "problem": problem.body]
    }

    // MARK: steps

    func collect(_ request: Request, limit: Int) async throws -> [UInt8] {
        if let length = request.headers[.contentLength].flatMap(Int.init), length > limit {
            metrics.rejected("tooLarge")
            throw Problem(.contentTooLarge, title: "Body too large", detail: "the body has \(length) bytes; at most \(limit) are allowed")
        }
        do {
            let buffer = try await request.body.collect(upTo: limit)
            return Array(buffer.readableBytesView)
        } catch {
            metrics.rejected("tooLarge")
            throw Problem(.contentTooLarge, title: "Body too large", detail: "the body exceeds \(limit) bytes")
        }
    }

    func authenticate(_ request: Request, body: [UInt8]) throws -> RegisteredDevice {
        do {
            return try DeviceAuthenticator(devices: devices, clockSkewSeconds: settings.clockSkewSeconds, now: now).authenticate(request, body: body)
        } catch {
            metrics.rejected("unauthenticated")
            throw error
        }
    }

    /// `{"id":…,"status":…}`, written with the domain's JSON writer (Foundation's
    /// `JSONSerialization` cost as much as the schema check on every accepted event).
    static func acknowledgement(id: String, status: String, code: HTTPResponse.Status) -> Response {
        JSONResponse.make(rawJSON: JSONValue.object(JSONObject([("id", .string(id)), ("status", .string(status))])).jsonText, status: code)
    }

    func requireContentType(_ request: Request, _ expected: String) throws {
        let given = request.headers[.contentType].map(Self.mediaType)
        guard given == expected else {
            metrics.rejected("unsupportedMediaType")
            throw Problem(.unsupportedMediaType, detail: "send Content-Type: \(expected)")
        }
    }

    func validated(_ body: [UInt8]) throws -> (CloudEvent, JSONValue) {
        switch EventValidator.contract.validate(structured: body) {
        case .notJSON(let e):
            metrics.rejected("malformed")
            throw Problem(.badRequest, title: "Malformed JSON", detail: "the body is not valid JSON: \(e.reason) at byte \(e.offset)")
        case .invalid(let v):
            metrics.rejected("invalid")
            throw Self.schemaProblem(v, pointerPrefix: "")
        case .valid(let parsed):
            do { return (try StructuredCloudEvent.event(from: parsed, raw: body), parsed) } catch {
                throw Problem(.badRequest, detail: "\(error)")
            }
        }
    }

    /// The media type of a `Content-Type` value: before any `;` parameters, without surrounding
    /// spaces, lower-cased.
    static func mediaType(_ value: String) -> String {
        let type = value.split(separator: ";", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
        let isBlank = { (c: Character) in c == " " || c == "\t" }
        guard let first = type.firstIndex(where: { !isBlank($0) }), let last = type.lastIndex(where: { !isBlank($0) }) else { return "" }
        return type[first...last].lowercased()
    }

    static func schemaProblem(_ v: [SchemaViolation], pointerPrefix: String) -> Problem {
        Problem(.unprocessableContent, title: "The event breaks the contract",
                detail: v.count == 1 ? "\(v[0].pointer): \(v[0].detail)" : "\(v.count) fields break the contract; see errors",
                type: "urn:zhifa:problem:contract-violation",
                errors: v.map { Problem.FieldError(pointer: pointerPrefix + $0.pointer, detail: "\($0.detail) (\($0.keyword))") })
    }

    func item(_ event: CloudEvent, parsed: JSONValue, device: RegisteredDevice) -> OutboxItem {
        let data = parsed["data"]
        return OutboxItem(
            id: event.id, caseId: data?["caseId"]?.stringValue, source: event.source, type: event.type, time: event.time,
            contentType: event.dataContentType, data: event.data, deviceAgency: device.agencyId,
            openedAgency: event.type == EventType.caseOpened.rawValue ? data?["agencyId"]?.stringValue : nil, deviceId: device.deviceId)
    }

    func store(_ items: [OutboxItem]) async throws -> [OutboxOutcome] {
        do {
            let outcomes = try await outbox.submit(items)
            for o in outcomes { metrics.outcome(o) }
            return outcomes
        } catch {
            throw Problem(.serviceUnavailable, detail: "the outbox cannot store events right now; retry later",
                          headers: [.retryAfter: String(settings.retryAfterSeconds)])
        }
    }

    func answer(_ outcome: OutboxOutcome, id: String) throws -> Response {
        switch outcome {
        case .accepted: return Self.acknowledgement(id: id, status: "accepted", code: .accepted)
        case .duplicate: return Self.acknowledgement(id: id, status: "duplicate", code: .ok)
        case .forbidden(let why): throw Problem(.forbidden, title: "Not this device's agency", detail: why)
        case .full:
            throw Problem(.serviceUnavailable, title: "Outbox full", detail: "the ingest holds \(outbox.maxEvents) events that Kafka has not yet taken; retry later",
                          headers: [.retryAfter: String(settings.retryAfterSeconds)])
        }
    }
}

/// The ingest's counters.
struct IngestMetrics: Sendable {
    let factory: any MetricsFactory

    func rejected(_ reason: String) {
        Counter(label: "zhifa_ingest_rejected_total", dimensions: [("reason", reason)], factory: factory).increment()
    }

    func outcome(_ o: OutboxOutcome) {
        let label: String
        switch o {
        case .accepted: label = "accepted"
        case .duplicate: label = "duplicate"
        case .forbidden: label = "forbidden"
        case .full: label = "outboxFull"
        }
        Counter(label: "zhifa_ingest_events_total", dimensions: [("outcome", label)], factory: factory).increment()
    }
}

/// Checks a request's device signature: registered device, date within the skew, valid Ed25519
/// signature over the canonical request. Answers 401 problems naming what is wrong.
public struct DeviceAuthenticator: Sendable {
    let devices: DeviceRegistry
    let clockSkewSeconds: Int
    let now: @Sendable () -> Date

    public init(devices: DeviceRegistry, clockSkewSeconds: Int, now: @escaping @Sendable () -> Date = Date.init) {
        self.devices = devices
        self.clockSkewSeconds = clockSkewSeconds
        self.now = now
    }

    /// The authenticated device, or a 401 `Problem`.
    public func authenticate(_ request: Request, body: [UInt8]) throws -> RegisteredDevice {
        func header(_ name: String) -> String? { HTTPField.Name(name).flatMap { request.headers[$0] } }
        let challenge: HTTPFields = [.wwwAuthenticate: "Zhifa-Ed25519"]
        func fail(_ detail: String) -> Problem { Problem(.unauthorized, title: "Device not authenticated", detail: detail, headers: challenge) }
        guard let deviceId = header(DeviceSignature.deviceHeader), let date = header(DeviceSignature.dateHeader),
              let signature = header(DeviceSignature.signatureHeader) else {
            throw fail("send X-Zhifa-Device, X-Zhifa-Date and X-Zhifa-Signature (see the README's device signing section)")
        }
        guard let device = devices.devices[deviceId] else { throw fail("the device is not registered") }
        guard let sent = RFC3339Time.parse(date)?.date else { throw fail("X-Zhifa-Date is not an RFC 3339 date-time") }
        guard abs(sent.timeIntervalSince(now())) <= Double(clockSkewSeconds) else {
            throw fail("X-Zhifa-Date is more than \(clockSkewSeconds) s away from the server's clock")
        }
        guard DeviceSignature.verify(method: request.method.rawValue, path: request.uri.path, date: date, body: body, signature: signature, publicKey: device.publicKey) else {
            throw fail("the signature does not verify with the device's registered key")
        }
        return device
    }
}
