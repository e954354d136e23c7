import Logging
import Synchronization

/// Process-wide logging setup: structured lines on standard error (standard output is kept for
/// command results, e.g. the bootstrap line of `zhifa up`).
public enum ZhifaLogging {
    private static let done = Mutex(false)

    /// Bootstraps swift-log once per process.
    public static func bootstrap(level: String) {
        let first = done.withLock { d in
            defer { d = true }
            return !d
        }
        guard first else { return }
        let lvl = Logger.Level(rawValue: level) ?? .info
        LoggingSystem.bootstrap { label in
            var h = StreamLogHandler.standardError(label: label)
            h.logLevel = lvl
            return h
        }
    }
}
