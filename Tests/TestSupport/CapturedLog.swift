import Foundation
import Logging

/// A log handler that keeps what is logged at or above its level in memory, for assertions.
public final class CapturedLog: LogHandler, @unchecked Sendable {
    /// One logged message with its metadata (the handler's and the call's) as text.
    public struct Entry: Sendable {
        public var level: Logger.Level
        public var message: String
        public var metadata: [String: String]
    }
    private let lock = NSLock()
    private var stored: [Entry] = []
    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level

    public init(level: Logger.Level = .warning) { logLevel = level }

    /// What was logged, in order.
    public var entries: [Entry] { lock.withLock { stored } }

    /// A logger that writes here, at this handler's level.
    public func logger(_ label: String) -> Logger {
        var logger = Logger(label: label) { _ in self }
        logger.logLevel = logLevel
        return logger
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        let all = metadata.merging(event.metadata ?? [:]) { $1 }
        lock.withLock { stored.append(Entry(level: event.level, message: "\(event.message)", metadata: all.mapValues { "\($0)" })) }
    }
}
