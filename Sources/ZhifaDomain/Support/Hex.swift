import Crypto
import Foundation

/// Lower-case hexadecimal text of bytes (digests), without Foundation's per-byte formatting.
public enum Hex {
    private static let digits = Array("0123456789abcdef".utf8)

    /// The bytes as lower-case hex.
    public static func encode(_ bytes: some Sequence<UInt8>) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(bytes.underestimatedCount * 2)
        for b in bytes {
            out.append(digits[Int(b >> 4)])
            out.append(digits[Int(b & 0x0f)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Lower-case hex SHA-256 of `bytes`.
    public static func sha256(_ bytes: some DataProtocol) -> String {
        encode(SHA256.hash(data: bytes))
    }
}
