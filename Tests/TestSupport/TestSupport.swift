import Foundation
import Logging
import Synchronization
import ZhifaKafka
import ZhifaRuntime

/// The repository root (tests run from anywhere).
public let repositoryRoot: URL = {
    var url = URL(fileURLWithPath: #filePath)
    while url.path != "/" {
        url.deleteLastPathComponent()
        if FileManager.default.fileExists(atPath: url.appendingPathComponent("Package.swift").path) { return url }
    }
    return URL(fileURLWithPath: FileManager.default.currentDirectoryPath)
}()

/// The project's own copy of the published contract.
public let contractDirectory: URL = repositoryRoot.appendingPathComponent("contract")

/// The published contract next to the repository, when this checkout sits beside it.
public let sharedContractDirectory: URL? = {
    let u = repositoryRoot.deletingLastPathComponent().appendingPathComponent("shared/contract")
    return FileManager.default.fileExists(atPath: u.path) ? u : nil
}()

/// The files of a folder, sorted by name.
public func files(in dir: URL, suffix: String = ".json") -> [URL] {
    ((try? FileManager.default.contentsOfDirectory(at: dir, includingPropertiesForKeys: nil)) ?? [])
        .filter { $0.lastPathComponent.hasSuffix(suffix) }.sorted { $0.lastPathComponent < $1.lastPathComponent }
}

/// Runs a program to its end and returns its exit status and output. The waiting (reading both
/// pipes, then the exit) happens on threads of its own, never on the cooperative pool: with two
/// cores that pool has two threads, and a test blocking one for a browser or Python run stalled
/// every other test of the run (an archive test once waited 30 s for a first batch that way).
public func runProgram(_ path: String, _ args: [String], environment: [String: String]? = nil) async throws -> (status: Int32, stdout: String, stderr: String) {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: path)
    p.arguments = args
    if let environment { p.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 } }
    let out = Pipe(), err = Pipe()
    p.standardOutput = out
    p.standardError = err
    try p.run()
    async let o = readToEnd(out.fileHandleForReading)
    async let e = readToEnd(err.fileHandleForReading)
    let (stdout, stderr) = await (o, e)
    let status = await DedicatedThread.run(name: "test:proc-wait") { () -> Int32 in
        p.waitUntilExit()
        return p.terminationStatus
    }
    return (status, stdout, stderr)
}

/// Reads a pipe to its end on a thread of its own.
private func readToEnd(_ handle: FileHandle) async -> String {
    await DedicatedThread.run(name: "test:proc-read") { String(decoding: handle.readDataToEndOfFile(), as: UTF8.self) }
}

/// The default configuration with overrides.
public func testConfiguration(_ env: [String: String] = [:]) throws -> ZhifaConfiguration {
    // Tests never pick up brokers from the developer's environment.
    try ZhifaConfiguration.load(file: repositoryRoot.appendingPathComponent("config/zhifa.yaml").path, environment: env)
}

/// A logger for tests: warnings and above unless `ZHIFA_TEST_LOG=info` or `=debug`.
public func testLogger(_ label: String = "test") -> Logger {
    var l = Logger(label: label)
    l.logLevel = ProcessInfo.processInfo.environment["ZHIFA_TEST_LOG"].flatMap { ["debug", "info"].contains($0) ? Logger.Level(rawValue: $0) : nil } ?? .warning
    return l
}

/// Where the build put its executables (next to the test bundle).
public func buildProduct(_ name: String) -> URL {
    let exe = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
    var dir = exe.deletingLastPathComponent()
    for _ in 0..<4 {
        let candidate = dir.appendingPathComponent(name)
        if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
        dir.deleteLastPathComponent()
    }
    return repositoryRoot.appendingPathComponent(".build/debug/\(name)")
}

/// Thrown when `eventually` runs out of time.
public struct TimedOut: Error, CustomStringConvertible {
    public var description: String
    public init(description: String) { self.description = description }
}

/// Re-checks `condition` until it holds or `timeout` passes (then throws with `what`).
public func eventually(
    _ what: @autoclosure () -> String, timeout: Duration = .seconds(30), every: Duration = .milliseconds(50),
    _ condition: () async throws -> Bool
) async throws {
    let deadline = ContinuousClock.now + timeout
    while true {
        if try await condition() { return }
        if ContinuousClock.now >= deadline { throw TimedOut(description: "timed out waiting for: \(what())") }
        try await Task.sleep(for: every)
    }
}

/// Re-reads a growing `measure` until `isDone` holds, for as long as it keeps changing: throws only
/// when it has not changed for `stall` (or `limit` passes), naming `what` and the last value. For
/// volume waits whose pace depends on the machine (a slow disk's fsync, a loaded CI runner): a
/// stuck pipeline fails after `stall`, a slow one is waited for.
@discardableResult
public func eventually<Value: Equatable & Sendable>(
    _ what: @autoclosure () -> String, stall: Duration = .seconds(60), limit: Duration = .seconds(900),
    every: Duration = .milliseconds(100), measure: () async throws -> Value, until isDone: (Value) -> Bool
) async throws -> Value {
    let clock = ContinuousClock()
    let hardDeadline = clock.now + limit
    var last = try await measure()
    var lastChange = clock.now
    while true {
        if isDone(last) { return last }
        let now = clock.now
        if now - lastChange >= stall || now >= hardDeadline {
            let why = now >= hardDeadline ? "after \(limit)" : "no change for \(stall)"
            throw TimedOut(description: "timed out waiting for: \(what()) (\(why); last seen: \(last))")
        }
        try await Task.sleep(for: every)
        let value = try await measure()
        if value != last { last = value; lastChange = clock.now }
    }
}

/// A thread-safe log of observations that tests can wait on.
public final class Recorder<T: Sendable>: Sendable {
    private let items = Mutex<[T]>([])
    public init() {}
    public func append(_ item: T) { items.withLock { $0.append(item) } }
    public var all: [T] { items.withLock { $0 } }
    public var count: Int { items.withLock { $0.count } }
}

/// A temporary folder removed by `cleanup`.
public struct TemporaryDirectory: Sendable {
    public let url: URL
    public init() throws {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("zhifa-test-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }
    /// Removes it, unless `ZHIFA_TEST_KEEP_DIRS=1` asks to keep data directories for a post-mortem.
    public func cleanup() {
        guard ProcessInfo.processInfo.environment["ZHIFA_TEST_KEEP_DIRS"] != "1" else { return }
        try? FileManager.default.removeItem(at: url)
    }
}

/// A loopback TCP port that was free a moment ago, for a process that needs a fixed port (the
/// kernel picks it; nothing holds it afterwards).
public func freeLoopbackPort() throws -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw TimedOut(description: "socket() failed: errno \(errno)") }
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = 0
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &address) { pointer in
        pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
    }
    guard bound else { throw TimedOut(description: "could not bind a loopback port: errno \(errno)") }
    return Int(UInt16(bigEndian: address.sin_port))
}
