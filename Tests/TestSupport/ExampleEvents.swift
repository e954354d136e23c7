import Foundation
import ZhifaDomain
import ZhifaKafka
import ZhifaRuntime

/// The contract examples as CloudEvents, and copies of the general case under new ids.
public enum ExampleEvents {
    /// Every example, in file order.
    public static func all() throws -> [CloudEvent] {
        try files(in: contractDirectory.appendingPathComponent("examples")).map { try StructuredCloudEvent.parse(Array(Data(contentsOf: $0))) }
    }

    /// The examples whose file names start with `prefix` (`general` or `simple`).
    public static func named(_ prefix: String) throws -> [CloudEvent] {
        try files(in: contractDirectory.appendingPathComponent("examples")).filter { $0.lastPathComponent.hasPrefix(prefix) }
            .map { try StructuredCloudEvent.parse(Array(Data(contentsOf: $0))) }
    }

    /// The general case under new ids (case, events, decision, segments and camera get `suffix`),
    /// with optional changes per event id (original ids, e.g. `evt-0006`).
    public static func generalCopy(_ suffix: String, changes: [String: (JSONValue) -> JSONValue] = [:]) throws -> [CloudEvent] {
        try files(in: contractDirectory.appendingPathComponent("examples")).filter { $0.lastPathComponent.hasPrefix("general") }.map { file in
            var text = try String(contentsOf: file, encoding: .utf8)
            let original = try JSONParser.parse(text)["id"]?.stringValue ?? ""
            for (a, b) in [("WQ-DWGZ-2024-0012", "WQ-DWGZ-2024-0012-\(suffix)"), ("\"evt-", "\"evt-\(suffix)-"), ("DEC-0012", "DEC-0012-\(suffix)"),
                           ("SEG-DSJ0007", "SEG-DSJ0007-\(suffix)"), ("\"DSJ-0007\"", "\"DSJ-0007-\(suffix)\"")] {
                text = text.replacingOccurrences(of: a, with: b)
            }
            var value = try JSONParser.parse(text)
            if let change = changes[original] { value = change(value) }
            let bytes = Array(value.jsonText.utf8)
            guard case .valid = EventValidator.contract.validate(value) else { throw TimedOut(description: "the changed \(original) breaks the contract") }
            return try StructuredCloudEvent.event(from: value, raw: bytes)
        }
    }

    /// The simple (on-the-spot) case as case `n`: new ids, every time `n` hours later, its recording
    /// on the same camera (DSJ-0009) with hash `sha` naming `previous` as its predecessor; and a
    /// closing an hour after it.
    public static func simpleCopy(_ n: Int, sha: String, previous: String?) throws -> [CloudEvent] {
        let closing = Array(#"{"specversion":"1.0","id":"evt-0025","source":"urn:zhifa:agency:WQ-DWGZ-ZHZF","type":"cn.zhifa.case.closed.v1","#.utf8)
            + Array(#""time":"2024-07-02T09:41:00+08:00","datacontenttype":"application/json","data":{"caseId":"WQ-DWGZ-2024-S-0088","#.utf8)
            + Array(#""closedAt":"2024-07-02T09:41:00+08:00","outcome":"executed"}}"#.utf8)
        let texts = try files(in: contractDirectory.appendingPathComponent("examples")).filter { $0.lastPathComponent.hasPrefix("simple") }
            .map { try String(contentsOf: $0, encoding: .utf8) } + [String(decoding: closing, as: UTF8.self)]
        return try texts.map { original in
            var text = original
            for (a, b) in [("WQ-DWGZ-2024-S-0088", "WQ-DWGZ-2024-S-0088-\(n)"), ("\"evt-", "\"evt-s\(n)-"), ("DEC-S-0088", "DEC-S-0088-\(n)"),
                           ("SEG-DSJ0009-0101", "SEG-DSJ0009-0101-\(n)"), ("ACT-S-0088-1", "ACT-S-0088-\(n)"),
                           ("2024-07-02T08:", "2024-07-02T<8>:"), ("2024-07-02T09:", "2024-07-02T<9>:"),
                           ("<8>", String(format: "%02d", 8 + n)), ("<9>", String(format: "%02d", 9 + n)),
                           ("901b432f55d8dbffb5c6888421c1ccf9681bb4a62baf426803198f56b6a370a8", sha)] {
                text = text.replacingOccurrences(of: a, with: b)
            }
            var value = try JSONParser.parse(text)
            if let previous, value["type"]?.stringValue == EventType.avSegmentRegistered.rawValue {
                value = value.set("data.previousSegmentSha256", .string(previous))
            }
            guard case .valid = EventValidator.contract.validate(value) else { throw TimedOut(description: "simple case copy \(n) breaks the contract") }
            return try StructuredCloudEvent.event(from: value, raw: Array(value.jsonText.utf8))
        }
    }

    /// Produces events to the events topic in binary mode and waits for acknowledgement.
    public static func send(_ events: [CloudEvent], bootstrap: String) async throws {
        let producer = try KafkaProducer(configuration: KafkaProducerConfiguration(client: KafkaClientSettings(bootstrapServers: bootstrap, clientId: "test-terminal")), logger: testLogger())
        _ = try await producer.sendAll(events.map { CloudEventKafka.record(for: $0, topic: "zhifa.events.v1") })
        await producer.close()
    }
}

extension JSONValue {
    /// A copy with the value at a dotted path set.
    public func set(_ path: String, _ value: JSONValue) -> JSONValue {
        func go(_ v: JSONValue, _ parts: ArraySlice<String>) -> JSONValue {
            guard let head = parts.first else { return value }
            guard case .object(var o) = v else { return v }
            let child = o[head] ?? .null
            let new = go(child, parts.dropFirst())
            if let i = o.members.lastIndex(where: { $0.key == head }) { o.members[i].value = new } else { o.members.append((head, new)) }
            return .object(o)
        }
        return go(self, ArraySlice(path.split(separator: ".").map(String.init)))
    }

    /// A copy without the member at a dotted path.
    public func remove(_ path: String) -> JSONValue {
        var parts = path.split(separator: ".").map(String.init)
        let last = parts.removeLast()
        func go(_ v: JSONValue, _ ps: ArraySlice<String>) -> JSONValue {
            guard case .object(var o) = v else { return v }
            guard let head = ps.first else {
                o.members.removeAll { $0.key == last }
                return .object(o)
            }
            if let i = o.members.lastIndex(where: { $0.key == head }) { o.members[i].value = go(o.members[i].value, ps.dropFirst()) }
            return .object(o)
        }
        return go(self, ArraySlice(parts))
    }
}
