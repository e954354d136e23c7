import Foundation
import Synchronization
import Testing
@testable import ZhifaKafka

@Suite("Producer and consumer against the embedded broker")
struct ProducerConsumerTests {
    @Test("round trip keeps key, value and headers")
    func roundTrip() async throws {
        try await withEmbeddedCluster(topics: ["rt": 3]) { cluster in
            let producer = try KafkaProducer(configuration: producerConfig(cluster), logger: testLogger())
            let report = try await producer.send(KafkaRecord(
                topic: "rt", key: "case-1", value: Array("{\"a\":1}".utf8),
                headers: [KafkaHeader("ce_id", "evt-1"), KafkaHeader(name: "null-header", value: nil)]))
            #expect(report.topic == "rt")
            #expect(report.offset >= 0)

            let consumer = try KafkaConsumer(configuration: consumerConfig(cluster, group: "rt-g"), logger: testLogger())
            try consumer.subscribe(["rt"])
            let got = try await collect(consumer, count: 1)
            #expect(got.count == 1)
            let m = try #require(got.first)
            #expect(m.keyText == "case-1")
            #expect(m.value == Array("{\"a\":1}".utf8))
            #expect(m.headers.text("ce_id") == "evt-1")
            #expect(m.headers.contains { $0.name == "null-header" && $0.value == nil })
            #expect(m.partition == report.partition)
            #expect(m.offset == report.offset)
            #expect(m.timestamp != nil)
            await consumer.close()
            await producer.close()
        }
    }

    @Test("messages of one key keep their order across 6 partitions")
    func orderingPerKey() async throws {
        try await withEmbeddedCluster(topics: ["ord": 6]) { cluster in
            let producer = try KafkaProducer(configuration: producerConfig(cluster), logger: testLogger())
            let keys = (0..<40).map { "case-\($0)" }
            let perKey = 50
            for i in 0..<perKey {
                for k in keys {
                    try await producer.enqueue(KafkaRecord(topic: "ord", key: k, value: Array("\(i)".utf8)))
                }
            }
            try await producer.flush()
            let consumer = try KafkaConsumer(configuration: consumerConfig(cluster, group: "ord-g"), logger: testLogger())
            try consumer.subscribe(["ord"])
            let got = try await collect(consumer, count: keys.count * perKey)
            #expect(got.count == keys.count * perKey)
            var seen: [String: [Int]] = [:]
            var partitionOfKey: [String: Int32] = [:]
            for m in got {
                let k = try #require(m.keyText)
                seen[k, default: []].append(Int(String(decoding: m.value!, as: UTF8.self))!)
                if let p = partitionOfKey[k] { #expect(p == m.partition) } else { partitionOfKey[k] = m.partition }
            }
            for k in keys { #expect(seen[k] == Array(0..<perKey), "order of \(k)") }
            #expect(Set(partitionOfKey.values).count > 1, "keys spread over partitions")
            await consumer.close()
            await producer.close()
        }
    }
}

@Suite("Backpressure")
struct BackpressureTests {
    @Test("a producer faster than the broker waits and drops nothing")
    func producerWaits() async throws {
        try await withEmbeddedCluster(topics: ["bp": 2]) { cluster in
            try cluster.setRoundTripTime(broker: 1, milliseconds: 20)
            var config = producerConfig(cluster)
            config.queueBufferingMaxMessages = 50
            config.lingerMs = 0
            let producer = try KafkaProducer(configuration: config, logger: testLogger())
            let total = 3_000
            let ok = Counter()
            let failed = Counter()
            for i in 0..<total {
                try await producer.enqueue(KafkaRecord(topic: "bp", key: "k\(i % 10)", value: Array("\(i)".utf8))) { r in
                    switch r {
                    case .success: ok.increment()
                    case .failure: failed.increment()
                    }
                }
            }
            try await producer.flush()
            #expect(ok.value == total)
            #expect(failed.value == 0)
            #expect(producer.backpressureWaits > 0, "the local queue filled up and the caller waited")
            let consumer = try KafkaConsumer(configuration: consumerConfig(cluster, group: "bp-g"), logger: testLogger())
            try consumer.subscribe(["bp"])
            let got = try await collect(consumer, count: total)
            #expect(Set(got.compactMap { $0.value.map { String(decoding: $0, as: UTF8.self) } }).count == total)
            await consumer.close()
            await producer.close()
        }
    }
}

final class Counter: Sendable {
    private let v = Mutex(0)
    func increment() { v.withLock { $0 += 1 } }
    var value: Int { v.withLock { $0 } }
}
