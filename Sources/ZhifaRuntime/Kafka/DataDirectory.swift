import Foundation

/// The data directory (`--data-dir`, default `./.zhifa`): the embedded broker's bootstrap file and
/// each service's store.
public struct DataDirectory: Sendable {
    /// The folder.
    public let url: URL

    /// Creates the folder if needed.
    public init(path: String) throws {
        url = URL(fileURLWithPath: path, isDirectory: true)
        do {
            try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        } catch {
            throw ConfigError(file: path, key: "--data-dir", problem: "cannot create the data directory: \(error.localizedDescription)")
        }
    }

    /// `<data-dir>/bootstrap`: the bootstrap string alone, written by `zhifa up` and `zhifa broker`.
    public var bootstrapFile: URL { url.appendingPathComponent("bootstrap") }

    /// A file or folder inside the data directory.
    public func path(_ name: String) -> URL { url.appendingPathComponent(name) }

    /// Records the embedded broker's bootstrap string.
    public func writeBootstrap(_ bootstrap: String) throws {
        try Data(bootstrap.utf8).write(to: bootstrapFile, options: .atomic)
    }

    /// Removes the bootstrap file (when the embedded broker stops).
    public func removeBootstrap() {
        try? FileManager.default.removeItem(at: bootstrapFile)
    }

    /// The recorded bootstrap string, if any.
    public func readBootstrap() -> String? {
        guard let d = FileManager.default.contents(atPath: bootstrapFile.path),
              let s = String(data: d, encoding: .utf8)?.trimmingCharacters(in: .whitespacesAndNewlines), !s.isEmpty else { return nil }
        return s
    }
}

/// Decides which Kafka cluster a command talks to.
public enum KafkaEndpoint {
    /// Why no cluster could be found.
    public struct Unavailable: Error, CustomStringConvertible {
        public var description: String
    }

    /// Configured brokers (`ZHIFA_KAFKA_BROKERS` / `kafka.brokers`) if set; otherwise the embedded
    /// broker recorded in the data directory, checked to be listening.
    public static func resolve(_ config: ZhifaConfiguration, dataDirectory: DataDirectory) throws -> String {
        let configured = config.kafka.brokers.trimmingCharacters(in: .whitespaces)
        if !configured.isEmpty { return configured }
        guard let recorded = dataDirectory.readBootstrap() else {
            throw Unavailable(description: """
                no Kafka brokers are configured and no embedded broker is running: start `zhifa up` or \
                `zhifa broker` first (with the same --data-dir; looked for \(dataDirectory.bootstrapFile.path)), \
                or set ZHIFA_KAFKA_BROKERS to an Apache Kafka cluster
                """)
        }
        guard let first = recorded.split(separator: ",").first, isListening(String(first)) else {
            throw Unavailable(description: """
                \(dataDirectory.bootstrapFile.path) names the embedded broker at \(recorded), but nothing \
                listens there: the broker was probably killed. Start `zhifa up` or `zhifa broker` again.
                """)
        }
        return recorded
    }

    /// Whether a TCP connection to `host:port` succeeds.
    static func isListening(_ hostPort: String) -> Bool {
        let parts = hostPort.split(separator: ":")
        guard parts.count == 2, let port = UInt16(parts[1]) else { return false }
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = port.bigEndian
        let host = parts[0] == "localhost" ? "127.0.0.1" : String(parts[0])
        guard inet_pton(AF_INET, host, &addr.sin_addr) == 1 else { return true }  // a name: let librdkafka resolve it
        let r = withUnsafePointer(to: &addr) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        return r == 0
    }
}
