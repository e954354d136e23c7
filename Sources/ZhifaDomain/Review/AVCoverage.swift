import Foundation

/// How an act is covered by audio-visual segments: the segments in time order and every gap.
public struct AVCoverage: Sendable, Equatable, Codable {
    public struct Span: Sendable, Equatable, Codable {
        public var segmentId: String
        public var deviceId: String
        public var eventId: String
        public var start: Date
        public var end: Date
    }

    public struct Gap: Sendable, Equatable, Codable {
        public var from: Date
        public var to: Date
        public var seconds: Double
        /// The reason given by the segment that resumed recording, if any.
        public var reason: String?
        /// The segment after the gap (nil when recording never resumed before the act ended).
        public var resumedBy: String?
        /// Longer than the tolerance and without a reason.
        public var unexplained: Bool
    }

    public var actionId: String
    public var actionType: ActionType
    public var actStart: Date
    public var actEnd: Date
    public var spans: [Span]
    /// Gaps longer than the tolerance.
    public var gaps: [Gap]

    /// Covered from start to end, every longer gap explained.
    public var complete: Bool { !spans.isEmpty && !gaps.contains(where: \.unexplained) }

    /// The coverage of `act` by `segments`: those naming the act, and unnamed ones overlapping it.
    /// Segment times are corrected by the device clock offset.
    public static func of(_ act: Cited<ActionRecorded>, segments: [Cited<AVSegmentRegistered>], toleranceSeconds: Double) -> AVCoverage {
        let a = act.value
        let start = a.startedAt.date
        let end = a.endedAt.date
        func corrected(_ s: AVSegmentRegistered) -> (Date, Date) {
            let offset = Double(s.deviceClockOffsetMs ?? 0) / 1000
            return (s.startedAt.date.addingTimeInterval(-offset), s.endedAt.date.addingTimeInterval(-offset))
        }
        let relevant = segments.filter { seg in
            if let id = seg.value.actionId { return id == a.actionId }
            let (s, e) = corrected(seg.value)
            return s < end && e > start
        }
        let ordered = relevant.map { ($0, corrected($0.value)) }.sorted { $0.1.0 < $1.1.0 }
        var spans: [Span] = []
        var gaps: [Gap] = []
        var cursor = start
        for (seg, (s, e)) in ordered {
            spans.append(Span(segmentId: seg.value.segmentId, deviceId: seg.value.deviceId, eventId: seg.eventId, start: s, end: e))
            let gapEnd = min(s, end)
            if gapEnd.timeIntervalSince(cursor) > toleranceSeconds, cursor < end {
                let reason = seg.value.gapReason.flatMap { $0.trimmingCharacters(in: .whitespaces).isEmpty ? nil : $0 }
                gaps.append(Gap(from: cursor, to: gapEnd, seconds: gapEnd.timeIntervalSince(cursor), reason: reason, resumedBy: seg.value.segmentId, unexplained: reason == nil))
            }
            if e > cursor { cursor = e }
        }
        if end.timeIntervalSince(cursor) > toleranceSeconds {
            gaps.append(Gap(from: cursor, to: end, seconds: end.timeIntervalSince(cursor), reason: nil, resumedBy: nil, unexplained: true))
        }
        return AVCoverage(actionId: a.actionId, actionType: a.actionType, actStart: start, actEnd: end, spans: spans, gaps: gaps)
    }
}
