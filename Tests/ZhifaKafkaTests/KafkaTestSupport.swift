import Foundation
import Logging
import Testing
@testable import ZhifaKafka

/// A logger for tests: warnings and above, to stderr.
func testLogger(_ label: String = "test") -> Logger {
    var l = Logger(label: label)
    l.logLevel = ProcessInfo.processInfo.environment["ZHIFA_TEST_LOG"].flatMap { ["debug", "info"].contains($0) ? Logger.Level(rawValue: $0) : nil } ?? .warning
    return l
}

/// Starts an embedded cluster with the given topics, runs `body`, and shuts it down.
func withEmbeddedCluster<T>(
    brokers: Int = 1, topics: [String: Int32], _ body: (EmbeddedKafkaCluster) async throws -> T
) async throws -> T {
    let cluster = try EmbeddedKafkaCluster(brokers: brokers, logger: testLogger("broker"))
    for (t, p) in topics { try cluster.createTopic(t, partitions: p, replicationFactor: Int32(brokers)) }
    do {
        let r = try await body(cluster)
        await cluster.shutdown()
        return r
    } catch {
        await cluster.shutdown()
        throw error
    }
}

func producerConfig(_ cluster: EmbeddedKafkaCluster) -> KafkaProducerConfiguration {
    KafkaProducerConfiguration(client: KafkaClientSettings(bootstrapServers: cluster.bootstrapServers, clientId: "test"))
}

func consumerConfig(_ cluster: EmbeddedKafkaCluster, group: String) -> KafkaConsumerConfiguration {
    var c = KafkaConsumerConfiguration(
        client: KafkaClientSettings(bootstrapServers: cluster.bootstrapServers, clientId: "test"), groupId: group)
    c.autoCommitIntervalMs = 200
    return c
}

/// Collects messages until `count` arrived or `timeout` passed (then fails with what it has).
func collect(
    _ consumer: KafkaConsumer, count: Int, timeout: Duration = .seconds(30), markDone: Bool = true
) async throws -> [KafkaConsumerMessage] {
    try await withThrowingTaskGroup(of: [KafkaConsumerMessage]?.self) { group in
        group.addTask {
            var got: [KafkaConsumerMessage] = []
            while got.count < count {
                let batch = await consumer.nextBatch(max: 512)
                if batch.isEmpty { break }
                for m in batch {
                    got.append(m)
                    if markDone { consumer.markDone(m) }
                }
            }
            return got
        }
        group.addTask {
            try await Task.sleep(for: timeout)
            return nil
        }
        let first = try await group.next()!
        group.cancelAll()
        guard let got = first else {
            Issue.record("timed out waiting for \(count) messages")
            return []
        }
        return got
    }
}
