import ArgumentParser
import Foundation
import Logging
import ServiceLifecycle
import ZhifaKafka
import ZhifaRuntime

/// `--config` and `--data-dir`, which every command takes.
struct CommonOptions: ParsableArguments {
    @Option(help: "Configuration file.")
    var config: String = "config/zhifa.yaml"

    @Option(name: .customLong("data-dir"), help: "Data directory (stores, embedded broker bootstrap).")
    var dataDir: String = "./.zhifa"

    /// Loads the configuration, bootstraps logging and opens the data directory.
    func load() throws -> (ZhifaConfiguration, DataDirectory) {
        let c = try ZhifaConfiguration.load(file: config)
        ZhifaLogging.bootstrap(level: c.logLevel)
        return (c, try DataDirectory(path: dataDir))
    }

    /// Also resolves which Kafka cluster to use.
    func loadWithKafka() throws -> (ZhifaConfiguration, DataDirectory, String) {
        let (c, d) = try load()
        return (c, d, try KafkaEndpoint.resolve(c, dataDirectory: d))
    }
}

/// Writes one line to standard output and flushes it (output may be a pipe).
func emit(_ line: String) {
    FileHandle.standardOutput.write(Data((line + "\n").utf8))
}

/// Writes one line to standard error.
func warn(_ line: String) {
    FileHandle.standardError.write(Data((line + "\n").utf8))
}

/// The services, set so that one failing (a port in use, a store that cannot open) stops the rest
/// the way SIGTERM does — in reverse start order, so the embedded broker goes last and clients do
/// not log its disappearance — and the failure is then reported.
func stoppingInOrderOnFailure(_ services: [ServiceGroupConfiguration.ServiceConfiguration]) -> [ServiceGroupConfiguration.ServiceConfiguration] {
    services.map { s in
        var s = s
        s.failureTerminationBehavior = .gracefullyShutdownGroup
        return s
    }
}
