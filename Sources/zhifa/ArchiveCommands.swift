import ArgumentParser
import Foundation
import ZhifaArchive
import ZhifaDomain
import ZhifaRuntime

/// `zhifa archive`: the archive service and the archivist's commands.
struct ArchiveCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "archive", abstract: "The archive (归档): every record, tamper-evident; verify (四性检测), completeness, export.",
        subcommands: [ArchiveRunCommand.self, ArchiveTokenCommand.self, ArchiveVerifyCommand.self, ArchiveCompletenessCommand.self,
                      ArchiveExportCommand.self, ArchiveVerifyPackageCommand.self],
        defaultSubcommand: ArchiveRunCommand.self)
}

struct ArchiveRunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "run", abstract: "Run the archive service (the default).")
    @OptionGroup var common: CommonOptions
    func run() async throws { try await ServiceCatalog.run(["archive"], common: common) }
}

struct ArchiveTokenCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "token", abstract: "Print a bearer token for a registered archivist (for operators).")
    @OptionGroup var common: CommonOptions
    @Option(help: "Archivist id from archivists.yaml.") var archivist: String
    func run() async throws {
        let (config, _) = try common.load()
        emit(try await ArchiveService.token(config: config, archivistId: archivist))
    }
}

/// Opens the archive store of a data directory for an operator command.
func operatorArchive(_ common: CommonOptions) throws -> (ArchiveOperations, SQLiteArchiveStore) {
    let (config, dataDir) = try common.load()
    let path = dataDir.path(config.archive.storeFile).path
    guard FileManager.default.fileExists(atPath: path) else {
        throw ValidationError("no archive at \(path): run `zhifa archive` (or `zhifa up`) with this --data-dir first")
    }
    let store = try SQLiteArchiveStore(path: path)
    return (ArchiveOperations(store: store, rules: config.review.rules), store)
}

/// Who runs an operator command, for the audit log.
var operatorActor: String { "operator:\(ProcessInfo.processInfo.environment["USER"] ?? "unknown")@cli" }

func printJSON<T: Encodable>(_ value: T) throws {
    let e = JSONEncoder()
    e.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
    emit(String(decoding: try e.encode(value), as: UTF8.self))
}

struct ArchiveVerifyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify", abstract: "四性检测 (DA/T 70-2018) of what is stored: authenticity, integrity, usability, security. Exit 0 only when all hold.")
    @OptionGroup var common: CommonOptions
    @Option(help: "Check one case's entries only.") var `case`: String?
    @Flag(help: "Print the report as JSON.") var json = false
    func run() async throws {
        let (ops, store) = try operatorArchive(common)
        let report = try await ops.verify(caseId: `case`, actor: operatorActor)
        await store.close()
        if json { try printJSON(report) } else { emit(report.text) }
        if !report.ok { throw ExitCode(1) }
    }
}

struct ArchiveCompletenessCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "completeness", abstract: "Completeness of a case's record: AV coverage, device chains, referenced documents, service, publication.")
    @OptionGroup var common: CommonOptions
    @Option(help: "The case id.") var `case`: String
    @Flag(help: "Print the report as JSON.") var json = false
    func run() async throws {
        let (ops, store) = try operatorArchive(common)
        let items = try await store.caseItems(`case`)
        guard !items.isEmpty else {
            await store.close()
            throw ValidationError("no entries are archived for case \(`case`)")
        }
        let report = try await ops.completeness(`case`, actor: operatorActor)
        await store.close()
        if json { try printJSON(report) } else { emit(report.text) }
    }
}

struct ArchiveExportCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "export", abstract: "Write a case's archive package (ZIP), verifiable offline with verify-package.")
    @OptionGroup var common: CommonOptions
    @Option(help: "The case id.") var `case`: String
    @Option(help: "Where to write the package.") var out: String
    func run() async throws {
        let (ops, store) = try operatorArchive(common)
        do {
            let zip = try await ops.export(`case`, actor: operatorActor)
            try zip.write(to: URL(fileURLWithPath: out), options: .atomic)
            await store.close()
            emit("wrote \(out) (\(zip.count) bytes)")
        } catch let e as ArchiveOperationError {
            await store.close()
            throw ValidationError(e.description)
        }
    }
}

struct ArchiveVerifyPackageCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "verify-package", abstract: "Verify an archive package offline (no database needed). Exit 0 only when it holds.")
    @Argument(help: "The package file.") var file: String
    @Flag(help: "Print the result as JSON.") var json = false
    func run() async throws {
        guard let data = FileManager.default.contents(atPath: file) else { throw ValidationError("cannot read \(file)") }
        let v = ArchivePackage.verify(data)
        if json { try printJSON(v) } else { emit(v.text) }
        if !v.ok { throw ExitCode(1) }
    }
}
