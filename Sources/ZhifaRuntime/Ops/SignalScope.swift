import UnixSignals

/// Runs an operation until it ends or SIGINT/SIGTERM arrives (then it is cancelled).
public enum SignalScope {
    /// The operation's result, or nil if a signal cancelled it.
    public static func run<T: Sendable>(_ operation: @escaping @Sendable () async throws -> T) async throws -> T? {
        let signals = await UnixSignalsSequence(trapping: .sigint, .sigterm)
        return try await withThrowingTaskGroup(of: T?.self) { g in
            g.addTask { try await operation() }
            g.addTask {
                for await _ in signals { return nil }
                return nil
            }
            let first = try await g.next()!
            g.cancelAll()
            return first
        }
    }
}
