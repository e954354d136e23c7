import Foundation
import ZhifaDomain

/// A request to review a case's decisions again because a recording of another case changed
/// what their AV checks rest on: a body camera's segment arrived that lies just before one of
/// this case's segments, so the hash link check 11 could not settle ("still uploading, or
/// missing") can be settled now.
///
/// The review writes it to its own group's retry topic, keyed by the case, as an internal event
/// (`ce_type` `cn.zhifa.review.recheck.v1`); only the review reads that topic, and it honours
/// the type there alone — on `zhifa.events.v1` the contract validator rejects it.
public struct ReviewRecheckEvent: Codable, Sendable, Equatable {
    /// The event type.
    public static let type = "cn.zhifa.review.recheck.v1"

    /// The case to review again.
    public var caseId: String
    /// The device whose segment arrived.
    public var deviceId: String
    /// The arrived segment.
    public var segmentId: String
    /// The event that registered it (of another case): the findings name it as their trigger.
    public var segmentEventId: String

    public init(caseId: String, deviceId: String, segmentId: String, segmentEventId: String) {
        self.caseId = caseId
        self.deviceId = deviceId
        self.segmentId = segmentId
        self.segmentEventId = segmentEventId
    }

    /// The re-check's event id: one per arrived segment (a replay of that segment's event repeats it).
    static func id(segmentEventId: String) -> String { "review-recheck-\(segmentEventId)" }
}
