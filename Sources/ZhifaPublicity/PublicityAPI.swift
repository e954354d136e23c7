import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import Synchronization
import ZhifaDomain
import ZhifaRuntime

/// The public, read-only feed (port 8082): JSON Feed, Atom, HTML, entry pages, a live SSE stream,
/// and the deadline report. Every GET is open to CORS; the feeds answer conditional GETs.
public struct PublicityAPI: Sendable {
    let store: any PublicityStore
    let book: RulesBook
    let calendar: CalendarHolder
    let settings: PublicitySettings
    let hub: ChangeHub
    let keepalive: Duration
    let now: @Sendable () -> Date
    /// Rendered JSON Feed and Atom items by stored entry: a poll renders only what changed since the last one.
    let renderedItems: FeedItemCache
    /// Expired entries stay on the JSON and Atom feeds this long, marked expired, then leave.
    static let expiredShownFor: TimeInterval = 7 * 86_400

    public init(store: any PublicityStore, book: RulesBook, calendar: CalendarHolder, settings: PublicitySettings, hub: ChangeHub,
                keepalive: Duration = .seconds(15), now: @escaping @Sendable () -> Date = Date.init) {
        self.store = store
        self.book = book
        self.calendar = calendar
        self.settings = settings
        self.hub = hub
        self.keepalive = keepalive
        self.now = now
        self.renderedItems = FeedItemCache(capacity: 8 * max(1, settings.feedItems))
    }

    public func add(to router: Router<BasicRequestContext>) {
        router.get("/feed.json") { request, _ in try await jsonFeed(request) }
        router.get("/feed.atom") { request, _ in try await atomFeed(request) }
        router.get("/") { request, _ in try await listPage(request) }
        router.get("/entries/:id") { request, context in try await entry(request, id: context.parameters.get("id") ?? "") }
        router.get("/events") { request, _ in try await events(request) }
        router.get("/v1/publicity/overdue") { _, _ in try await overdue() }
    }

    // MARK: helpers

    /// The public base URL: configured, or from the request's Host header.
    func base(_ request: Request) -> String {
        if !settings.baseURL.isEmpty { return settings.baseURL.hasSuffix("/") ? String(settings.baseURL.dropLast()) : settings.baseURL }
        let host = request.head.authority ?? "localhost"
        return "http://\(host)"
    }

    static let httpDate: @Sendable (Date) -> String = { date in
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = TimeZone(identifier: "GMT")
        f.dateFormat = "EEE, dd MMM yyyy HH:mm:ss 'GMT'"
        return f.string(from: date)
    }

    static func parseHTTPDate(_ s: String) -> Date? {
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = TimeZone(identifier: "GMT")
        f.dateFormat = "EEE, dd MMM yyyy HH:mm:ss 'GMT'"
        return f.date(from: s)
    }

    /// A validator for the feed as of its latest change: a 304 when the client already has it.
    struct Validator {
        var etag: String
        var lastModified: Date

        func notModified(_ request: Request) -> Bool {
            if let inm = request.headers[.ifNoneMatch] {
                return inm.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.contains { $0 == etag || $0 == "*" || $0 == "W/" + etag }
            }
            if let ims = request.headers[.ifModifiedSince], let d = PublicityAPI.parseHTTPDate(ims) {
                return lastModified.timeIntervalSince1970.rounded(.down) <= d.timeIntervalSince1970
            }
            return false
        }

        func response(_ body: String, contentType: String, request: Request) -> Response {
            var h = HTTPFields()
            h[.eTag] = etag
            h[.lastModified] = PublicityAPI.httpDate(lastModified)
            h[.cacheControl] = "public, no-cache"
            if notModified(request) { return Response(status: .notModified, headers: h) }
            h[.contentType] = contentType
            return Response(status: .ok, headers: h, body: .init(byteBuffer: ByteBuffer(string: body)))
        }
    }

    func validator(_ tag: String) async throws -> Validator {
        let last = try await store.lastChange()
        return Validator(etag: "\"\(tag)-\(last?.seq ?? 0)\"", lastModified: last?.at ?? Date(timeIntervalSince1970: 0))
    }

    /// A short hash that is the same in every process (for ETags that depend on the base URL).
    static func stableHash(_ s: String) -> String {
        var h: UInt32 = 2_166_136_261
        for b in s.utf8 { h = (h ^ UInt32(b)) &* 16_777_619 }
        return String(h, radix: 36)
    }

    func page(_ request: Request) throws -> Int {
        guard let p = request.uri.queryParameters.get("page"), !p.isEmpty else { return 1 }
        guard let n = Int(p), n >= 1, n <= 1_000_000 else { throw Problem(.badRequest, title: "Bad page number", detail: "page must be a whole number from 1") }
        return n
    }

    // MARK: feeds

    func jsonFeed(_ request: Request) async throws -> Response {
        let p = try page(request)
        let base = base(request)
        let v = try await validator("json-\(p)-\(Self.stableHash(base))")
        if v.notModified(request) { return v.response("", contentType: "", request: request) }
        let (documents, total) = try await store.feedDocuments(limit: settings.feedItems, offset: (p - 1) * settings.feedItems, now: now(), expiredShownFor: Self.expiredShownFor)
        let next = p * settings.feedItems < total ? "\(base)/feed.json?page=\(p + 1)" : nil
        let items = renderedItems.items(documents, format: .jsonFeed, base: base)
        return v.response(FeedRenderer.jsonFeed(items: items, base: base, title: settings.title, nextURL: next), contentType: "application/feed+json; charset=utf-8", request: request)
    }

    func atomFeed(_ request: Request) async throws -> Response {
        let base = base(request)
        let v = try await validator("atom-\(Self.stableHash(base))")
        if v.notModified(request) { return v.response("", contentType: "", request: request) }
        let (documents, _) = try await store.feedDocuments(limit: settings.feedItems, offset: 0, now: now(), expiredShownFor: Self.expiredShownFor)
        let updated = ChinaTime.format(v.lastModified.timeIntervalSince1970 > 0 ? v.lastModified : now())
        let items = renderedItems.items(documents, format: .atom, base: base)
        return v.response(FeedRenderer.atom(items: items, base: base, title: settings.title, updated: updated), contentType: "application/atom+xml; charset=utf-8", request: request)
    }

    func listPage(_ request: Request) async throws -> Response {
        let q = request.uri.queryParameters
        func value(_ name: String) -> String? { q.get(name).flatMap { $0.isEmpty ? nil : $0 } }
        var filter = FeedRenderer.Filter(agency: value("agency"), category: value("category"), from: value("from"), to: value("to"), page: try page(request))
        var errors: [Problem.FieldError] = []
        if let a = filter.agency, book.agencies[a] == nil { errors.append(.init(pointer: "agency", detail: "no such agency")) }
        if let c = filter.category, Category(rawValue: c) == nil { errors.append(.init(pointer: "category", detail: "not a category")) }
        for (name, d) in [("from", filter.from), ("to", filter.to)] where d != nil && CalendarDay(d!) == nil {
            errors.append(.init(pointer: name, detail: "not a date (YYYY-MM-DD)"))
        }
        if !errors.isEmpty { throw Problem(.badRequest, title: "Bad filter", detail: "the list filter has \(errors.count) invalid value(s)", errors: errors) }
        let (entries, total) = try await store.entries(limit: settings.pageSize, offset: (filter.page - 1) * settings.pageSize, agency: filter.agency,
                                                       category: filter.category, from: filter.from, to: filter.to)
        filter.page = max(1, filter.page)
        let agencies = book.agencies.values.sorted { $0.agencyId < $1.agencyId }.map { ($0.agencyId, $0.name) }
        let html = FeedRenderer.page(entries, total: total, filter: filter, pageSize: settings.pageSize, agencies: agencies, title: settings.title)
        return Self.html(html)
    }

    static func html(_ body: String, status: HTTPResponse.Status = .ok) -> Response {
        Response(status: status, headers: [.contentType: "text/html; charset=utf-8", .cacheControl: "no-cache"], body: .init(byteBuffer: ByteBuffer(string: body)))
    }

    func entry(_ request: Request, id: String) async throws -> Response {
        guard let e = try await store.entry(id) else {
            throw Problem(.notFound, title: "No such entry", detail: "no feed entry has the id \(id.prefix(80))")
        }
        if e.status == .expired {
            throw Problem(.gone, title: "Entry expired", detail: "the entry's publication period has ended; it is no longer public")
        }
        let wantsJSON = (request.headers[.accept] ?? "").contains("application/json") || (request.headers[.accept] ?? "").contains("application/feed+json")
        if wantsJSON { return JSONResponse.make(rawJSON: FeedRenderer.item(e, base: base(request)).jsonText) }
        return Self.html(FeedRenderer.entryPage(e, title: settings.title))
    }

    // MARK: live stream

    static let lastEventID = HTTPField.Name("Last-Event-ID")!

    func events(_ request: Request) async throws -> Response {
        let lastHeader: String? = request.headers[Self.lastEventID] ?? request.uri.queryParameters.get("lastEventId").map { String($0) }
        let start: Int64
        if let l = lastHeader, !l.isEmpty {
            guard let n = Int64(l.trimmingCharacters(in: .whitespaces)), n >= 0 else {
                throw Problem(.badRequest, title: "Bad Last-Event-ID", detail: "Last-Event-ID must be the number of a previous event")
            }
            start = n
        } else {
            start = try await store.lastChange()?.seq ?? 0
        }
        guard let subscription = hub.subscribe() else { throw Problem(.serviceUnavailable, detail: "the feed is shutting down; reconnect shortly") }
        let store = self.store
        let hub = self.hub
        let keepalive = self.keepalive
        let base = base(request)
        let body = ResponseBody { writer in
            defer { subscription.cancel() }
            var last = start
            try await writer.write(ByteBuffer(string: "retry: 3000\n: zhifa feed stream\n\n"))
            while !hub.isClosed {
                let batch = try await store.changes(after: last, limit: 200)
                if !batch.isEmpty {
                    var text = ""
                    for c in batch {
                        text += "id: \(c.seq)\nevent: \(c.kind.rawValue)\ndata: \(FeedRenderer.item(c.entry, base: base).jsonText)\n\n"
                        last = c.seq
                    }
                    try await writer.write(ByteBuffer(string: text))
                    if batch.count == 200 { continue }
                }
                let before = last
                await subscription.signal.wait(timeout: keepalive)
                if hub.isClosed { break }
                if try await store.lastChange()?.seq ?? 0 <= before { try await writer.write(ByteBuffer(string: ": keepalive\n\n")) }
            }
            try await writer.finish(nil)
        }
        return Response(status: .ok, headers: [.contentType: "text/event-stream; charset=utf-8", .cacheControl: "no-cache", HTTPField.Name("X-Accel-Buffering")!: "no"], body: body)
    }

    // MARK: deadlines

    func overdue() async throws -> Response {
        let report = try await DeadlineReport.make(store: store, calendar: calendar.calendar, rules: settings.rules, now: now())
        return try JSONResponse.encode(report)
    }
}
