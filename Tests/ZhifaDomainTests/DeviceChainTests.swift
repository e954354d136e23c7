import Foundation
import Testing
import ZhifaDomain

/// The hash-chain rule the review's AV check (11) and the archive's completeness report share.
@Suite("Device hash chains")
struct DeviceChainTests {
    static func segment(previous: String?) -> AVSegmentRegistered {
        AVSegmentRegistered(caseId: "C", segmentId: "S2", deviceId: "DSJ-0001", officerId: "O", startedAt: Instant(Date(timeIntervalSince1970: 1_000)),
                            endedAt: Instant(Date(timeIntervalSince1970: 1_600)), mediaType: "video/mp4", sizeBytes: 1, sha256: String(repeating: "b", count: 64),
                            previousSegmentSha256: previous)
    }

    @Test("a segment links to its device's previous one by that one's hash")
    func links() {
        let a = String(repeating: "a", count: 64)
        let before = DevicePredecessor.known(segmentId: "S1", sha256: a, endedAt: Date(timeIntervalSince1970: 900))
        #expect(DevicePredecessor.none.link(of: Self.segment(previous: nil)) == .first)
        #expect(DevicePredecessor.none.link(of: Self.segment(previous: a)) == .unknownPredecessor)
        #expect(before.link(of: Self.segment(previous: a)) == .intact(previous: "S1"))
        #expect(before.link(of: Self.segment(previous: nil)) == .unlinked(previous: "S1"))
        #expect(before.link(of: Self.segment(previous: String(repeating: "c", count: 64))) == .mismatch(previous: "S1"))
    }
}
