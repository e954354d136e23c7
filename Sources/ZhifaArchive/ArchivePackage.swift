import Foundation
import ZIPFoundation
import ZhifaDomain

/// An archive package (AIP) of one case: a ZIP with `manifest.json`, every event's bytes under
/// `events/`, the case record, completeness and 四性 reports, and the chain proof; sealed with a
/// SHA-256 of the whole file in the ZIP comment, so one changed byte anywhere is detected.
public enum ArchivePackage {
    public static let format = "zhifa-aip/1"
    static let sealPrefix = "zhifa-aip-seal:sha256:"

    /// An entry in the package: the archive entry, its payload file (nil when retention removed
    /// it) and the tombstone that accounts for a removed payload.
    public struct PackagedEntry: Codable, Sendable {
        public var entry: ArchiveEntry
        public var file: String?
        public var tombstone: Tombstone?
    }

    /// The hashes linking a case's entries to a chain head.
    public struct ChainProof: Codable, Sendable {
        public var chain: String
        public var links: [ChainLink]
        public var head: ChainHead
        /// Whether `head` was published to `zhifa.archive.receipts.v1` (else it is the store's current head).
        public var headPublished: Bool
    }

    public struct Manifest: Codable, Sendable {
        public var format: String
        public var caseId: String
        public var exportedAt: String
        public var exportedBy: String
        public var entries: [PackagedEntry]
        public var chains: [ChainProof]
        /// SHA-256 of every other file in the package.
        public var files: [String: String]
    }

    /// The result of checking a package offline.
    public struct Verification: Codable, Sendable {
        public var ok: Bool
        public var caseId: String?
        public var entries: Int
        public var chains: [ChainHead]
        public var problems: [String]

        public var text: String {
            var lines = ["archive package\(caseId.map { " of case \($0)" } ?? ""): \(ok ? "VERIFIED" : "FAILED")", "\(entries) entries"]
            for h in chains { lines.append("  chain \(h.chain) up to #\(h.sequence) \(h.hash)") }
            for p in problems.prefix(50) { lines.append("  - \(p)") }
            return lines.joined(separator: "\n")
        }
    }

    static func fileName(_ e: ArchiveEntry) -> String {
        "events/" + e.chain.replacingOccurrences(of: "/", with: "_") + "-\(String(format: "%08lld", e.sequence)).bin"
    }

    static let encoder: JSONEncoder = {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        return e
    }()

    /// Builds the package bytes.
    public static func build(caseId: String, items: [ArchivedItem], proofs: [ChainProof], record: CaseRecord, completeness: CompletenessReport,
                             verify: FourPropertiesReport, tombstones: [String: Tombstone], exportedBy: String, at: Date) throws -> Data {
        var files: [(String, Data)] = []
        var entries: [PackagedEntry] = []
        for i in items {
            let name = i.payload.map { _ in fileName(i.entry) }
            if let name, let p = i.payload { files.append((name, Data(p))) }
            entries.append(PackagedEntry(entry: i.entry, file: name, tombstone: tombstones["\(i.entry.chain)#\(i.entry.sequence)"]))
        }
        files.append(("record.json", try encoder.encode(record)))
        files.append(("completeness.json", try encoder.encode(completeness)))
        files.append(("verify.json", try encoder.encode(verify)))
        var digests: [String: String] = [:]
        for (n, d) in files { digests[n] = ArchiveChain.sha256Hex(d) }
        let manifest = Manifest(format: format, caseId: caseId, exportedAt: ChinaTime.formatMillis(at), exportedBy: exportedBy, entries: entries, chains: proofs, files: digests)
        files.insert(("manifest.json", try encoder.encode(manifest)), at: 0)

        let archive = try Archive(data: Data(), accessMode: .create)
        for (name, data) in files {
            try archive.addEntry(with: name, type: .file, uncompressedSize: Int64(data.count), modificationDate: at, compressionMethod: .deflate) { position, size in
                data.subdata(in: Int(position)..<Int(position) + size)
            }
        }
        guard var bytes = archive.data else { throw PackageError("the package could not be written") }
        return try seal(&bytes)
    }

    /// Appends the seal as the ZIP comment: SHA-256 of every byte before it.
    static func seal(_ bytes: inout Data) throws -> Data {
        guard let eocd = endOfCentralDirectory(bytes) else { throw PackageError("no ZIP end record") }
        let comment = Array((sealPrefix + String(repeating: "0", count: 64)).utf8)
        bytes = bytes.prefix(eocd + 22)
        bytes[eocd + 20] = UInt8(comment.count & 0xff)
        bytes[eocd + 21] = UInt8(comment.count >> 8)
        let digest = ArchiveChain.sha256Hex(bytes)
        bytes.append(contentsOf: Array((sealPrefix + digest).utf8))
        return bytes
    }

    static func endOfCentralDirectory(_ bytes: Data) -> Int? {
        let b = [UInt8](bytes)
        guard b.count >= 22 else { return nil }
        var i = b.count - 22
        let lowest = max(0, b.count - 22 - 65_535)
        while i >= lowest {
            if b[i] == 0x50, b[i + 1] == 0x4b, b[i + 2] == 0x05, b[i + 3] == 0x06 {
                let commentLength = Int(b[i + 20]) | Int(b[i + 21]) << 8
                if i + 22 + commentLength == b.count { return i }
            }
            i -= 1
        }
        return nil
    }

    /// Checks a package with nothing but its bytes.
    public static func verify(_ bytes: Data) -> Verification {
        var problems: [String] = []
        var v = Verification(ok: false, caseId: nil, entries: 0, chains: [], problems: [])
        // 1. The seal over the whole file.
        guard let eocd = endOfCentralDirectory(bytes) else {
            v.problems = ["not a ZIP archive package (no end-of-central-directory record)"]
            return v
        }
        let comment = String(decoding: bytes[(bytes.startIndex + eocd + 22)...], as: UTF8.self)
        if !comment.hasPrefix(sealPrefix) {
            problems.append("the package seal is missing")
        } else if String(comment.dropFirst(sealPrefix.count)) != ArchiveChain.sha256Hex(bytes.prefix(eocd + 22)) {
            problems.append("the package seal does not match: the file was changed after export")
        }
        // 2. The files.
        var contents: [String: Data] = [:]
        do {
            let archive = try Archive(data: bytes, accessMode: .read)
            for entry in archive {
                var data = Data()
                _ = try archive.extract(entry, skipCRC32: false) { data.append($0) }
                contents[entry.path] = data
            }
        } catch {
            problems.append("the ZIP cannot be read: \(error)")
            v.problems = problems
            return v
        }
        guard let m = contents["manifest.json"], let manifest = try? JSONDecoder().decode(Manifest.self, from: m) else {
            v.problems = problems + ["manifest.json is missing or unreadable"]
            return v
        }
        v.caseId = manifest.caseId
        v.entries = manifest.entries.count
        if manifest.format != format { problems.append("unknown package format \(manifest.format)") }
        for (name, digest) in manifest.files.sorted(by: { $0.key < $1.key }) {
            guard let d = contents[name] else { problems.append("\(name) is listed but missing"); continue }
            if ArchiveChain.sha256Hex(d) != digest { problems.append("\(name) does not match its SHA-256 in the manifest") }
        }
        for name in contents.keys where name != "manifest.json" && manifest.files[name] == nil { problems.append("\(name) is not listed in the manifest") }
        for name in ["record.json", "completeness.json", "verify.json"] where contents[name].flatMap({ try? JSONParser.parse(Array($0)) }) == nil {
            problems.append("\(name) is missing or not JSON")
        }
        // 3. Every entry on its own.
        for p in manifest.entries {
            let payload = p.file.flatMap { contents[$0] }.map { Array($0) }
            if let t = p.tombstone, t.payloadSha256 != p.entry.payloadSha256 { problems.append("the tombstone of \(p.entry.chain) #\(p.entry.sequence) names another payload") }
            problems += ChainChecker.entryProblems(p.entry, payload: payload, tombstoned: p.tombstone != nil).map(\.description)
            if p.entry.caseId != manifest.caseId { problems.append("\(p.entry.chain) #\(p.entry.sequence) belongs to case \(p.entry.caseId ?? "none"), not \(manifest.caseId)") }
        }
        // 4. The chain proofs: contiguous links up to the head, through every case entry.
        for proof in manifest.chains {
            var prev: ChainLink? = nil
            for l in proof.links {
                if let p = prev {
                    if l.sequence != p.sequence + 1 { problems.append("chain \(proof.chain): link \(p.sequence + 1) missing") }
                    if l.prevHash != p.hash { problems.append("chain \(proof.chain) #\(l.sequence) does not follow #\(p.sequence)") }
                }
                if ArchiveChain.link(prevHash: l.prevHash, digest: l.digest) != l.hash { problems.append("chain \(proof.chain) #\(l.sequence): hash does not match") }
                prev = l
            }
            if let last = proof.links.last, last.sequence != proof.head.sequence || last.hash != proof.head.hash {
                problems.append("chain \(proof.chain) does not end at its recorded head #\(proof.head.sequence)")
            }
            let bySeq = Dictionary(proof.links.map { ($0.sequence, $0) }, uniquingKeysWith: { a, _ in a })
            for p in manifest.entries where p.entry.chain == proof.chain {
                guard let l = bySeq[p.entry.sequence] else { problems.append("\(p.entry.chain) #\(p.entry.sequence) is not covered by the chain proof"); continue }
                if l.digest != ArchiveChain.digest(p.entry) || l.hash != p.entry.hash { problems.append("\(p.entry.chain) #\(p.entry.sequence) differs from the chain proof") }
            }
            v.chains.append(proof.head)
        }
        for p in manifest.entries where !manifest.chains.contains(where: { $0.chain == p.entry.chain }) {
            problems.append("no chain proof for \(p.entry.chain)")
        }
        v.problems = problems
        v.ok = problems.isEmpty
        return v
    }
}

/// A package could not be built.
public struct PackageError: Error, CustomStringConvertible {
    public var description: String
    init(_ d: String) { description = d }
}
