import Foundation
import HTTPTypes
import Hummingbird
import JWTKit

/// The claims of a Zhifa bearer token: who (reviewer or archivist), their agency, and the role.
public struct ZhifaTokenClaims: JWTPayload, Equatable {
    public var sub: SubjectClaim
    public var exp: ExpirationClaim
    public var iss: IssuerClaim
    public var role: String
    public var agency: String

    public init(subject: String, role: String, agency: String, expires: Date) {
        sub = SubjectClaim(value: subject)
        exp = ExpirationClaim(value: expires)
        iss = IssuerClaim(value: "zhifa")
        self.role = role
        self.agency = agency
    }

    public func verify(using algorithm: some JWTAlgorithm) throws {
        try exp.verifyNotExpired()
        guard iss.value == "zhifa" else { throw JWTError.claimVerificationFailure(failedClaim: iss, reason: "not issued by zhifa") }
    }
}

/// Issues and checks HS256 bearer tokens with a configured secret.
public struct BearerTokens: Sendable {
    private let keys: JWTKeyCollection

    /// A token service for `secret` (at least 16 characters).
    public static func make(secret: String) async -> BearerTokens {
        let keys = JWTKeyCollection()
        await keys.add(hmac: HMACKey(from: secret), digestAlgorithm: .sha256)
        return BearerTokens(keys: keys)
    }

    private init(keys: JWTKeyCollection) { self.keys = keys }

    /// A signed token.
    public func issue(_ claims: ZhifaTokenClaims) async throws -> String { try await keys.sign(claims) }

    /// The verified claims of the request's `Authorization: Bearer` token for `role`, or a 401 problem.
    public func authenticate(_ request: Request, role: String) async throws -> ZhifaTokenClaims {
        let challenge: HTTPFields = [.wwwAuthenticate: "Bearer realm=\"zhifa\""]
        guard let header = request.headers[.authorization], header.lowercased().hasPrefix("bearer ") else {
            throw Problem(.unauthorized, title: "Sign in", detail: "send Authorization: Bearer <token> (operators issue tokens with `zhifa \(role == "reviewer" ? "review" : "archive") token`)", headers: challenge)
        }
        let token = String(header.dropFirst(7)).trimmingCharacters(in: .whitespaces)
        let claims: ZhifaTokenClaims
        do { claims = try await keys.verify(token, as: ZhifaTokenClaims.self) } catch {
            throw Problem(.unauthorized, title: "Sign in again", detail: "the token is invalid or has expired", headers: challenge)
        }
        guard claims.role == role else {
            throw Problem(.unauthorized, title: "Wrong token", detail: "this token is for a \(claims.role), not a \(role)", headers: challenge)
        }
        return claims
    }
}
