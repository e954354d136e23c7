import CRdKafka
import Foundation
import Synchronization

/// An OS thread outside Swift's cooperative pool, for librdkafka's blocking calls and poll loops,
/// and for any other blocking wait (a paced load generator, a child process's pipes and exit).
public final class DedicatedThread: Sendable {
    private let finished = OneShot<Void>()

    private init() {}

    /// Starts `body` on a new thread named `name` (as `top -H` and `perf` show it). Linux keeps
    /// only names of up to 15 bytes and silently drops longer ones, so these are short, in the
    /// style of librdkafka's own `rdk:` threads: `zk:cons-poll`, `zk:prod-poll`, ...
    static func start(name: String, _ body: @escaping @Sendable () -> Void) -> DedicatedThread {
        assert(name.utf8.count <= 15, "thread name \(name) is longer than Linux keeps")
        let thread = DedicatedThread()
        let t = Thread {
            // Foundation's `Thread.name` does not reach the OS thread on Linux; name it from inside.
            zhifa_name_current_thread(name)
            body()
            thread.finished.fulfill(())
        }
        t.start()
        return thread
    }

    /// Waits for the thread to end without blocking a cooperative thread.
    func join() async { await finished.value }

    /// Runs one blocking call on its own thread (named `name`, at most 15 bytes) and returns its
    /// result; the awaiting task suspends, and no thread of the cooperative pool blocks.
    public static func run<T: Sendable, E: Error>(
        name: String, _ body: @escaping @Sendable () throws(E) -> T
    ) async throws(E) -> T {
        let result = OneShot<Result<T, E>>()
        _ = start(name: name) {
            do throws(E) { result.fulfill(.success(try body())) } catch { result.fulfill(.failure(error)) }
        }
        return try await result.value.get()
    }
}

/// A value that is set once and awaited by any number of tasks (a one-time signal as `OneShot<Void>`).
public final class OneShot<T: Sendable>: Sendable {
    private enum State {
        case waiting([CheckedContinuation<T, Never>])
        case done(T)
    }

    private let state = Mutex<State>(.waiting([]))

    /// Creates an unset value.
    public init() {}

    /// Sets the value (only the first call counts) and wakes every waiter.
    public func fulfill(_ value: T) {
        let waiters: [CheckedContinuation<T, Never>] = state.withLock { state in
            guard case .waiting(let w) = state else { return [] }
            state = .done(value)
            return w
        }
        for w in waiters { w.resume(returning: value) }
    }

    /// Whether the value has been set.
    public var isFulfilled: Bool { state.withLock { if case .done = $0 { true } else { false } } }

    /// The value, once set.
    public var value: T {
        get async {
            await withCheckedContinuation { (c: CheckedContinuation<T, Never>) in
                let ready: T? = state.withLock { state in
                    switch state {
                    case .done(let v): return v
                    case .waiting(var w):
                        w.append(c)
                        state = .waiting(w)
                        return nil
                    }
                }
                if let ready { c.resume(returning: ready) }
            }
        }
    }
}
