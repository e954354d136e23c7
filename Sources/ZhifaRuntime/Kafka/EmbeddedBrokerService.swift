import Foundation
import Logging
import ServiceLifecycle
import ZhifaKafka

/// The embedded broker as a service: created with the configured topics, announced on standard
/// output and in the data directory, removed from both when it stops.
public final class EmbeddedBrokerService: Service, Sendable {
    /// The mock cluster.
    public let cluster: EmbeddedKafkaCluster
    private let dataDirectory: DataDirectory
    private let extraBootstrapFile: URL?
    private let logger: Logger

    /// Starts the cluster and creates every configured topic.
    public init(config: ZhifaConfiguration, brokers: Int, dataDirectory: DataDirectory, bootstrapFile: URL?, logger: Logger) throws {
        cluster = try EmbeddedKafkaCluster(brokers: brokers, logger: logger)
        for t in config.allTopics {
            try cluster.createTopic(t.name, partitions: t.partitions, replicationFactor: Int32(t.replicationFactor))
        }
        self.dataDirectory = dataDirectory
        self.extraBootstrapFile = bootstrapFile
        self.logger = logger
    }

    /// Records the bootstrap, then prints `kafka bootstrap: …` as the first line of standard output
    /// (so whoever reads the line finds the files already written).
    public func announce() throws {
        try dataDirectory.writeBootstrap(cluster.bootstrapServers)
        if let f = extraBootstrapFile { try Data(cluster.bootstrapServers.utf8).write(to: f, options: .atomic) }
        let line = "kafka bootstrap: \(cluster.bootstrapServers)\n"
        FileHandle.standardOutput.write(Data(line.utf8))
        logger.info("embedded broker running", metadata: [
            "bootstrap": "\(cluster.bootstrapServers)", "brokers": "\(cluster.brokerCount)",
            "bootstrapFile": "\(dataDirectory.bootstrapFile.path)",
        ])
    }

    public func run() async throws {
        do { try await gracefulShutdown() } catch {}
        await stop()
    }

    /// Removes the bootstrap files and stops the cluster.
    public func stop() async {
        dataDirectory.removeBootstrap()
        if let f = extraBootstrapFile { try? FileManager.default.removeItem(at: f) }
        await cluster.shutdown()
        logger.info("embedded broker stopped")
    }
}
