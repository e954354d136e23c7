import Foundation

/// The retention schedule (DOMAIN.md §3): per case category, counted from the case's closing;
/// recordings named as evidence are permanent, other recordings are kept at least
/// `otherRecordingMonths`.
public struct RetentionRules: Sendable, Equatable {
    /// Years per case category; nil means permanent (永久).
    public var years: [Category: Int?] = [
        .penalty: 30, .licence: 30, .coercion: 30, .inspection: 10, .levy: 30, .payment: 10, .adjudication: nil, .confirmation: 30, .other: 10,
    ]
    public var otherRecordingMonths = 6

    public init() {}
}

/// When an archived payload may be removed. Pure.
public enum RetentionPolicy {
    /// The retention class and the time the payload expires, or nil when it is kept (permanent,
    /// or the case is still open).
    public static func expiry(eventType: String?, segmentId: String?, category: Category?, closedAt: Date?, evidenceSegmentIds: Set<String>,
                              rules: RetentionRules) -> (category: String, expiresAt: Date)? {
        guard let closedAt else { return nil }  // nothing of an open case is deleted
        let utc = Calendar(identifier: .gregorian)
        var cal = utc
        cal.timeZone = TimeZone(secondsFromGMT: ChinaTime.offset)!
        if eventType == EventType.avSegmentRegistered.rawValue {
            if let s = segmentId, evidenceSegmentIds.contains(s) { return nil }  // evidence: permanent
            guard let at = cal.date(byAdding: .month, value: rules.otherRecordingMonths, to: closedAt) else { return nil }
            return ("recording-\(rules.otherRecordingMonths)m", at)
        }
        guard let category, let entry = rules.years[category], let years = entry else { return nil }  // permanent
        guard let at = cal.date(byAdding: .year, value: years, to: closedAt) else { return nil }
        return ("\(category.rawValue)-\(years)y", at)
    }
}
