import Foundation
import Testing
import TestSupport
@testable import ZhifaDomain

@Suite("Event contract")
struct ContractTests {
    let validator = EventValidator.contract

    @Test("every example in contract/examples is accepted", arguments: files(in: contractDirectory.appendingPathComponent("examples")))
    func examplesAreValid(_ file: URL) throws {
        let bytes = Array(try Data(contentsOf: file))
        guard case .valid = validator.validate(structured: bytes) else {
            Issue.record("\(file.lastPathComponent) rejected: \(validator.validate(structured: bytes).reason ?? "")")
            return
        }
    }

    /// Each bad file with the JSON Pointer and keyword its rejection must name.
    static let badExpectations: [String: (pointer: String, keyword: String)] = [
        "bad-time.json": ("/data/issuedAt", "format"),
        "fine-negative.json": ("/data/penalties/0/amountFen", "minimum"),
        "missing-caseId.json": ("/data/caseId", "required"),
        "no-legal-basis.json": ("/data/legalBasis", "minItems"),
        "sha256-not-hex.json": ("/data/sha256", "pattern"),
        "unknown-field.json": ("/data/extra", "additionalProperties"),
        "wrong-specversion.json": ("/specversion", "const"),
    ]

    @Test("every file in contract/bad is rejected, naming the field and the rule", arguments: files(in: contractDirectory.appendingPathComponent("bad")))
    func badFilesAreRejected(_ file: URL) throws {
        let result = validator.validate(structured: Array(try Data(contentsOf: file)))
        switch result {
        case .valid: Issue.record("\(file.lastPathComponent) was accepted")
        case .notJSON(let e):
            #expect(file.lastPathComponent == "not-json.json", "only not-json.json is not JSON: \(e)")
        case .invalid(let violations):
            let expected = try #require(Self.badExpectations[file.lastPathComponent], "no expectation for \(file.lastPathComponent)")
            #expect(violations.contains { $0.pointer == expected.pointer && $0.keyword == expected.keyword },
                    "\(file.lastPathComponent): got \(violations)")
        }
    }

    @Test("violations never repeat the offending value")
    func violationsHideValues() throws {
        var event = try JSONParser.parse(Array(try Data(contentsOf: contractDirectory.appendingPathComponent("examples/simple-13-case-opened.json"))))
        event = event.setting(["data", "party", "idNumber"], .string(String(repeating: "1", count: 70)))
        event = event.setting(["data", "party", "phone"], .number(JSONNumber(13900001111)))
        guard case .invalid(let v) = validator.validate(event) else { Issue.record("expected invalid"); return }
        #expect(v.count == 2)
        for x in v { #expect(!x.description.contains("1111"), "\(x)") }
    }

    @Test("an event's case id (the Kafka key) is data.caseId when it is text, else absent")
    func caseIdOfData() {
        func caseId(_ data: String) -> String? {
            CloudEvent(id: "e", source: "s", type: "t", time: "2024-05-06T09:00:00+08:00", data: Array(data.utf8)).caseId
        }
        #expect(caseId(#"{"caseId":"C-1","nested":{"caseId":"other"}}"#) == "C-1")
        #expect(caseId(#" { "a" : [1, {"caseId": "x"}] , "caseId" : "C-\u0032\"" } "#) == "C-2\"")
        #expect(caseId(#"{"nested":{"caseId":"other"}}"#) == nil)
        #expect(caseId(#"{"caseId":17}"#) == nil)
        #expect(caseId(#"["caseId"]"#) == nil)
        #expect(caseId(#"{"caseId":"C-1""#) == nil)
    }

    @Test("the project's contract copy, the embedded schema and the published contract are identical")
    func copiesInSync() throws {
        let mine = try String(contentsOf: contractDirectory.appendingPathComponent("enforcement-event.v1.schema.json"), encoding: .utf8)
        #expect(mine.trimmingCharacters(in: .newlines) == ContractSchema.json.trimmingCharacters(in: .newlines), "run scripts/sync-contract.sh")
        guard let shared = sharedContractDirectory else { return }
        for sub in ["", "examples", "bad"] {
            let a = files(in: contractDirectory.appendingPathComponent(sub), suffix: "")
            let b = files(in: shared.appendingPathComponent(sub), suffix: "")
            #expect(a.map(\.lastPathComponent) == b.map(\.lastPathComponent), "files of contract/\(sub)")
            for (x, y) in zip(a, b) where !x.hasDirectoryPath {
                var isDir: ObjCBool = false
                if FileManager.default.fileExists(atPath: x.path, isDirectory: &isDir), isDir.boolValue { continue }
                #expect(try Data(contentsOf: x) == Data(contentsOf: y), "\(x.lastPathComponent) differs from the published contract")
            }
        }
    }
}

@Suite("Validator cross-checked with Python jsonschema")
struct CrossCheckTests {
    @Test("the Swift validator decides like jsonschema on generated valid and mutated events")
    func crossCheck() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.cleanup() }
        var rng = SeededGenerator(seed: 20_240_506)
        let examples = try files(in: contractDirectory.appendingPathComponent("examples")).map { try JSONParser.parse(Array(Data(contentsOf: $0))) }
        var swiftDecisions: [String: Bool] = [:]
        var count = 0
        for round in 0..<30 {
            for (i, example) in examples.enumerated() {
                let (variant, label) = EventMutator.mutate(example, round: round, using: &rng)
                let name = String(format: "%03d-%02d-%@.json", round, i, label.replacingOccurrences(of: "/", with: "_"))
                try Data(variant.jsonText.utf8).write(to: dir.url.appendingPathComponent(name))
                if case .valid = EventValidator.contract.validate(variant) { swiftDecisions[name] = true } else { swiftDecisions[name] = false }
                count += 1
            }
        }
        #expect(count >= 300)
        let valid = swiftDecisions.values.filter { $0 }.count
        #expect(valid > 40 && count - valid > 150, "both valid and invalid variants are generated (\(valid) valid of \(count))")
        let result = try await runProgram("/usr/bin/env", ["python3", repositoryRoot.appendingPathComponent("Tests/Tools/jsonschema_check.py").path,
                                                     contractDirectory.appendingPathComponent("enforcement-event.v1.schema.json").path, dir.url.path])
        try #require(result.status == 0, "python: \(result.stderr)")
        let python = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as! [String: Bool]
        #expect(python.count == count)
        for (name, swift) in swiftDecisions.sorted(by: { $0.key < $1.key }) {
            let text = (try? String(contentsOf: dir.url.appendingPathComponent(name), encoding: .utf8)) ?? ""
            #expect(python[name] == swift, "\(name): swift \(swift), python \(String(describing: python[name])): \(text.prefix(400))")
        }
    }
}

@Suite("Schema validator: the dispatch on type")
struct DispatchTests {
    /// The contract schema with a `$comment` in every `allOf` entry: the same rules, in a shape the
    /// validator does not dispatch on, so each entry's `if` is probed as written.
    static func probingValidator() throws -> SchemaValidator {
        var schema = try JSONParser.parse(Array(Data(contentsOf: contractDirectory.appendingPathComponent("enforcement-event.v1.schema.json"))))
        guard case .object(var root) = schema, let allOf = root["allOf"]?.arrayValue else { throw SchemaError(description: "no allOf") }
        let commented = allOf.map { entry -> JSONValue in
            guard case .object(var o) = entry else { return entry }
            o.members.append(("$comment", .string("probe this entry")))
            return .object(o)
        }
        root.members = root.members.map { $0.key == "allOf" ? ("allOf", .array(commented)) : $0 }
        schema = .object(root)
        return try SchemaValidator(schema: schema)
    }

    @Test("looking up the type decides and reports exactly as probing every if does")
    func dispatchMatchesProbing() throws {
        let fast = try SchemaValidator(schema: JSONParser.parse(ContractSchema.json))
        let probing = try Self.probingValidator()
        var rng = SeededGenerator(seed: 7)
        let examples = try files(in: contractDirectory.appendingPathComponent("examples")).map { try JSONParser.parse(Array(Data(contentsOf: $0))) }
        // The bad inputs that are JSON (one of them is not).
        var instances = examples + files(in: contractDirectory.appendingPathComponent("bad")).compactMap { try? JSONParser.parse(Array(Data(contentsOf: $0))) }
        for round in 0..<30 { for e in examples { instances.append(EventMutator.mutate(e, round: round, using: &rng).0) } }
        // The edges of the dispatch: no type (every `then` applies), a type of another JSON type
        // or an unknown text (none applies), and instances that are not objects at all.
        let first = examples[0]
        instances += [first.removing(["type"]), first.setting(["type"], .number(JSONNumber(1))), first.setting(["type"], .string("cn.zhifa.other.v1")),
                      .array([first]), .string("event"), .null]
        var withViolations = 0
        for instance in instances {
            let a = fast.validate(instance), b = probing.validate(instance)
            #expect(a == b, "\(instance.jsonText.prefix(300))")
            if !a.isEmpty { withViolations += 1 }
        }
        #expect(instances.count > 300 && withViolations > 150)
        // Without a type, the data is checked against every event type's rules.
        let untyped = fast.validate(first.removing(["type"]))
        #expect(untyped.contains { $0.pointer == "/type" && $0.keyword == "required" })
        #expect(untyped.filter { $0.pointer.hasPrefix("/data") }.count > 3)
    }
}
