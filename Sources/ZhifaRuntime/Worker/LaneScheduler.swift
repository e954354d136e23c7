import DequeModule
import Foundation
import Synchronization
import ZhifaKafka

/// Messages of one key in one partition: processed one at a time, in order.
struct LaneKey: Equatable, Sendable {
    let topicPartition: KafkaTopicPartition
    let key: [UInt8]?
    /// Computed once, outside the scheduler's lock: a lane is looked up, inserted and removed by it.
    let precomputedHash: Int

    init(topicPartition: KafkaTopicPartition, key: [UInt8]?) {
        self.topicPartition = topicPartition
        self.key = key
        var hasher = Hasher()
        hasher.combine(topicPartition)
        if let key { key.withUnsafeBytes { hasher.combine(bytes: $0) } } else { hasher.combine(0xFF as UInt8) }
        precomputedHash = hasher.finalize()
    }

    static func == (a: LaneKey, b: LaneKey) -> Bool {
        a.precomputedHash == b.precomputedHash && a.topicPartition.partition == b.topicPartition.partition
            && a.key == b.key && a.topicPartition.topic == b.topicPartition.topic
    }
}

/// Hands lanes of work to a fixed set of handler tasks, in batches.
///
/// Per-key order: a lane's next message starts only after the previous one's handler returned.
/// Different lanes run concurrently on different tasks. A lane waiting for a retry is parked and
/// blocks nothing else. `maxInFlight` bounds messages taken and not finished (finished = effects
/// durable, or abandoned).
///
/// A lane is its head message: the `InFlightMessage` being run (or next to run) holds the lane's
/// state and the messages of its key queued behind it, and stands for the lane in the table and
/// the ready queue. When it is done, the next queued message takes its place. Most lanes hold one
/// message, so this saves an object per message. Lane fields are only read or changed under the
/// scheduler's lock.
final class LaneScheduler: Sendable {
    enum LaneState { case ready, running, parked, removed }

    /// The head message of a lane.
    typealias Lane = InFlightMessage
    typealias Batch = [Lane]

    private struct State {
        var lanes = LaneTable<Lane>(capacity: 1_024)
        var ready = Deque<Lane>()
        var idle: [CheckedContinuation<Batch, Never>] = []
        var capacityWaiter: CheckedContinuation<Void, Never>? = nil
        var drainWaiter: CheckedContinuation<Void, Never>? = nil
        /// Set by the drain timer: the shutdown stops waiting for in-flight messages.
        var drainGivenUp = false
        var stopped = false
        /// The last assignment epoch revoked, per partition: a message of that assignment or an
        /// earlier one reaching `submit` was taken before the revoke, and must not run.
        var revokedEpochs: [KafkaTopicPartition: UInt64] = [:]
    }

    let maxInFlight: Int
    let concurrency: Int
    private let state = Mutex(State())
    private let inFlightCount = Atomic<Int>(0)
    /// Set while the dispatcher or shutdown waits on the in-flight count.
    private let someoneWaits = Atomic<Bool>(false)

    init(maxInFlight: Int, concurrency: Int) {
        self.maxInFlight = maxInFlight
        self.concurrency = max(1, concurrency)
    }

    var inFlight: Int { inFlightCount.load(ordering: .sequentiallyConsistent) }

    // MARK: dispatcher side

    /// Waits until fewer than `maxInFlight` messages are in flight (or the task is cancelled).
    func waitForCapacity() async {
        if inFlight < maxInFlight { return }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
                let now = state.withLock { s -> Bool in
                    someoneWaits.store(true, ordering: .sequentiallyConsistent)
                    if inFlight < maxInFlight || s.stopped || Task.isCancelled { return true }
                    s.capacityWaiter = c
                    return false
                }
                if now { c.resume() }
            }
        } onCancel: {
            state.withLock { s in
                let w = s.capacityWaiter
                s.capacityWaiter = nil
                return w
            }?.resume()
        }
    }

    /// Adds taken messages to their lanes (a message whose key has no open lane opens one) and
    /// wakes idle handler tasks. Returns the messages of a revoked assignment, which are not
    /// added (the caller abandons them): taken before the revoke but submitted after it, one of
    /// them could otherwise run before an earlier message of its key that the revoke removed,
    /// which the partition's next owner then runs after it.
    func submit(_ items: [InFlightMessage]) -> [KafkaConsumerMessage] {
        inFlightCount.add(items.count, ordering: .sequentiallyConsistent)
        let (wakeups, stale) = state.withLock { s in
            var stale: [KafkaConsumerMessage] = []
            for item in items {
                if !s.revokedEpochs.isEmpty, let revoked = s.revokedEpochs[item.laneKey.topicPartition], item.message.assignmentEpoch <= revoked {
                    stale.append(item.message)
                    continue
                }
                if let head = s.lanes.find(item.laneKey) {
                    if head.queuedBehind == nil { head.queuedBehind = Deque() }
                    head.queuedBehind!.append(item)
                } else {
                    item.laneState = .ready
                    s.lanes.insert(item)
                    s.ready.append(item)
                }
            }
            return (pairIdle(&s), stale)
        }
        if !stale.isEmpty { finished(stale.count) }
        for (c, b) in wakeups { c.resume(returning: b) }
        return stale
    }

    /// A revoke of `partitions`, whose assignments had `epochs`: messages of those assignments
    /// submitted from now on are refused, and queued ones that have not started are removed and
    /// returned (the caller abandons them). Started ones finish.
    func revoke(_ partitions: Set<KafkaTopicPartition>, epochs: [KafkaTopicPartition: UInt64]) -> [KafkaConsumerMessage] {
        state.withLock { s in
            for (p, e) in epochs { s.revokedEpochs[p] = max(s.revokedEpochs[p] ?? 0, e) }
        }
        return removeUnstarted(of: partitions)
    }

    /// A fair share of the ready lanes for one task: a few at a time when the queue is short, up
    /// to 256 when it is long, so locks and wake-ups are paid per batch rather than per message.
    private func share(_ s: State) -> Int { min(256, max(1, s.ready.count / concurrency)) }

    private func pairIdle(_ s: inout State) -> [(CheckedContinuation<Batch, Never>, Batch)] {
        var out: [(CheckedContinuation<Batch, Never>, Batch)] = []
        while !s.idle.isEmpty {
            let b = takeReady(&s, max: share(s))
            if b.isEmpty { break }
            out.append((s.idle.removeLast(), b))
        }
        return out
    }

    private func takeReady(_ s: inout State, max: Int) -> Batch {
        var out: Batch = []
        out.reserveCapacity(Swift.min(max, s.ready.count))
        while out.count < max, let lane = s.ready.popFirst() {
            guard lane.laneState == .ready else { continue }
            lane.laneState = .running
            out.append(lane)
        }
        return out
    }

    // MARK: handler side

    /// The next batch of lanes to run (their head messages); empty once stopped.
    func next() async -> Batch {
        await withCheckedContinuation { (c: CheckedContinuation<Batch, Never>) in
            let ready: Batch? = state.withLock { s in
                if s.stopped { return [] }
                let b = takeReady(&s, max: share(s))
                if !b.isEmpty { return b }
                s.idle.append(c)
                return nil
            }
            if let ready { c.resume(returning: ready) }
        }
    }

    /// The lanes' head messages were handled: the next message of each lane takes its head's place
    /// (or the lane closes), and the calling task gets its next batch if work is ready (else empty).
    func advance(_ lanes: [Lane]) -> Batch {
        let (mine, wakeups) = state.withLock { s -> (Batch, [(CheckedContinuation<Batch, Never>, Batch)]) in
            for head in lanes where head.laneState == .running {
                head.laneState = .removed
                // Moved out (not copied), so popping does not copy the queue.
                if var rest = head.queuedBehind.take(), let next = rest.popFirst() {
                    next.queuedBehind = rest.isEmpty ? nil : rest
                    next.laneState = .ready
                    s.lanes.replace(head, with: next)
                    s.ready.append(next)
                } else {
                    s.lanes.remove(head)
                }
            }
            if s.stopped { return ([], []) }
            let mine = takeReady(&s, max: share(s))
            return (mine, pairIdle(&s))
        }
        for (c, b) in wakeups { c.resume(returning: b) }
        return mine
    }

    /// Parks a lane whose head failed (until `unpark`); false if the lane was removed meanwhile.
    func park(_ lane: Lane) -> Bool {
        state.withLock { _ in
            guard lane.laneState == .running else { return false }
            lane.laneState = .parked
            return true
        }
    }

    /// Makes a parked lane ready again (after its backoff).
    func unpark(_ lane: Lane) {
        let wakeups = state.withLock { s -> [(CheckedContinuation<Batch, Never>, Batch)] in
            guard lane.laneState == .parked else { return [] }
            lane.laneState = .ready
            s.ready.append(lane)
            return pairIdle(&s)
        }
        for (c, b) in wakeups { c.resume(returning: b) }
    }

    /// Messages whose effects are durable (or abandoned) leave the in-flight count.
    func finished(_ count: Int = 1) {
        let now = inFlightCount.subtract(count, ordering: .sequentiallyConsistent).newValue
        guard someoneWaits.load(ordering: .sequentiallyConsistent) else { return }
        let (cap, drain) = state.withLock { s -> (CheckedContinuation<Void, Never>?, CheckedContinuation<Void, Never>?) in
            var cap: CheckedContinuation<Void, Never>? = nil
            var drain: CheckedContinuation<Void, Never>? = nil
            if now < maxInFlight { cap = s.capacityWaiter; s.capacityWaiter = nil }
            if inFlight == 0 { drain = s.drainWaiter; s.drainWaiter = nil }
            if s.capacityWaiter == nil && s.drainWaiter == nil { someoneWaits.store(false, ordering: .sequentiallyConsistent) }
            return (cap, drain)
        }
        cap?.resume()
        drain?.resume()
    }

    // MARK: revoke and shutdown

    /// Removes messages that have not started, of the given partitions (all if nil); returns them.
    /// A running lane keeps its head, which finishes normally.
    func removeUnstarted(of partitions: Set<KafkaTopicPartition>?) -> [KafkaConsumerMessage] {
        let removed = state.withLock { s -> [KafkaConsumerMessage] in
            var removed: [KafkaConsumerMessage] = []
            for head in s.lanes.all where partitions?.contains(head.laneKey.topicPartition) ?? true {
                removed += (head.queuedBehind ?? []).map(\.message)
                head.queuedBehind = nil
                if head.laneState != .running {
                    removed.append(head.message)
                    head.laneState = .removed
                    s.lanes.remove(head)
                }
            }
            return removed
        }
        if !removed.isEmpty { finished(removed.count) }
        return removed
    }

    /// Waits until nothing is in flight or `limit` has passed; true when nothing is in flight.
    /// A one-shot timer gives up the wait at the limit; finishing messages end it earlier.
    func drained(within limit: Duration) async -> Bool {
        if inFlight == 0 { return true }
        let timer = runAfter(limit) { [self] in
            state.withLock { s -> CheckedContinuation<Void, Never>? in
                s.drainGivenUp = true
                defer { s.drainWaiter = nil }
                return s.drainWaiter
            }?.resume()
        }
        await drained()
        timer.cancel()
        return inFlight == 0
    }

    /// Waits until nothing is in flight (or the drain timer gives up, or the task is cancelled).
    private func drained() async {
        if inFlight == 0 { return }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
                let now = state.withLock { s -> Bool in
                    someoneWaits.store(true, ordering: .sequentiallyConsistent)
                    if inFlight == 0 || s.drainGivenUp || Task.isCancelled { return true }
                    s.drainWaiter = c
                    return false
                }
                if now { c.resume() }
            }
        } onCancel: {
            state.withLock { s in
                let w = s.drainWaiter
                s.drainWaiter = nil
                return w
            }?.resume()
        }
    }

    /// Ends every handler task's loop.
    func stop() {
        let idle = state.withLock { s -> [CheckedContinuation<Batch, Never>] in
            s.stopped = true
            defer { s.idle.removeAll() }
            return s.idle
        }
        for c in idle { c.resume(returning: []) }
    }
}
