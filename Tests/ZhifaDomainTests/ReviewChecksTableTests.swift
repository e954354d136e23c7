import Foundation
import Testing
import TestSupport
import Yams
@testable import ZhifaDomain

/// One row of Tests/ZhifaDomainTests/review-checks.yaml.
struct CheckCase: CustomTestStringConvertible, Sendable {
    var check: Int
    var kase: String
    var trigger: ReviewTrigger
    var expect: CheckResult
    var why: String
    var mutations: [[String: AnyHashableSendable]]

    var testDescription: String { "check \(check) \(expect.rawValue): \(why)" }

    static func load() throws -> [CheckCase] {
        let text = try String(contentsOf: repositoryRoot.appendingPathComponent("Tests/ZhifaDomainTests/review-checks.yaml"), encoding: .utf8)
        let rows = try Yams.load(yaml: text) as! [[String: Any]]
        return rows.map { r in
            CheckCase(check: r["check"] as! Int, kase: r["case"] as! String, trigger: ReviewTrigger(rawValue: r["trigger"] as! String)!,
                      expect: CheckResult(rawValue: r["expect"] as! String)!, why: r["why"] as! String,
                      mutations: (r["mutations"] as? [[String: Any]] ?? []).map { $0.mapValues { AnyHashableSendable($0) } })
        }
    }

    /// The case's example events with the mutations applied.
    func events() throws -> [EnforcementEvent] {
        let prefix = kase == "general" ? "general" : "simple"
        var docs: [JSONValue] = try files(in: contractDirectory.appendingPathComponent("examples")).filter { $0.lastPathComponent.hasPrefix(prefix) }
            .map { try JSONParser.parse(Array(Data(contentsOf: $0))) }
        for m in mutations {
            let id = m["event"]!.value as! String
            guard let i = docs.firstIndex(where: { $0["id"]?.stringValue == id }) else { throw TimedOut(description: "no event \(id)") }
            if (m["drop"]?.value as? Bool) == true { docs.remove(at: i); continue }
            if let sets = m["set"]?.value as? [String: Any] {
                for (path, value) in sets { docs[i] = docs[i].setting(path.split(separator: ".").map(String.init), JSONValue.fromFoundation(value)) }
            }
            for path in (m["remove"]?.value as? [Any] ?? []).compactMap({ $0 as? String }) {
                docs[i] = docs[i].removing(path.split(separator: ".").map(String.init))
            }
        }
        return try docs.map { doc in
            guard case .valid = EventValidator.contract.validate(doc) else { throw TimedOut(description: "mutation made an invalid event: \(EventValidator.contract.validate(doc).reason ?? "")") }
            return try EnforcementEvent.decode(StructuredCloudEvent.event(from: doc, raw: Array(doc.jsonText.utf8)))
        }
    }
}

/// Wraps YAML values for a Sendable test argument.
struct AnyHashableSendable: @unchecked Sendable {
    let value: Any
    init(_ v: Any) { value = v }
}

@Suite("Automated review checks, table-driven")
struct ReviewChecksTableTests {
    static let table: [CheckCase] = (try? CheckCase.load()) ?? []

    @Test("every check has a passing and a failing case in the table")
    func tableCoversEveryCheck() {
        for id in 1...16 {
            #expect(Self.table.contains { $0.check == id && $0.expect == .pass }, "check \(id) lacks a passing case")
            #expect(Self.table.contains { $0.check == id && $0.expect == .fail }, "check \(id) lacks a failing case")
        }
    }

    @Test("each row's check gives the expected result", arguments: table)
    func row(_ c: CheckCase) throws {
        let decision = c.kase == "general" ? "DEC-0012" : "DEC-S-0088"
        let r = try ExampleCase.review(c.kase, decision: decision, trigger: c.trigger, events: try c.events())
        let f = try #require(r.findings().first { $0.checkId == c.check })
        #expect(f.result == c.expect, "\(f.check): \(f.reasonEn)")
        #expect(!f.reasonZh.isEmpty && !f.reasonEn.isEmpty)
        #expect(!f.eventIds.isEmpty, "a finding names the events it rests on")
        if c.check == 10 && c.expect == .fail {
            #expect(f.reasonEn.contains("10-minute gap"), "names the gap: \(f.reasonEn)")
            #expect(f.reasonEn.contains("14:44"), "names when: \(f.reasonEn)")
        }
    }
}
