import Foundation
import Synchronization
import ZhifaDomain

/// Recently used cases, decoded, so an event does not re-read and re-decode its whole case.
/// Events of one case are processed one at a time (per-key lanes, and `CaseLocks` for re-checks and
/// replays arriving on the retry topic), so an entry is never updated by two handlers at once.
/// Least recently used cases are evicted past `capacity`.
final class CaseCache: Sendable {
    private struct State {
        var cases: [String: (events: [EnforcementEvent], used: UInt64)] = [:]
        var clock: UInt64 = 0
        var predecessors: [String: DevicePredecessor] = [:]
        var devices: [String: Set<String>] = [:]
    }

    private let state = Mutex(State())
    let capacity: Int

    init(capacity: Int) { self.capacity = capacity }

    func events(_ caseId: String) -> [EnforcementEvent]? {
        state.withLock { s in
            guard let e = s.cases[caseId] else { return nil }
            s.clock += 1
            s.cases[caseId] = (e.events, s.clock)
            return e.events
        }
    }

    func store(_ caseId: String, events: [EnforcementEvent]) {
        state.withLock { s in
            s.clock += 1
            s.cases[caseId] = (events, s.clock)
            if s.cases.count > capacity {
                let victims = s.cases.sorted { $0.value.used < $1.value.used }.prefix(s.cases.count - capacity * 9 / 10).map(\.key)
                for v in victims { s.cases.removeValue(forKey: v) }
            }
        }
    }

    /// A cached predecessor of a segment.
    func predecessor(_ segmentId: String) -> DevicePredecessor? { state.withLock { $0.predecessors[segmentId] } }

    func remember(_ segment: AVSegmentRegistered, _ p: DevicePredecessor) {
        state.withLock { s in
            s.predecessors[segment.segmentId] = p
            s.devices[segment.deviceId, default: []].insert(segment.segmentId)
        }
    }

    /// A new segment of a device may change its neighbours' predecessors.
    func forget(device: String) {
        state.withLock { s in
            for id in s.devices.removeValue(forKey: device) ?? [] { s.predecessors.removeValue(forKey: id) }
        }
    }
}
