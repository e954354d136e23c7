import Crypto
import Foundation
import ZhifaDomain

/// The device request-signing scheme.
///
/// A terminal signs `METHOD \n PATH \n DATE \n hex(SHA-256(body))` with its Ed25519 key and sends
/// `X-Zhifa-Device`, `X-Zhifa-Date` (RFC 3339) and `X-Zhifa-Signature` (base64). The ingest checks
/// the date is within the allowed skew and the signature verifies with the registered public key.
public enum DeviceSignature {
    public static let deviceHeader = "X-Zhifa-Device"
    public static let dateHeader = "X-Zhifa-Date"
    public static let signatureHeader = "X-Zhifa-Signature"

    /// The exact bytes that are signed.
    public static func canonical(method: String, path: String, date: String, body: [UInt8]) -> [UInt8] {
        let digest = Hex.sha256(body)
        return Array("\(method.uppercased())\n\(path)\n\(date)\n\(digest)".utf8)
    }

    /// Signs a request; returns the base64 signature.
    public static func sign(method: String, path: String, date: String, body: [UInt8], privateKey: Curve25519.Signing.PrivateKey) throws -> String {
        try privateKey.signature(for: canonical(method: method, path: path, date: date, body: body)).base64EncodedString()
    }

    /// Whether a base64 signature verifies.
    public static func verify(method: String, path: String, date: String, body: [UInt8], signature: String, publicKey: Curve25519.Signing.PublicKey) -> Bool {
        guard let sig = Data(base64Encoded: signature) else { return false }
        return publicKey.isValidSignature(sig, for: canonical(method: method, path: path, date: date, body: body))
    }

    /// The three headers for a request signed now.
    public static func headers(method: String, path: String, body: [UInt8], deviceId: String, privateKey: Curve25519.Signing.PrivateKey, now: Date = Date()) throws -> [(String, String)] {
        let date = Date.ISO8601FormatStyle(timeZone: .gmt).format(now)
        let sig = try sign(method: method, path: path, date: date, body: body, privateKey: privateKey)
        return [(deviceHeader, deviceId), (dateHeader, date), (signatureHeader, sig)]
    }
}

/// A registered device (config/devices.yaml).
public struct RegisteredDevice: Sendable {
    public var deviceId: String
    public var agencyId: String
    public var publicKey: Curve25519.Signing.PublicKey
}

/// The device registry, loaded and checked at start.
public struct DeviceRegistry: Sendable {
    public var devices: [String: RegisteredDevice]

    /// Loads `devices.yaml`: a list of `{deviceId, agencyId, publicKey}` (base64 raw Ed25519).
    public static func load(_ file: URL) throws -> DeviceRegistry {
        struct Entry: Decodable { var deviceId: String; var agencyId: String; var publicKey: String; var kind: String? }
        struct Doc: Decodable { var devices: [Entry] }
        let doc = try RulesFile.decode(Doc.self, from: file)
        var out: [String: RegisteredDevice] = [:]
        for (i, e) in doc.devices.enumerated() {
            guard let raw = Data(base64Encoded: e.publicKey), let key = try? Curve25519.Signing.PublicKey(rawRepresentation: raw) else {
                throw ConfigError(file: file.path, key: "devices[\(i)].publicKey", problem: "must be a base64 raw Ed25519 public key (32 bytes)")
            }
            guard out[e.deviceId] == nil else {
                throw ConfigError(file: file.path, key: "devices[\(i)].deviceId", problem: "device \(e.deviceId) is registered twice")
            }
            out[e.deviceId] = RegisteredDevice(deviceId: e.deviceId, agencyId: e.agencyId, publicKey: key)
        }
        return DeviceRegistry(devices: out)
    }
}

/// Demo device private keys (config/dev-keys/<deviceId>.key, base64 raw): for the embedded demo only.
public enum DemoDeviceKeys {
    /// The private key of a demo device.
    public static func load(deviceId: String, configDirectory: URL) throws -> Curve25519.Signing.PrivateKey {
        let file = configDirectory.appendingPathComponent("dev-keys/\(deviceId).key")
        guard let text = try? String(contentsOf: file, encoding: .utf8), let raw = Data(base64Encoded: text.trimmingCharacters(in: .whitespacesAndNewlines)),
              let key = try? Curve25519.Signing.PrivateKey(rawRepresentation: raw) else {
            throw ConfigError(file: file.path, key: "", problem: "no demo key for device \(deviceId) (a base64 raw Ed25519 private key); production keys never live in the repository")
        }
        return key
    }
}
