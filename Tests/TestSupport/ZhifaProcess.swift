import Foundation
import Synchronization
import ZhifaKafka
import ZhifaRuntime

/// The real `zhifa` binary, started by a test: standard output is collected line by line so the
/// test can wait for announcements (`kafka bootstrap: …`, `ingest http://…`).
public final class ZhifaProcess: Sendable {
    private let process: Process
    private let lines = Mutex<(complete: [String], partial: String)>(([], ""))
    private let stderrText = Mutex<String>("")
    public let arguments: [String]

    /// Starts `zhifa ARGS` (or another program) with extra environment.
    public init(_ args: [String], environment: [String: String] = [:], workingDirectory: URL = repositoryRoot, executable: URL = buildProduct("zhifa")) throws {
        let p = Process()
        p.executableURL = executable
        p.arguments = args
        p.currentDirectoryURL = workingDirectory
        var env = ProcessInfo.processInfo.environment
        // ZHIFA_TEST_LOG=info or =debug shows more of what the started services do.
        env["ZHIFA_LOG_LEVEL"] = env["ZHIFA_TEST_LOG"].flatMap { ["debug", "info"].contains($0) ? $0 : nil } ?? "warning"
        for (k, v) in environment { env[k] = v }
        p.environment = env
        let out = Pipe()
        let err = Pipe()
        p.standardOutput = out
        p.standardError = err
        arguments = args
        process = p
        out.fileHandleForReading.readabilityHandler = { [weak self] h in
            let d = h.availableData
            guard !d.isEmpty, let self else { return }
            self.lines.withLock { state in
                state.partial += String(decoding: d, as: UTF8.self)
                while let nl = state.partial.firstIndex(of: "\n") {
                    state.complete.append(String(state.partial[..<nl]))
                    state.partial = String(state.partial[state.partial.index(after: nl)...])
                }
            }
        }
        err.fileHandleForReading.readabilityHandler = { [weak self] h in
            let d = h.availableData
            guard !d.isEmpty, let self else { return }
            self.stderrText.withLock { $0 += String(decoding: d, as: UTF8.self) }
        }
        try p.run()
    }

    /// Complete lines printed so far (without newlines).
    public var output: [String] { lines.withLock { $0.complete } }

    /// What the process wrote to standard error so far (its logs).
    public var errorOutput: String { stderrText.withLock { $0 } }

    /// Waits for a printed line starting with `prefix`; returns the rest of it.
    public func waitForLine(_ prefix: String, timeout: Duration = .seconds(60)) async throws -> String {
        var found: String? = nil
        try await eventually("\(arguments.first ?? "zhifa") to print '\(prefix)…'; stderr: \(errorOutput.suffix(2_000))", timeout: timeout) {
            found = output.first { $0.hasPrefix(prefix) }
            if found == nil && !process.isRunning { throw TimedOut(description: "zhifa \(arguments.joined(separator: " ")) exited with \(process.terminationStatus) before printing '\(prefix)': \(errorOutput.suffix(3_000))") }
            return found != nil
        }
        return String(found!.dropFirst(prefix.count)).trimmingCharacters(in: .whitespaces)
    }

    /// The URL a service announced (`<name> http://host:port`).
    public func url(of service: String) async throws -> String { try await waitForLine("\(service) ") }

    /// Sends a signal.
    public func signal(_ sig: Int32) { kill(process.processIdentifier, sig) }

    /// Whether it still runs.
    public var isRunning: Bool { process.isRunning }

    /// Waits for exit and returns the status.
    public func waitForExit(timeout: Duration = .seconds(60)) async throws -> Int32 {
        try await eventually("zhifa \(arguments.first ?? "") to exit", timeout: timeout) { !process.isRunning }
        return process.terminationStatus
    }

    /// A test that ends early (a failed `#require`, a timeout) leaves no server running: whatever
    /// still runs when the test lets go of it is killed.
    deinit {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
    }

    /// SIGTERM, then wait; SIGKILL if it does not stop.
    public func stop() async {
        guard process.isRunning else { return }
        signal(SIGTERM)
        if (try? await waitForExit(timeout: .seconds(30))) == nil {
            signal(SIGKILL)
            _ = try? await waitForExit(timeout: .seconds(10))
        }
    }
}

/// An embedded cluster with every topic of the default configuration, hosted by the test.
public func embeddedClusterWithAllTopics(brokers: Int = 1) throws -> EmbeddedKafkaCluster {
    let config = try testConfiguration()
    let c = try EmbeddedKafkaCluster(brokers: brokers, logger: testLogger("broker"))
    for t in config.allTopics { try c.createTopic(t.name, partitions: t.partitions) }
    return c
}

/// Reads a whole topic of a cluster.
public func readTopic(_ topic: String, bootstrap: String) async throws -> [KafkaConsumerMessage] {
    try await TopicReader.readAll(topic: topic, client: KafkaClientSettings(bootstrapServers: bootstrap, clientId: "test-reader"), logger: testLogger())
}
