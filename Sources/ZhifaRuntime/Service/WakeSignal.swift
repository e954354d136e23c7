import ServiceLifecycle
import Synchronization

/// Wakes one waiting task when there is new work; a notification while nobody waits is kept.
public final class WakeSignal: Sendable {
    private let state = Mutex<(pending: Bool, waiter: CheckedContinuation<Void, Never>?)>((false, nil))

    public init() {}

    /// Signals new work.
    public func notify() {
        let w = state.withLock { s -> CheckedContinuation<Void, Never>? in
            if let w = s.waiter { s.waiter = nil; return w }
            s.pending = true
            return nil
        }
        w?.resume()
    }

    /// Waits for a notification (returns at once if one is pending), or until `timeout`.
    public func wait(timeout: Duration) async {
        await withTaskGroup(of: Void.self) { g in
            g.addTask { await self.waitForever() }
            g.addTask { try? await Task.sleep(for: timeout) }
            await g.next()
            g.cancelAll()
            self.notifyIfWaiting()
        }
    }

    private func waitForever() async {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
                let now = state.withLock { s -> Bool in
                    if s.pending { s.pending = false; return true }
                    if Task.isCancelled { return true }
                    s.waiter = c
                    return false
                }
                if now { c.resume() }
            }
        } onCancel: {
            notifyIfWaiting()
        }
    }

    private func notifyIfWaiting() {
        let w = state.withLock { s -> CheckedContinuation<Void, Never>? in
            defer { s.waiter = nil }
            return s.waiter
        }
        w?.resume()
    }
}

/// A service that holds a resource and releases it when the group shuts down (list it before the
/// services that use the resource: a `ServiceGroup` stops services in reverse order).
public struct ClosingService: Service {
    let name: String
    let close: @Sendable () async -> Void

    /// Runs `close` after graceful shutdown.
    public init(_ name: String, close: @escaping @Sendable () async -> Void) {
        self.name = name
        self.close = close
    }

    public func run() async throws {
        try? await gracefulShutdown()
        await close()
    }
}
