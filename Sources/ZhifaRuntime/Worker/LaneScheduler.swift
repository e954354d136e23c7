import DequeModule
import Foundation
import Synchronization
import ZhifaKafka

/// One message in the worker's hands.
struct WorkItem: Sendable {
    var message: KafkaConsumerMessage
    var takenAt: ContinuousClock.Instant
    var attempts: Int = 0
    var firstFailure: Date? = nil
}

/// Messages of one key in one partition: processed one at a time, in order.
struct LaneKey: Hashable, Sendable {
    var topicPartition: KafkaTopicPartition
    var key: [UInt8]?
}

/// Hands lanes of work to a fixed set of handler tasks.
///
/// Per-key order: a lane's next message starts only after the previous one's handler returned.
/// Different lanes run concurrently. A lane waiting for a retry is parked and blocks nothing else.
/// `maxInFlight` bounds messages taken and not finished (finished = effects durable).
final class LaneScheduler: Sendable {
    private enum LaneState { case ready, running, parked }

    private struct Lane {
        var id: UInt64
        var queue: Deque<WorkItem>
        var state: LaneState
    }

    private struct State {
        var lanes: [LaneKey: Lane] = [:]
        var ready = Deque<LaneKey>()
        var idle: [CheckedContinuation<(LaneKey, WorkItem)?, Never>] = []
        var inFlight = 0
        var capacityWaiter: CheckedContinuation<Void, Never>? = nil
        var drainWaiter: CheckedContinuation<Void, Never>? = nil
        var stopped = false
        var nextLaneId: UInt64 = 1
    }

    let maxInFlight: Int
    private let state = Mutex(State())

    init(maxInFlight: Int) { self.maxInFlight = maxInFlight }

    var inFlight: Int { state.withLock { $0.inFlight } }

    // MARK: dispatcher side

    /// Waits until fewer than `maxInFlight` messages are in flight (or the task is cancelled).
    func waitForCapacity() async {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
                let now = state.withLock { s -> Bool in
                    if s.inFlight < maxInFlight || s.stopped || Task.isCancelled { return true }
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
    func submit(_ items: [WorkItem]) {
        let wakeups: [(CheckedContinuation<(LaneKey, WorkItem)?, Never>, (LaneKey, WorkItem))] = state.withLock { s in
            for item in items {
                let key = LaneKey(topicPartition: item.message.topicPartition, key: item.message.key)
                s.inFlight += 1
                if s.lanes[key] != nil {
                    s.lanes[key]!.queue.append(item)
                } else {
                    s.lanes[key] = Lane(id: s.nextLaneId, queue: [item], state: .ready)
                    s.nextLaneId += 1
                    s.ready.append(key)
                }
            }
            return Self.pairIdle(&s)
        }
        for (c, v) in wakeups { c.resume(returning: v) }
    }

    private static func pairIdle(_ s: inout State) -> [(CheckedContinuation<(LaneKey, WorkItem)?, Never>, (LaneKey, WorkItem))] {
        var out: [(CheckedContinuation<(LaneKey, WorkItem)?, Never>, (LaneKey, WorkItem))] = []
        while !s.idle.isEmpty, let next = takeReady(&s) { out.append((s.idle.removeLast(), next)) }
        return out
    }

    private static func takeReady(_ s: inout State) -> (LaneKey, WorkItem)? {
        while let key = s.ready.popFirst() {
            guard s.lanes[key]?.state == .ready, let head = s.lanes[key]!.queue.first else { continue }
            s.lanes[key]!.state = .running
            return (key, head)
        }
        return nil
    }

    // MARK: handler side

    /// The next lane to run and its head message; nil once stopped.
    func next() async -> (LaneKey, WorkItem)? {
        await withCheckedContinuation { (c: CheckedContinuation<(LaneKey, WorkItem)?, Never>) in
            let ready: (LaneKey, WorkItem)?? = state.withLock { s in
                if s.stopped { return .some(nil) }
                if let n = Self.takeReady(&s) { return .some(n) }
                s.idle.append(c)
                return nil
            }
            if let ready { c.resume(returning: ready) }
        }
    }

    /// The lane's head message was handled: start its next message later (or drop the lane), and
    /// return other ready work for the calling task, if any.
    func advance(_ key: LaneKey) -> (LaneKey, WorkItem)? {
        let (next, wakeups) = state.withLock { s -> ((LaneKey, WorkItem)?, [(CheckedContinuation<(LaneKey, WorkItem)?, Never>, (LaneKey, WorkItem))]) in
            if s.lanes[key] != nil {
                s.lanes[key]!.queue.removeFirst()
                if s.lanes[key]!.queue.isEmpty {
                    s.lanes.removeValue(forKey: key)
                } else {
                    s.lanes[key]!.state = .ready
                    s.ready.append(key)
                }
            }
            if s.stopped { return (nil, []) }
            let mine = Self.takeReady(&s)
            return (mine, Self.pairIdle(&s))
        }
        for (c, v) in wakeups { c.resume(returning: v) }
        return next
    }

    /// Parks a lane whose head failed; returns the lane id for `unpark`.
    func park(_ key: LaneKey, head: WorkItem) -> UInt64? {
        state.withLock { s in
            guard s.lanes[key] != nil else { return nil }
            s.lanes[key]!.queue[0] = head
            s.lanes[key]!.state = .parked
            return s.lanes[key]!.id
        }
    }

    /// Makes a parked lane ready again (after its backoff).
    func unpark(_ key: LaneKey, id: UInt64) {
        let wakeups = state.withLock { s -> [(CheckedContinuation<(LaneKey, WorkItem)?, Never>, (LaneKey, WorkItem))] in
            guard let lane = s.lanes[key], lane.id == id, lane.state == .parked else { return [] }
            s.lanes[key]!.state = .ready
            s.ready.append(key)
            return Self.pairIdle(&s)
        }
        for (c, v) in wakeups { c.resume(returning: v) }
    }

    /// Messages whose effects are durable (or abandoned) leave the in-flight count.
    func finished(_ count: Int = 1) {
        let (cap, drain) = state.withLock { s -> (CheckedContinuation<Void, Never>?, CheckedContinuation<Void, Never>?) in
            s.inFlight -= count
            var cap: CheckedContinuation<Void, Never>? = nil
            var drain: CheckedContinuation<Void, Never>? = nil
            if s.inFlight < maxInFlight { cap = s.capacityWaiter; s.capacityWaiter = nil }
            if s.inFlight == 0 { drain = s.drainWaiter; s.drainWaiter = nil }
            return (cap, drain)
        }
        cap?.resume()
        drain?.resume()
    }

    // MARK: revoke and shutdown

    /// Removes messages that have not started, of the given partitions (all if nil); returns them.
    /// A running lane keeps its head, which finishes normally.
    func removeUnstarted(of partitions: Set<KafkaTopicPartition>?) -> [KafkaConsumerMessage] {
        let (removed, cap, drain) = state.withLock { s -> ([KafkaConsumerMessage], CheckedContinuation<Void, Never>?, CheckedContinuation<Void, Never>?) in
            var removed: [KafkaConsumerMessage] = []
            for (key, lane) in s.lanes where partitions?.contains(key.topicPartition) ?? true {
                if lane.state == .running {
                    removed += lane.queue.dropFirst().map(\.message)
                    s.lanes[key]!.queue = [lane.queue[0]]
                } else {
                    removed += lane.queue.map(\.message)
                    s.lanes.removeValue(forKey: key)
                }
            }
            s.inFlight -= removed.count
            var cap: CheckedContinuation<Void, Never>? = nil
            var drain: CheckedContinuation<Void, Never>? = nil
            if s.inFlight < maxInFlight { cap = s.capacityWaiter; s.capacityWaiter = nil }
            if s.inFlight == 0 { drain = s.drainWaiter; s.drainWaiter = nil }
            return (removed, cap, drain)
        }
        cap?.resume()
        drain?.resume()
        return removed
    }

    /// Waits until nothing is in flight.
    func drained() async {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
                let now = state.withLock { s -> Bool in
                    if s.inFlight == 0 || Task.isCancelled { return true }
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
        let idle = state.withLock { s -> [CheckedContinuation<(LaneKey, WorkItem)?, Never>] in
            s.stopped = true
            defer { s.idle.removeAll() }
            return s.idle
        }
        for c in idle { c.resume(returning: nil) }
    }
}
