import Foundation
import Yams

/// A configuration value that is wrong or missing, named by file, key and what is allowed.
public struct ConfigError: Error, CustomStringConvertible, Sendable {
    /// The file the value came from (or would have).
    public var file: String
    /// The dotted key path, e.g. `worker.maxInFlight`.
    public var key: String
    /// What is wrong and what is allowed.
    public var problem: String
    /// The environment variable that supplied the value, if one did.
    public var environmentVariable: String?

    /// Creates an error.
    public init(file: String, key: String, problem: String, environmentVariable: String? = nil) {
        self.file = file
        self.key = key
        self.problem = problem
        self.environmentVariable = environmentVariable
    }

    public var description: String {
        var s = "configuration error in \(file)"
        if !key.isEmpty { s += ", key '\(key)'" }
        if let environmentVariable { s += " (set by environment variable \(environmentVariable))" }
        return s + ": \(problem)"
    }
}

/// The configuration tree read from one YAML/JSON file, with environment variables laid over it.
///
/// Every leaf `a.bCd` can be overridden by `ZHIFA_A_B_CD`. Typed getters record which keys were
/// read, so that `checkNoUnknownKeys` can reject misspelt keys.
public final class ConfigSource: @unchecked Sendable {
    /// Path of the file, as given.
    public let file: String
    /// Folder of the file; other configuration files are resolved against it.
    public let directory: URL
    private var tree: [String: Any]
    private var fromEnvironment: [String: String] = [:]
    private var read: Set<String> = []

    /// Reads `file` and applies overrides from `environment`.
    public init(file: String, environment: [String: String] = ProcessInfo.processInfo.environment) throws {
        self.file = file
        let url = URL(fileURLWithPath: file)
        directory = url.deletingLastPathComponent()
        guard let data = FileManager.default.contents(atPath: file) else {
            throw ConfigError(file: file, key: "", problem: "the file cannot be read; pass --config PATH to a zhifa.yaml (the repository has config/zhifa.yaml)")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw ConfigError(file: file, key: "", problem: "the file is not UTF-8 text")
        }
        let loaded: Any?
        do { loaded = try Yams.load(yaml: text) } catch {
            throw ConfigError(file: file, key: "", problem: "not valid YAML or JSON: \(error)")
        }
        guard let root = loaded as? [String: Any] else {
            throw ConfigError(file: file, key: "", problem: "the top level must be a mapping of keys")
        }
        tree = root
        applyEnvironment(environment)
    }

    /// The environment variable that overrides `key`.
    public static func environmentName(for key: String) -> String {
        var out = "ZHIFA_"
        for ch in key {
            if ch == "." || ch == "-" { out.append("_") } else if ch.isUppercase { out.append("_"); out.append(ch) } else { out.append(contentsOf: ch.uppercased()) }
        }
        return out
    }

    private func applyEnvironment(_ env: [String: String]) {
        for path in leafPaths(tree, prefix: "") {
            if let v = env[Self.environmentName(for: path)] {
                set(path, v)
                fromEnvironment[path] = Self.environmentName(for: path)
            }
        }
    }

    private func leafPaths(_ node: [String: Any], prefix: String) -> [String] {
        var out: [String] = []
        for (k, v) in node {
            let p = prefix.isEmpty ? k : "\(prefix).\(k)"
            if let m = v as? [String: Any], !m.isEmpty, !Self.freeFormMaps.contains(p) {
                out += leafPaths(m, prefix: p)
            } else {
                out.append(p)
            }
        }
        return out
    }

    /// Maps whose keys are free-form (not checked, overridden as a whole).
    static let freeFormMaps: Set<String> = ["kafka.properties"]

    private func set(_ path: String, _ value: Any) {
        func assign(_ node: inout [String: Any], _ parts: ArraySlice<Substring>) {
            let k = String(parts.first!)
            if parts.count == 1 { node[k] = value; return }
            var child = node[k] as? [String: Any] ?? [:]
            assign(&child, parts.dropFirst())
            node[k] = child
        }
        assign(&tree, path.split(separator: ".")[...])
    }

    private func lookup(_ path: String) -> Any? {
        var node: Any? = tree
        for part in path.split(separator: ".") {
            guard let m = node as? [String: Any] else { return nil }
            node = m[String(part)]
        }
        return node
    }

    private func error(_ key: String, _ problem: String) -> ConfigError {
        ConfigError(file: file, key: key, problem: problem, environmentVariable: fromEnvironment[key])
    }

    private func raw(_ key: String) throws -> Any {
        read.insert(key)
        guard let v = lookup(key), !(v is NSNull) else {
            throw error(key, "missing; every default belongs in this file (see the repository's config/zhifa.yaml)")
        }
        return v
    }

    /// A text value.
    public func string(_ key: String, allowEmpty: Bool = true) throws -> String {
        let v = try raw(key)
        let s: String
        switch v {
        case let x as String: s = x
        case let x as Int: s = String(x)
        case let x as Double: s = String(x)
        case let x as Bool: s = String(x)
        default: throw error(key, "expected text, got a \(type(of: v))")
        }
        if !allowEmpty && s.isEmpty { throw error(key, "must not be empty") }
        return s
    }

    /// One of a fixed set of words.
    public func choice(_ key: String, _ allowed: [String]) throws -> String {
        let s = try string(key)
        guard allowed.contains(s) else { throw error(key, "'\(s)' is not allowed; use one of: \(allowed.joined(separator: ", "))") }
        return s
    }

    /// A whole number in `range`.
    public func int(_ key: String, in range: ClosedRange<Int>) throws -> Int {
        let v = try raw(key)
        let n: Int?
        switch v {
        case let x as Int: n = x
        case let x as String: n = Int(x.trimmingCharacters(in: .whitespaces))
        case let x as Double where x == x.rounded(): n = Int(x)
        default: n = nil
        }
        guard let n, range.contains(n) else {
            throw error(key, "expected a whole number from \(range.lowerBound) to \(range.upperBound), got '\(v)'")
        }
        return n
    }

    /// A true/false value.
    public func bool(_ key: String) throws -> Bool {
        let v = try raw(key)
        switch v {
        case let x as Bool: return x
        case let x as String where ["true", "yes", "1", "on"].contains(x.lowercased()): return true
        case let x as String where ["false", "no", "0", "off"].contains(x.lowercased()): return false
        default: throw error(key, "expected true or false, got '\(v)'")
        }
    }

    /// A list of text values (a YAML list, or comma-separated text from the environment).
    public func stringList(_ key: String) throws -> [String] {
        let v = try raw(key)
        if let s = v as? String { return s.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty } }
        guard let a = v as? [Any] else { throw error(key, "expected a list of text values") }
        return try a.map {
            guard let s = $0 as? String ?? ($0 as? Int).map(String.init) else { throw error(key, "expected a list of text values, found '\($0)'") }
            return s
        }
    }

    /// A free-form map of text (a YAML mapping, or `k=v,k=v` from the environment).
    public func stringMap(_ key: String) throws -> [String: String] {
        let v = try raw(key)
        if let s = v as? String {
            var out: [String: String] = [:]
            for pair in s.split(separator: ",") {
                let kv = pair.split(separator: "=", maxSplits: 1)
                guard kv.count == 2 else { throw error(key, "expected k=v pairs separated by commas") }
                out[kv[0].trimmingCharacters(in: .whitespaces)] = kv[1].trimmingCharacters(in: .whitespaces)
            }
            return out
        }
        guard let m = v as? [String: Any] else { throw error(key, "expected a mapping of names to values") }
        return m.mapValues { "\($0)" }
    }

    /// A path, resolved against the configuration file's folder when relative.
    public func path(_ key: String) throws -> URL {
        let s = try string(key, allowEmpty: false)
        if s.hasPrefix("/") { return URL(fileURLWithPath: s) }
        return directory.appendingPathComponent(s)
    }

    /// Fails on keys present in the file that no getter read (misspellings, stale settings).
    public func checkNoUnknownKeys() throws {
        let unknown = leafPaths(tree, prefix: "").filter { !read.contains($0) }.sorted()
        guard let first = unknown.first else { return }
        let parent = first.split(separator: ".").dropLast().joined(separator: ".")
        let siblings = read.filter { parent.isEmpty ? !$0.contains(".") : $0.hasPrefix(parent + ".") }
            .map { $0.dropFirst(parent.isEmpty ? 0 : parent.count + 1).split(separator: ".").first.map(String.init) ?? "" }
        let allowed = Set(siblings).sorted().joined(separator: ", ")
        throw error(first, "unknown key; allowed here: \(allowed)")
    }
}
