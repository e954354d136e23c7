import Foundation
import Synchronization

/// One component's readiness.
public enum HealthState: Sendable, Equatable {
    /// Working.
    case ok
    /// Working, but something needs attention (reported on `/readyz`, status stays 200).
    case degraded(String)
    /// Cannot do its job (`/readyz` answers 503).
    case failed(String)
}

/// The readiness checks of one service, reported by `/readyz`.
public final class HealthRegistry: Sendable {
    private let checks = Mutex<[(String, @Sendable () async -> HealthState)]>([])

    /// Creates an empty registry.
    public init() {}

    /// Adds a named check.
    public func register(_ name: String, _ check: @escaping @Sendable () async -> HealthState) {
        checks.withLock { $0.append((name, check)) }
    }

    /// Runs every check.
    public func report() async -> ReadinessReport {
        let all = checks.withLock { $0 }
        var results: [(String, HealthState)] = []
        for (name, check) in all { results.append((name, await check())) }
        return ReadinessReport(results: results)
    }
}

/// The body of `/readyz`.
public struct ReadinessReport: Sendable {
    /// Each check's result, in registration order.
    public var results: [(String, HealthState)]

    /// Ready unless a check failed.
    public var isReady: Bool { !results.contains { if case .failed = $0.1 { true } else { false } } }

    /// JSON: `{"status": "ready"|"not ready", "checks": {name: {"status", "detail"?}}, "degraded": [...]}`.
    public func json() -> [String: Any] {
        var checks: [String: Any] = [:]
        var degraded: [String] = []
        for (name, state) in results {
            switch state {
            case .ok: checks[name] = ["status": "ok"]
            case .degraded(let d):
                checks[name] = ["status": "degraded", "detail": d]
                degraded.append("\(name): \(d)")
            case .failed(let d): checks[name] = ["status": "failed", "detail": d]
            }
        }
        return ["status": isReady ? "ready" : "not ready", "checks": checks, "degraded": degraded]
    }
}
