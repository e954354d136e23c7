import Foundation
import Logging
import ZhifaKafka

/// Reads everything a topic holds right now (beginning to current end), without joining a group.
public enum TopicReader {
    /// All messages currently in `topic`, in partition order.
    public static func readAll(
        topic: String, client: KafkaClientSettings, logger: Logger, timeout: Duration = .seconds(30)
    ) async throws -> [KafkaConsumerMessage] {
        let admin = try KafkaAdmin(client: client, logger: logger)
        defer { Task { await admin.close() } }
        guard let partitions = try await admin.partitionCount(topic) else {
            throw KafkaEndpoint.Unavailable(description: "topic \(topic) does not exist")
        }
        var ends: [Int32: Int64] = [:]
        var starts: [KafkaPartitionStart] = []
        for p in 0..<partitions {
            let (lo, hi) = try await admin.watermarks(KafkaTopicPartition(topic: topic, partition: p))
            if hi > lo {
                ends[p] = hi
                starts.append(KafkaPartitionStart(KafkaTopicPartition(topic: topic, partition: p), offset: lo))
            }
        }
        guard !starts.isEmpty else { return [] }
        var config = KafkaConsumerConfiguration(client: client, groupId: "zhifa-reader-\(UUID().uuidString)")
        config.autoCommit = false
        let consumer = try KafkaConsumer(configuration: config, logger: logger)
        try consumer.assign(starts)
        var out: [KafkaConsumerMessage] = []
        var remaining = Set(ends.keys)
        let deadline = ContinuousClock.now + timeout
        while !remaining.isEmpty, ContinuousClock.now < deadline {
            let batch = await consumer.nextBatch(max: 512, until: deadline)
            guard !batch.isEmpty else { break }
            for m in batch where m.offset < (ends[m.partition] ?? 0) {
                out.append(m)
                if m.offset >= ends[m.partition]! - 1 { remaining.remove(m.partition) }
            }
        }
        await consumer.close()
        if !remaining.isEmpty {
            throw KafkaEndpoint.Unavailable(description: "timed out reading \(topic): partitions \(remaining.sorted()) not read to their end")
        }
        return out
    }
}
