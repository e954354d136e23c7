import Synchronization

/// Lets one handler at a time work on a key: a case, or (in a second instance) a body camera.
/// Events of one case arrive in one lane of the worker, but a re-check of the case (and a
/// replayed dead letter) comes through the group's retry topic, in another lane: without this,
/// both could read the case, and the later commit would overwrite what the earlier one decided.
/// Waiters are served in arrival order.
final class CaseLocks: Sendable {
    /// Per locked case: the handlers waiting for it (an entry exists while the case is held).
    private let waiting = Mutex<[String: [CheckedContinuation<Void, Never>]]>([:])

    /// Runs `body` while holding the case.
    func run<T: Sendable>(_ caseId: String, _ body: @Sendable () async throws -> T) async throws -> T {
        let free = waiting.withLock { w -> Bool in
            if w[caseId] != nil { return false }
            w[caseId] = []
            return true
        }
        if !free {
            await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
                let owned = waiting.withLock { w -> Bool in
                    if w[caseId] == nil { w[caseId] = []; return true }  // released meanwhile
                    w[caseId]!.append(c)
                    return false
                }
                if owned { c.resume() }
            }
        }
        defer { release(caseId) }
        return try await body()
    }

    /// Hands the case to the next waiter, or frees it.
    private func release(_ caseId: String) {
        let next = waiting.withLock { w -> CheckedContinuation<Void, Never>? in
            guard var queue = w[caseId], !queue.isEmpty else {
                w[caseId] = nil
                return nil
            }
            let first = queue.removeFirst()
            w[caseId] = queue
            return first
        }
        next?.resume()
    }

    /// Runs `body` while holding every key of `keys`, taken one at a time in sorted order (so two
    /// handlers taking overlapping sets cannot deadlock).
    func run<T: Sendable>(all keys: Set<String>, _ body: @Sendable () async throws -> T) async throws -> T {
        try await runHolding(keys.sorted()[...], body)
    }

    private func runHolding<T: Sendable>(_ keys: ArraySlice<String>, _ body: @Sendable () async throws -> T) async throws -> T {
        guard let first = keys.first else { return try await body() }
        return try await run(first) { try await runHolding(keys.dropFirst(), body) }
    }

    /// How many handlers wait for the case; nil when no one holds it.
    func waiters(_ caseId: String) -> Int? { waiting.withLock { $0[caseId]?.count } }
}
