import Foundation
import ZhifaDomain

/// A JSON file in the data directory where `zhifa up --demo` keeps what a restarted demo goes on
/// from (its numbering, the major decisions it holds for review). Written whole, then renamed into
/// place, so a crash leaves the previous version.
struct DemoStateFile<Value: Codable> {
    let url: URL
    /// What deleting the file does, for the error an unreadable file gives.
    let ifDeleted: String

    /// The value kept in the file; nil when there is no such file (a first run).
    func load() throws -> Value? {
        guard FileManager.default.fileExists(atPath: url.path) else { return nil }
        do { return try JSONDecoder().decode(Value.self, from: Data(contentsOf: url)) } catch {
            throw DemoStateError(description: "\(url.path) cannot be read (\(error)); delete it to \(ifDeleted)")
        }
    }

    /// Keeps `value` in the file.
    func save(_ value: Value) throws {
        try JSONEncoder().encode(value).write(to: url, options: .atomic)
    }
}

/// A file the demo keeps between runs cannot be read.
public struct DemoStateError: Error, CustomStringConvertible, Sendable {
    public var description: String
}

/// A simulated event as the demo keeps it between runs: its device, its time, and the CloudEvent
/// in structured mode, byte for byte as it is sent.
extension SimulatedEvent: Codable {
    enum CodingKeys: String, CodingKey { case deviceId, time, event }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        deviceId = try c.decode(String.self, forKey: .deviceId)
        time = try c.decode(Date.self, forKey: .time)
        let text = try c.decode(String.self, forKey: .event)
        do {
            event = try StructuredCloudEvent.parse(Array(text.utf8))
        } catch {
            throw DecodingError.dataCorruptedError(forKey: .event, in: c, debugDescription: "not a structured-mode CloudEvent: \(error)")
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(deviceId, forKey: .deviceId)
        try c.encode(time, forKey: .time)
        try c.encode(String(decoding: StructuredCloudEvent.serialize(event), as: UTF8.self), forKey: .event)
    }
}
