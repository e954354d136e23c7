import Foundation
import Testing
import TestSupport
@testable import ZhifaRuntime

@Suite("Configuration")
struct ConfigurationTests {
    @Test("the shipped file holds every default")
    func defaults() throws {
        let c = try testConfiguration()
        #expect(c.kafka.brokers == "")
        #expect(c.kafka.partitions == 6)
        #expect(c.topics.events == "zhifa.events.v1")
        #expect(c.groups.review == "zhifa-review")
        #expect(c.http.ingestPort == 8080 && c.http.reviewPort == 8081 && c.http.publicityPort == 8082 && c.http.archivePort == 8083)
        #expect(c.allTopics.map(\.name).contains("zhifa-archive.dlq"))
    }

    @Test("environment variables override the file")
    func environmentOverrides() throws {
        let c = try testConfiguration(["ZHIFA_KAFKA_BROKERS": "k1:9092,k2:9092", "ZHIFA_WORKER_MAX_IN_FLIGHT": "77",
                                       "ZHIFA_KAFKA_PROPERTIES": "security.protocol=SASL_SSL,sasl.mechanism=PLAIN"])
        #expect(c.kafka.brokers == "k1:9092,k2:9092")
        #expect(c.worker.maxInFlight == 77)
        #expect(c.kafka.properties == ["security.protocol": "SASL_SSL", "sasl.mechanism": "PLAIN"])
        #expect(ConfigSource.environmentName(for: "worker.maxInFlight") == "ZHIFA_WORKER_MAX_IN_FLIGHT")
    }

    @Test("a wrong value names the file, the key and what is allowed")
    func wrongValue() throws {
        do {
            _ = try testConfiguration(["ZHIFA_WORKER_MAX_IN_FLIGHT": "lots"])
            Issue.record("expected an error")
        } catch let e as ConfigError {
            #expect(e.file.hasSuffix("config/zhifa.yaml"))
            #expect(e.key == "worker.maxInFlight")
            #expect(e.environmentVariable == "ZHIFA_WORKER_MAX_IN_FLIGHT")
            #expect(e.description.contains("whole number from 1 to 1000000"))
        }
        do {
            _ = try testConfiguration(["ZHIFA_LOG_LEVEL": "loud"])
            Issue.record("expected an error")
        } catch let e as ConfigError {
            #expect(e.key == "log.level")
            #expect(e.description.contains("trace, debug, info"))
        }
    }

    @Test("an unknown or missing key is refused")
    func unknownAndMissingKeys() throws {
        let dir = try TemporaryDirectory()
        defer { dir.cleanup() }
        let original = try String(contentsOf: repositoryRoot.appendingPathComponent("config/zhifa.yaml"), encoding: .utf8)
        let misspelt = dir.url.appendingPathComponent("misspelt.yaml")
        try original.replacingOccurrences(of: "  maxInFlight: 10000", with: "  maxInFlight: 10000\n  maxInFlite: 3").write(to: misspelt, atomically: true, encoding: .utf8)
        #expect(throws: ConfigError.self) { try ZhifaConfiguration.load(file: misspelt.path, environment: [:]) }
        do { _ = try ZhifaConfiguration.load(file: misspelt.path, environment: [:]) } catch let e as ConfigError {
            #expect(e.key == "worker.maxInFlite")
            #expect(e.problem.contains("maxInFlight"))
        }
        let missing = dir.url.appendingPathComponent("missing.yaml")
        try original.replacingOccurrences(of: "  concurrency: 8\n", with: "").write(to: missing, atomically: true, encoding: .utf8)
        do {
            _ = try ZhifaConfiguration.load(file: missing.path, environment: [:])
            Issue.record("expected an error")
        } catch let e as ConfigError {
            #expect(e.key == "worker.concurrency")
            #expect(e.problem.contains("missing"))
        }
        #expect(throws: ConfigError.self) { try ZhifaConfiguration.load(file: dir.url.appendingPathComponent("nope.yaml").path, environment: [:]) }
    }
}
