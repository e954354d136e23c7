import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import Synchronization

/// One Server-Sent Event.
public struct ServerSentEvent: Sendable, Equatable {
    public var id: String?
    public var event: String
    public var data: String
    /// When the event's last byte arrived.
    public var receivedAt: ContinuousClock.Instant

    public static func == (a: ServerSentEvent, b: ServerSentEvent) -> Bool { a.id == b.id && a.event == b.event && a.data == b.data }
}

/// Parses a `text/event-stream` byte stream (WHATWG HTML §9.2) incrementally.
public struct ServerSentEventParser: Sendable {
    private var buffer: [UInt8] = []
    private var id: String?
    private var event = ""
    private var data: [String] = []

    public init() {}

    /// Feeds bytes; returns the events they complete.
    public mutating func feed(_ bytes: some Sequence<UInt8>, at time: ContinuousClock.Instant = .now) -> [ServerSentEvent] {
        buffer.append(contentsOf: bytes)
        var out: [ServerSentEvent] = []
        while let nl = buffer.firstIndex(of: UInt8(ascii: "\n")) {
            var line = Array(buffer[..<nl])
            buffer.removeSubrange(...nl)
            if line.last == UInt8(ascii: "\r") { line.removeLast() }
            if line.isEmpty {
                if !data.isEmpty { out.append(ServerSentEvent(id: id, event: event.isEmpty ? "message" : event, data: data.joined(separator: "\n"), receivedAt: time)) }
                event = ""
                data = []
                continue
            }
            if line.first == UInt8(ascii: ":") { continue }
            let text = String(decoding: line, as: UTF8.self)
            let (field, value): (Substring, Substring)
            if let colon = text.firstIndex(of: ":") {
                field = text[..<colon]
                let v = text[text.index(after: colon)...]
                value = v.first == " " ? v.dropFirst() : v
            } else {
                (field, value) = (Substring(text), "")
            }
            switch field {
            case "id": id = String(value)
            case "event": event = String(value)
            case "data": data.append(String(value))
            default: break
            }
        }
        return out
    }
}

/// The stream could not be opened.
public struct FeedStreamError: Error, CustomStringConvertible {
    public var status: Int
    public var description: String { "the feed stream answered HTTP \(status) instead of 200" }
}

/// Watches the public feed's `/events` stream, keeping what arrives.
public final class FeedStreamClient: Sendable {
    private let http: HTTPClient
    private let events = Mutex<[ServerSentEvent]>([])
    private let task = Mutex<Task<Void, Never>?>(nil)

    /// Uses the process-wide shared HTTP client.
    public init() { http = HTTPClient.shared }

    /// Opens the stream at `url` (resuming after `lastEventId` if given); returns once the response
    /// headers arrived, so no change made afterwards is missed.
    public func open(_ url: String, lastEventId: String? = nil) async throws {
        var request = HTTPClientRequest(url: url)
        request.headers.add(name: "Accept", value: "text/event-stream")
        if let lastEventId { request.headers.add(name: "Last-Event-ID", value: lastEventId) }
        let response = try await http.execute(request, timeout: .hours(1))
        guard response.status == .ok else { throw FeedStreamError(status: Int(response.status.code)) }
        let body = response.body
        let reader = Task { [self] in
            var parser = ServerSentEventParser()
            do {
                for try await chunk in body {
                    let made = parser.feed(chunk.readableBytesView)
                    if !made.isEmpty { self.events.withLock { $0 += made } }
                }
            } catch {}
        }
        task.withLock { $0 = reader }
    }

    /// Everything received so far.
    public var received: [ServerSentEvent] { events.withLock { $0 } }

    /// Stops reading and closes the connection.
    public func close() async {
        task.withLock { $0?.cancel() }
    }
}
