import Synchronization
import ZhifaRuntime

/// Wakes every open `/events` stream when the feed changed. Streams read the changes themselves
/// from the store (by sequence number), so a slow stream never makes the hub buffer or drop anything.
public final class ChangeHub: Sendable {
    private struct State {
        var next = 0
        var subscribers: [Int: WakeSignal] = [:]
        var closed = false
    }
    private let state = Mutex(State())

    public init() {}

    /// A subscription; call `cancel` when the stream ends.
    public struct Subscription: Sendable {
        public let signal: WakeSignal
        let id: Int
        let hub: ChangeHub

        /// Stops waking this subscriber.
        public func cancel() { hub.state.withLock { _ = $0.subscribers.removeValue(forKey: id) } }
    }

    /// Subscribes to changes; nil once the hub is closed (the service is shutting down).
    public func subscribe() -> Subscription? {
        let signal = WakeSignal()
        let id = state.withLock { s -> Int? in
            guard !s.closed else { return nil }
            s.next += 1
            s.subscribers[s.next] = signal
            return s.next
        }
        return id.map { Subscription(signal: signal, id: $0, hub: self) }
    }

    /// Wakes every subscriber.
    public func notify() {
        for s in state.withLock({ Array($0.subscribers.values) }) { s.notify() }
    }

    /// Ends every stream (graceful shutdown): subscribers see `isClosed` when they wake.
    public func close() {
        state.withLock { $0.closed = true }
        notify()
    }

    /// Whether the hub was closed.
    public var isClosed: Bool { state.withLock { $0.closed } }

    /// Open streams.
    public var subscriberCount: Int { state.withLock { $0.subscribers.count } }
}
