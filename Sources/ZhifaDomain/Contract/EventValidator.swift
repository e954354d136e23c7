/// The outcome of validating one event.
public enum EventValidation: Sendable {
    /// Valid: the parsed structured-mode event.
    case valid(JSONValue)
    /// Not JSON at all.
    case notJSON(JSONParseError)
    /// JSON that breaks the contract.
    case invalid([SchemaViolation])

    /// A one-line reason without personal data (for dead letters and logs).
    public var reason: String? {
        switch self {
        case .valid: return nil
        case .notJSON(let e): return "not JSON: \(e.reason) at byte \(e.offset)"
        case .invalid(let v):
            let head = v.prefix(5).map(\.description).joined(separator: "; ")
            return "schema: " + head + (v.count > 5 ? "; and \(v.count - 5) more" : "")
        }
    }
}

/// Decides exactly as the contract's JSON Schema does, for structured-mode JSON and for the
/// binary-mode Kafka form. Every consumer in the system uses this one validator.
public final class EventValidator: Sendable {
    private let schema: SchemaValidator

    /// The validator for the embedded contract.
    public static let contract: EventValidator = {
        do { return try EventValidator(schemaText: ContractSchema.json) } catch { fatalError("the embedded contract schema does not compile: \(error)") }
    }()

    /// Compiles a schema given as JSON text.
    public init(schemaText: String) throws {
        schema = try SchemaValidator(schema: try JSONParser.parse(schemaText))
    }

    /// Validates one structured-mode event (`application/cloudevents+json`).
    public func validate(structured bytes: [UInt8]) -> EventValidation {
        let value: JSONValue
        do { value = try JSONParser.parse(bytes) } catch { return .notJSON(error) }
        return validate(value)
    }

    /// Validates one already-parsed structured-mode event.
    public func validate(_ event: JSONValue) -> EventValidation {
        let v = schema.validate(event)
        return v.isEmpty ? .valid(event) : .invalid(v)
    }

    /// Validates the binary-mode Kafka form: CloudEvents attributes from `ce_*` headers and
    /// `content-type`, `data` from the value. A missing header is reported like a missing attribute.
    public func validate(headers: [(name: String, value: String?)], value: [UInt8]?) -> EventValidation {
        var members: [(key: String, value: JSONValue)] = []
        let map: [(String, String)] = [
            ("ce_specversion", "specversion"), ("ce_id", "id"), ("ce_source", "source"), ("ce_type", "type"),
            ("ce_time", "time"), ("content-type", "datacontenttype"),
        ]
        for (header, attribute) in map {
            if let h = headers.last(where: { $0.name == header }), let text = h.value {
                members.append((attribute, .string(text)))
            }
        }
        guard let value, !value.isEmpty else {
            return .invalid(schema.validate(.object(JSONObject(members))) + [SchemaViolation(pointer: "/data", keyword: "required", detail: "the record has no value")])
        }
        do {
            members.append(("data", try JSONParser.parse(value)))
        } catch {
            return .notJSON(error)
        }
        return validate(.object(JSONObject(members)))
    }
}
