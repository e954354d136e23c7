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
final class LaneScheduler: Sendable {
    enum LaneState { case ready, running, parked, removed }

    /// A lane is a reference so the ready queue and the handler tasks hold it without lookups;
    /// it is only read or changed under the scheduler's lock.
    final class Lane: LaneTableEntry, @unchecked Sendable {
        let key: LaneKey
        let id: UInt64
        var head: InFlightMessage
        var rest: Deque<InFlightMessage>? = nil
        var state: LaneState = .ready

        init(key: LaneKey, id: UInt64, head: InFlightMessage) {
            self.key = key
            self.id = id
            self.head = head
        }

        var count: Int { 1 + (rest?.count ?? 0) }
        var laneKey: LaneKey { key }
    }

    typealias Batch = [(Lane, InFlightMessage)]

    private struct State {
        var lanes = LaneTable<Lane>(capacity: 1_024)
        var ready = Deque<Lane>()
        var idle: [CheckedContinuation<Batch, Never>] = []
        var capacityWaiter: CheckedContinuation<Void, Never>? = nil
        var drainWaiter: CheckedContinuation<Void, Never>? = nil
        var stopped = false
        var nextLaneId: UInt64 = 1
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

    /// Adds taken messages to their lanes and wakes idle handler tasks.
    func submit(_ items: [InFlightMessage]) {
        inFlightCount.add(items.count, ordering: .sequentiallyConsistent)
        let keys = items.map { LaneKey(topicPartition: $0.message.topicPartition, key: $0.message.key) }
        let wakeups = state.withLock { s in
            for (item, key) in zip(items, keys) {
                if let lane = s.lanes.find(key) {
                    if lane.rest == nil { lane.rest = Deque() }
                    lane.rest!.append(item)
                } else {
                    let lane = Lane(key: key, id: s.nextLaneId, head: item)
                    s.nextLaneId += 1
                    s.lanes.insert(lane)
                    s.ready.append(lane)
                }
            }
            return pairIdle(&s)
        }
        for (c, b) in wakeups { c.resume(returning: b) }
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
            guard lane.state == .ready else { continue }
            lane.state = .running
            out.append((lane, lane.head))
        }
        return out
    }

    // MARK: handler side

    /// The next batch of lanes to run (each with its head message); empty once stopped.
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

    /// The lanes' head messages were handled: queue their next messages (or drop empty lanes), and
    /// return the calling task's next batch if work is ready (empty otherwise).
    func advance(_ lanes: [Lane]) -> Batch {
        let (mine, wakeups) = state.withLock { s -> (Batch, [(CheckedContinuation<Batch, Never>, Batch)]) in
            for lane in lanes where lane.state == .running {
                if var rest = lane.rest, let next = rest.popFirst() {
                    lane.head = next
                    lane.rest = rest.isEmpty ? nil : rest
                    lane.state = .ready
                    s.ready.append(lane)
                } else {
                    lane.state = .removed
                    s.lanes.remove(lane)
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
            guard lane.state == .running else { return false }
            lane.state = .parked
            return true
        }
    }

    /// Makes a parked lane ready again (after its backoff).
    func unpark(_ lane: Lane) {
        let wakeups = state.withLock { s -> [(CheckedContinuation<Batch, Never>, Batch)] in
            guard lane.state == .parked else { return [] }
            lane.state = .ready
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
            for lane in s.lanes.all where partitions?.contains(lane.key.topicPartition) ?? true {
                removed += (lane.rest ?? []).map(\.message)
                lane.rest = nil
                if lane.state != .running {
                    removed.append(lane.head.message)
                    lane.state = .removed
                    s.lanes.remove(lane)
                }
            }
            return removed
        }
        if !removed.isEmpty { finished(removed.count) }
        return removed
    }

    /// Waits until nothing is in flight.
    func drained() async {
        if inFlight == 0 { return }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
                let now = state.withLock { s -> Bool in
                    someoneWaits.store(true, ordering: .sequentiallyConsistent)
                    if inFlight == 0 || Task.isCancelled { return true }
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
