import Foundation
import Yams

/// Reads a YAML rules table (devices, reviewers, matters, …) into a `Decodable` type, turning
/// decoding errors into `ConfigError`s that name the file and the key path.
public enum RulesFile {
    /// Decodes `file`.
    public static func decode<T: Decodable>(_ type: T.Type, from file: URL) throws -> T {
        guard let data = FileManager.default.contents(atPath: file.path), let text = String(data: data, encoding: .utf8) else {
            throw ConfigError(file: file.path, key: "", problem: "the file cannot be read")
        }
        do {
            return try YAMLDecoder().decode(T.self, from: text)
        } catch let DecodingError.keyNotFound(key, ctx) {
            throw ConfigError(file: file.path, key: path(ctx.codingPath + [key]), problem: "missing")
        } catch let DecodingError.typeMismatch(t, ctx) {
            throw ConfigError(file: file.path, key: path(ctx.codingPath), problem: "expected \(t)")
        } catch let DecodingError.valueNotFound(t, ctx) {
            throw ConfigError(file: file.path, key: path(ctx.codingPath), problem: "expected \(t), found nothing")
        } catch let DecodingError.dataCorrupted(ctx) {
            throw ConfigError(file: file.path, key: path(ctx.codingPath), problem: ctx.debugDescription)
        } catch {
            throw ConfigError(file: file.path, key: "", problem: "not valid YAML: \(error)")
        }
    }

    static func path(_ keys: [any CodingKey]) -> String {
        var s = ""
        for k in keys {
            if let i = k.intValue { s += "[\(i)]" } else { s += s.isEmpty ? k.stringValue : ".\(k.stringValue)" }
        }
        return s
    }
}
