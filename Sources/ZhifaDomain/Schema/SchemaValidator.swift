/// One way an instance breaks the schema: where (JSON Pointer), which keyword, and what is allowed.
/// The detail never repeats the offending value (it may be personal data).
public struct SchemaViolation: Sendable, Equatable, CustomStringConvertible {
    /// JSON Pointer into the instance, e.g. `/data/party/idNumber`.
    public var pointer: String
    /// The schema keyword broken, e.g. `maxLength`.
    public var keyword: String
    /// What is required.
    public var detail: String

    public var description: String { "\(pointer.isEmpty ? "/" : pointer): \(detail) (\(keyword))" }
}

/// Why a schema could not be compiled.
public struct SchemaError: Error, Sendable, CustomStringConvertible {
    public var description: String
}

/// A JSON Schema (draft 2020-12) validator for the keywords the event contract uses: `type`,
/// `const`, `enum`, `required`, `properties`, `additionalProperties`, `items`, `minItems`,
/// `maxItems`, `minLength`, `maxLength`, `pattern`, `minimum`, `maximum`, `format` (`date`,
/// `date-time`, enforced), `$ref` (local), `allOf`, `if`/`then`/`else`. Any other keyword is
/// refused at compile time, so a schema change cannot silently weaken validation.
public final class SchemaValidator: Sendable {
    private let root: Node

    /// Compiles a schema document.
    public init(schema: JSONValue) throws(SchemaError) {
        let defs = schema["$defs"]?.objectValue
        let compiler = Compiler(defs: defs)
        root = try compiler.compile(schema, path: "#")
    }

    /// Every violation, in document order (empty when valid).
    public func validate(_ instance: JSONValue) -> [SchemaViolation] {
        var ctx = Context()
        ctx.path.reserveCapacity(8)
        root.validate(instance, &ctx)
        return ctx.violations
    }

    /// The path being validated (pointers are only built when a violation is recorded).
    struct Context {
        var path: [PathComponent] = []
        var violations: [SchemaViolation] = []
        /// Probing an `if`: only whether anything fails matters.
        var probing = false
        var failed = false

        enum PathComponent {
            case key(String)
            case index(Int)
        }

        mutating func report(_ keyword: String, _ detail: @autoclosure () -> String, child: String? = nil) {
            failed = true
            if probing { return }
            let detail = detail()
            var pointer = ""
            for c in path {
                switch c {
                case .key(let k): pointer += "/" + Node.escape(k)
                case .index(let i): pointer += "/\(i)"
                }
            }
            if let child { pointer += "/" + Node.escape(child) }
            violations.append(SchemaViolation(pointer: pointer, keyword: keyword, detail: detail))
        }
    }

    /// Whether the instance is valid (stops at the first violation).
    public func isValid(_ instance: JSONValue) -> Bool { validate(instance).isEmpty }

    // MARK: compiled nodes

    /// JSON Schema types as bits.
    struct TypeSet: OptionSet {
        let rawValue: UInt8
        static let null = TypeSet(rawValue: 1), boolean = TypeSet(rawValue: 2), integer = TypeSet(rawValue: 4), number = TypeSet(rawValue: 8)
        static let string = TypeSet(rawValue: 16), array = TypeSet(rawValue: 32), object = TypeSet(rawValue: 64)

        init(rawValue: UInt8) { self.rawValue = rawValue }

        init?(name: String) {
            switch name {
            case "null": self = .null
            case "boolean": self = .boolean
            case "integer": self = .integer
            case "number": self = [.number, .integer]
            case "string": self = .string
            case "array": self = .array
            case "object": self = .object
            default: return nil
            }
        }

        static func of(_ v: JSONValue) -> TypeSet {
            switch v {
            case .null: .null
            case .bool: .boolean
            case .number(let n): n.isIntegral ? [.integer, .number] : .number
            case .string: .string
            case .array: .array
            case .object: .object
            }
        }
    }

    /// What one schema object requires, as the compiler collects it.
    struct Rules {
        var types: [String]? = nil
        var typeSet: TypeSet? = nil
        var enumStrings: [String]? = nil
        var constValue: JSONValue? = nil
        var enumValues: [JSONValue]? = nil
        var required: [String] = []
        var properties: [(key: String, node: Node)] = []
        var additionalPropertiesFalse = false
        var items: Node? = nil
        var minItems: Int? = nil
        var maxItems: Int? = nil
        var minLength: Int? = nil
        var maxLength: Int? = nil
        var pattern: PatternMatcher? = nil
        var minimum: Double? = nil
        var maximum: Double? = nil
        var format: String? = nil
        var ref: Node? = nil
        var allOf: [Node] = []
        var discriminator: Discriminator? = nil
        var ifNode: Node? = nil
        var thenNode: Node? = nil
        var elseNode: Node? = nil
    }

    /// A compiled schema object. Its rules are constants (validation reads them without
    /// reference counting); only a definition's slot is filled in after it is created, so that
    /// definitions may refer to themselves.
    final class Node: @unchecked Sendable {
        let types: [String]?
        let typeSet: TypeSet?
        /// `enum` when every value is text: a linear scan (enums here are short; comparing beats hashing).
        let enumStrings: [String]?
        let constValue: JSONValue?
        let enumValues: [JSONValue]?
        let required: [String]
        /// In schema order; looked up by a linear scan (a contract object has at most 15, and
        /// comparing short keys is cheaper than hashing them).
        let properties: [(key: String, node: Node)]
        let additionalPropertiesFalse: Bool
        let items: Node?
        let minItems: Int?
        let maxItems: Int?
        let minLength: Int?
        let maxLength: Int?
        let pattern: PatternMatcher?
        let minimum: Double?
        let maximum: Double?
        let format: String?
        let ref: Node?
        let allOf: [Node]
        let discriminator: Discriminator?
        let ifNode: Node?
        let thenNode: Node?
        let elseNode: Node?
        /// For a `$defs` entry: the compiled definition, set once it is compiled.
        var definition: Node? = nil

        init(_ r: Rules = Rules()) {
            types = r.types; typeSet = r.typeSet; enumStrings = r.enumStrings; constValue = r.constValue
            enumValues = r.enumValues; required = r.required; properties = r.properties
            additionalPropertiesFalse = r.additionalPropertiesFalse; items = r.items; minItems = r.minItems
            maxItems = r.maxItems; minLength = r.minLength; maxLength = r.maxLength; pattern = r.pattern
            minimum = r.minimum; maximum = r.maximum; format = r.format; ref = r.ref; allOf = r.allOf
            discriminator = r.discriminator; ifNode = r.ifNode; thenNode = r.thenNode; elseNode = r.elseNode
        }

        func validate(_ v: JSONValue, _ ctx: inout Context) {
            if ctx.probing && ctx.failed { return }
            if let definition { return definition.validate(v, &ctx) }
            if let ref { ref.validate(v, &ctx) }
            if let typeSet, TypeSet.of(v).isDisjoint(with: typeSet) {
                ctx.report("type", "must be \(types!.count == 1 ? "of type \(types![0])" : "one of the types \(types!.joined(separator: ", "))")")
            }
            if let constValue, v != constValue { ctx.report("const", "must be \(constValue.jsonText)") }
            if let enumValues {
                let ok: Bool
                if let enumStrings, case .string(let s) = v { ok = enumStrings.contains(s) } else { ok = enumValues.contains(v) }
                if !ok { ctx.report("enum", "must be one of \(enumValues.map(\.jsonText).joined(separator: ", "))") }
            }
            switch v {
            case .object(let o):
                for r in required where o[r] == nil { ctx.report("required", "is required", child: r) }
                if !additionalPropertiesFalse && properties.count < o.members.count {
                    // Few constrained properties (e.g. an `if` on `type`): look them up instead.
                    for (key, p) in properties {
                        guard let value = o[key] else { continue }
                        ctx.path.append(.key(key))
                        p.validate(value, &ctx)
                        ctx.path.removeLast()
                    }
                } else {
                    for m in o.members {
                        if let p = property(m.key) {
                            ctx.path.append(.key(m.key))
                            p.validate(m.value, &ctx)
                            ctx.path.removeLast()
                        } else if additionalPropertiesFalse {
                            ctx.report("additionalProperties", "is not allowed here (unknown field)", child: m.key)
                        }
                    }
                }
            case .array(let a):
                if let minItems, a.count < minItems { ctx.report("minItems", "must have at least \(minItems) item\(minItems == 1 ? "" : "s")") }
                if let maxItems, a.count > maxItems { ctx.report("maxItems", "must have at most \(maxItems) items") }
                if let items {
                    for (i, e) in a.enumerated() {
                        ctx.path.append(.index(i))
                        items.validate(e, &ctx)
                        ctx.path.removeLast()
                    }
                }
            case .string(let s):
                if minLength != nil || maxLength != nil {
                    let n = s.utf8.count <= (minLength ?? 0) || s.utf8.count > (maxLength ?? .max) ? s.unicodeScalars.count : -1
                    if n >= 0 {
                        if let minLength, n < minLength { ctx.report("minLength", minLength == 1 ? "must not be empty" : "must be at least \(minLength) characters") }
                        if let maxLength, n > maxLength { ctx.report("maxLength", "must be at most \(maxLength) characters") }
                    }
                }
                if let pattern, !pattern.matches(s) { ctx.report("pattern", "must match the pattern \(pattern.source)") }
                if let format {
                    switch format {
                    case "date-time" where RFC3339Time.parse(s) == nil:
                        ctx.report("format", "must be an RFC 3339 date-time with a UTC offset, e.g. 2024-05-06T09:00:00+08:00")
                    case "date" where !RFC3339Time.isFullDate(s):
                        ctx.report("format", "must be a calendar date YYYY-MM-DD")
                    default: break
                    }
                }
            case .number(let n):
                if let minimum, n.double < minimum { ctx.report("minimum", "must be at least \(Self.format(minimum))") }
                if let maximum, n.double > maximum { ctx.report("maximum", "must be at most \(Self.format(maximum))") }
            default: break
            }
            if let discriminator {
                discriminator.validate(v, &ctx)
            } else {
                for a in allOf { a.validate(v, &ctx) }
            }
            if let ifNode {
                var probe = Context()
                probe.probing = true
                ifNode.validate(v, &probe)
                if !probe.failed { thenNode?.validate(v, &ctx) } else { elseNode?.validate(v, &ctx) }
            }
        }

        /// The subschema of property `key`, if the schema names it.
        @inline(__always)
        func property(_ key: String) -> Node? {
            for p in properties where p.key == key { return p.node }
            return nil
        }

        static func escape(_ key: String) -> String {
            guard key.utf8.contains(where: { $0 == UInt8(ascii: "~") || $0 == UInt8(ascii: "/") }) else { return key }
            var out = ""
            for ch in key {
                switch ch {
                case "~": out += "~0"
                case "/": out += "~1"
                default: out.append(ch)
                }
            }
            return out
        }

        static func format(_ d: Double) -> String { d == d.rounded() && abs(d) < 1e15 ? String(Int64(d)) : String(d) }
    }

    /// An `allOf` whose every entry is `if: {properties: {K: {const: "c"}}}, then: S` on one
    /// property K (the contract's dispatch on `type`). Validating it probes nothing: the value of K
    /// picks the entries whose `if` holds, with the same outcome as probing each `if` in turn —
    /// when the instance is not an object or has no K, every `if` holds (`properties` constrains
    /// only members that are there); when K's value is no entry's constant, none does.
    struct Discriminator {
        let key: String
        /// Each entry's `then`, in `allOf` order.
        let thens: [Node]
        /// The entries (indexes into `thens`) whose constant is this text.
        let entries: [String: [Int]]

        /// Nil unless `allOf` has exactly this shape (then `compiled` holds its entries compiled).
        init?(allOf: [JSONValue], compiled: [Node]) {
            guard allOf.count >= 2, allOf.count == compiled.count else { return nil }
            var key: String? = nil
            var entries: [String: [Int]] = [:]
            var thens: [Node] = []
            for (i, entry) in allOf.enumerated() {
                guard let o = entry.objectValue, Set(o.keys) == ["if", "then"],
                      let cond = o["if"]?.objectValue, cond.keys == ["properties"],
                      let props = cond["properties"]?.objectValue, props.keys.count == 1, let k = props.keys.first,
                      let constSchema = props[k]?.objectValue, constSchema.keys == ["const"],
                      let constant = constSchema["const"]?.stringValue,
                      let then = compiled[i].thenNode, key == nil || key == k else { return nil }
                key = k
                entries[constant, default: []].append(i)
                thens.append(then)
            }
            self.key = key!
            self.thens = thens
            self.entries = entries
        }

        func validate(_ v: JSONValue, _ ctx: inout Context) {
            guard case .object(let o) = v, let value = o[key] else {
                for t in thens { t.validate(v, &ctx) }
                return
            }
            guard case .string(let s) = value, let picked = entries[s] else { return }
            for i in picked { thens[i].validate(v, &ctx) }
        }
    }

    // MARK: compiler

    final class Compiler {
        let defs: JSONObject?
        var compiledDefs: [String: Node] = [:]
        static let annotations: Set<String> = ["$schema", "$id", "title", "description", "$comment", "$defs", "examples", "default"]

        init(defs: JSONObject?) { self.defs = defs }

        func compile(_ s: JSONValue, path: String) throws(SchemaError) -> Node {
            guard let o = s.objectValue else {
                if s == .bool(true) { return Node() }
                throw SchemaError(description: "\(path): a schema must be an object")
            }
            var n = Rules()
            for (key, value) in o.members {
                let p = "\(path)/\(key)"
                switch key {
                case "type":
                    if let t = value.stringValue { n.types = [t] } else if let a = value.arrayValue { n.types = a.compactMap(\.stringValue) } else { throw SchemaError(description: "\(p): bad type") }
                    var set = TypeSet()
                    for t in n.types! {
                        guard let one = TypeSet(name: t) else { throw SchemaError(description: "\(p): unknown type \(t)") }
                        set.formUnion(one)
                    }
                    n.typeSet = set
                case "const": n.constValue = value
                case "enum":
                    n.enumValues = value.arrayValue
                    let strings = (value.arrayValue ?? []).compactMap(\.stringValue)
                    if strings.count == value.arrayValue?.count { n.enumStrings = strings }
                case "required": n.required = value.arrayValue?.compactMap(\.stringValue) ?? []
                case "properties":
                    guard let props = value.objectValue else { throw SchemaError(description: "\(p): must be an object") }
                    for m in props.members {
                        let node = try compile(m.value, path: "\(p)/\(m.key)")
                        // A repeated key: the last one counts, as in every lookup of an object.
                        n.properties.removeAll { $0.key == m.key }
                        n.properties.append((m.key, node))
                    }
                case "additionalProperties":
                    if value == .bool(false) { n.additionalPropertiesFalse = true } else if value != .bool(true) { throw SchemaError(description: "\(p): only true/false are supported") }
                case "items": n.items = try compile(value, path: p)
                case "minItems": n.minItems = value.int64Value.map(Int.init)
                case "maxItems": n.maxItems = value.int64Value.map(Int.init)
                case "minLength": n.minLength = value.int64Value.map(Int.init)
                case "maxLength": n.maxLength = value.int64Value.map(Int.init)
                case "pattern":
                    guard let text = value.stringValue, let m = PatternMatcher(text) else { throw SchemaError(description: "\(p): unsupported pattern") }
                    n.pattern = m
                case "minimum": n.minimum = value.doubleValue
                case "maximum": n.maximum = value.doubleValue
                case "format":
                    guard let f = value.stringValue, ["date", "date-time"].contains(f) else { throw SchemaError(description: "\(p): unsupported format") }
                    n.format = f
                case "$ref":
                    guard let r = value.stringValue, r.hasPrefix("#/$defs/") else { throw SchemaError(description: "\(p): only local #/$defs references are supported") }
                    n.ref = try def(String(r.dropFirst("#/$defs/".count)))
                case "allOf":
                    for (i, sub) in (value.arrayValue ?? []).enumerated() { n.allOf.append(try compile(sub, path: "\(p)/\(i)")) }
                    n.discriminator = Discriminator(allOf: value.arrayValue ?? [], compiled: n.allOf)
                case "if": n.ifNode = try compile(value, path: p)
                case "then": n.thenNode = try compile(value, path: p)
                case "else": n.elseNode = try compile(value, path: p)
                default:
                    if !Self.annotations.contains(key) { throw SchemaError(description: "\(p): keyword not supported by this validator") }
                }
            }
            return Node(n)
        }

        func def(_ name: String) throws(SchemaError) -> Node {
            if let n = compiledDefs[name] { return n }
            guard let d = defs?[name] else { throw SchemaError(description: "#/$defs/\(name) is not defined") }
            let slot = Node()
            compiledDefs[name] = slot
            slot.definition = try compile(d, path: "#/$defs/\(name)")
            return slot
        }
    }
}
