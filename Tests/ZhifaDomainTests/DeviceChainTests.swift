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

    @Test("a segment naming a hash no known segment of its device has is waiting for that segment, not broken; naming a known one out of order is broken")
    func namedPreviousNotYetKnown() {
        let a = String(repeating: "a", count: 64)
        let c = String(repeating: "c", count: 64)
        let s0 = Self.segment(previous: nil, id: "S0", at: 100)
        let s1 = Self.segment(previous: String(repeating: "0", count: 64), id: "S1", at: 300)
        // S2 names a hash of its device that is not known: S1's successor may still be on its way.
        var history = DeviceHistory([s0, s1, Self.segment(previous: c, id: "S2", at: 1_000)])
        #expect(history.predecessor(of: Self.segment(previous: c, id: "S2", at: 1_000)).link(of: Self.segment(previous: c, id: "S2", at: 1_000)) == .unknownPredecessor)
        // It names S0, which is known but not its predecessor: broken.
        let namesS0 = Self.segment(previous: s0.sha256, id: "S2", at: 1_000)
        history.add(namesS0)
        #expect(history.predecessor(of: namesS0).link(of: namesS0) == .mismatch(previous: "S1"))
        // The segment it names arrives in between: intact.
        let between = Self.segment(previous: s1.sha256, id: "S1b", at: 600, sha: c)
        let namesBetween = Self.segment(previous: c, id: "S2", at: 1_000)
        history.add(between)
        history.add(namesBetween)
        #expect(history.predecessor(of: namesBetween).link(of: namesBetween) == .intact(previous: "S1b"))
        #expect(DevicePredecessor.known(segmentId: "S1", sha256: a, endedAt: .distantPast, namedIsKnown: false).link(of: Self.segment(previous: c)) == .unknownPredecessor)
    }

    static func segment(previous: String?, id: String, at start: Double, sha: String? = nil) -> AVSegmentRegistered {
        AVSegmentRegistered(caseId: "C", segmentId: id, deviceId: "DSJ-0001", officerId: "O", startedAt: Instant(Date(timeIntervalSince1970: start)),
                            endedAt: Instant(Date(timeIntervalSince1970: start + 100)), mediaType: "video/mp4", sizeBytes: 1,
                            sha256: sha ?? String(repeating: id.last.map(String.init) ?? "9", count: 64), previousSegmentSha256: previous)
    }
}
