import Foundation
import ZhifaDomain

/// Where each body camera's chain of recordings stands: its last recording sent, by end time and
/// hash. A simulator given it links the next recording of each camera to that one, and uses a
/// camera only from that recording's end (`zhifa up --demo` keeps it between rounds and runs, so
/// every camera's recordings form one chain however long the demo runs).
public struct CameraChains: Codable, Sendable, Equatable {
    /// A camera's last recording.
    public struct Last: Codable, Sendable, Equatable {
        public var segmentId: String
        public var endedAt: Instant
        public var sha256: String
    }

    /// The last recording of each camera that has one, by device id.
    public var cameras: [String: Last]

    /// No camera has recorded yet.
    public init() { cameras = [:] }

    /// The chains once `cases` are sent: each camera's latest recording among them, if later than
    /// the one known.
    public func after(_ cases: [SimulatedCase]) throws -> CameraChains {
        var next = self
        for c in cases {
            for e in c.events where e.event.type == EventType.avSegmentRegistered.rawValue {
                guard case .avSegmentRegistered(let s) = try EnforcementEvent.decode(e.event).payload else { continue }
                if let known = next.cameras[s.deviceId], known.endedAt.date >= s.endedAt.date { continue }
                next.cameras[s.deviceId] = Last(segmentId: s.segmentId, endedAt: s.endedAt, sha256: s.sha256)
            }
        }
        return next
    }
}
