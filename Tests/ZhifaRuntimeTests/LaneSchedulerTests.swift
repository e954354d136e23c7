import Metrics
import Testing
import TestSupport
import ZhifaKafka
@testable import ZhifaRuntime

/// The worker's scheduler across a revoke: what was taken before it must not run after it.
@Suite("Lane scheduler across a revoke")
struct LaneSchedulerTests {
    @Test("messages of a revoked assignment that reach the scheduler after the revoke are refused, so none runs before an earlier message of its key; the next assignment's are taken")
    func staleMessagesAreRefused() async throws {
        let config = try testConfiguration()
        let cluster = try WorkerTests.cluster(groups: ["g-lanes"], topics: ["lanes"])
        let producer = try KafkaProducer(configuration: config.producerConfiguration(bootstrap: cluster.bootstrapServers, role: "t"), logger: testLogger())
        let worker = WorkerTests.worker(cluster, config: config, group: "g-lanes", topics: ["lanes"], producer: producer) { _ in [] }
        let consumer = try KafkaConsumer(configuration: config.consumerConfiguration(bootstrap: cluster.bootstrapServers, group: "g-lanes", role: "t"),
                                         logger: testLogger())
        let scheduler = LaneScheduler(maxInFlight: 100, concurrency: 2)
        let run = WorkerRun(worker: worker, consumer: consumer, scheduler: scheduler, metrics: WorkerMetrics(group: "g-lanes", factory: NOOPMetricsHandler.instance))
        let tp = KafkaTopicPartition(topic: "lanes", partition: 3)
        func message(_ offset: Int64, epoch: UInt64, key: String = "case-1") -> InFlightMessage {
            InFlightMessage(message: KafkaConsumerMessage(topic: tp.topic, partition: tp.partition, offset: offset, timestamp: nil, key: Array(key.utf8),
                                                          value: nil, headers: [], assignmentEpoch: epoch),
                            takenAt: 0, run: run)
        }

        // Offset 17 is queued under assignment 3; the revoke removes it before it starts.
        #expect(scheduler.submit([message(17, epoch: 3)]).isEmpty)
        #expect(scheduler.revoke([tp], epochs: [tp: 3]).map(\.offset) == [17])
        // Offset 18 of the same key, taken before the revoke, arrives after it: refused, or it
        // would run before 17, which the partition's next owner runs after it.
        #expect(scheduler.submit([message(18, epoch: 3), message(19, epoch: 2, key: "case-2")]).map(\.offset) == [18, 19])
        #expect(scheduler.inFlight == 0)
        // The partition assigned again (a later epoch): its messages are taken and run in order.
        #expect(scheduler.submit([message(17, epoch: 4), message(18, epoch: 4)]).isEmpty)
        #expect(scheduler.inFlight == 2)
        let first = await scheduler.next()
        #expect(first.map(\.message.offset) == [17])
        #expect(scheduler.advance(first).map(\.message.offset) == [18])
        scheduler.stop()
        await consumer.close()
        await producer.close()
        await cluster.shutdown()
    }
}
