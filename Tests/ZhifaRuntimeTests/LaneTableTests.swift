import Testing
import ZhifaKafka
@testable import ZhifaRuntime

/// The worker's lane table against a `Dictionary` model: the same answers after every operation,
/// through growth, probe runs that wrap around the end, and removals from the middle of a run.
@Suite("Lane table")
struct LaneTableTests {
    final class Item: LaneTableEntry {
        let laneKey: LaneKey
        init(_ key: LaneKey) { laneKey = key }
    }

    static func key(_ n: Int, partition: Int32 = 0) -> LaneKey {
        LaneKey(topicPartition: KafkaTopicPartition(topic: "zhifa.events.v1", partition: partition), key: n == 0 ? nil : Array("case-\(n)".utf8))
    }

    @Test("finds, inserts, replaces and removes exactly like a dictionary, over 40,000 random operations")
    func matchesDictionary() {
        var table = LaneTable<Item>(capacity: 4)  // starts small: grows several times
        var model: [Int: Item] = [:]
        var rng = SystemRandomNumberGenerator()
        for step in 0..<40_000 {
            let n = Int.random(in: 0..<3_000, using: &rng)
            let k = Self.key(n, partition: Int32(n % 3))
            let found = table.find(k)
            #expect(found === model[n], "step \(step): lookup of key \(n)")
            if let existing = model[n], Int.random(in: 0..<4, using: &rng) == 0 {
                // The next message of a lane takes its head's place.
                let successor = Item(k)
                let replaced = table.replace(existing, with: successor)
                let replacedAgain = table.replace(existing, with: successor)
                #expect(replaced)
                #expect(!replacedAgain, "the old head is no longer there")
                model[n] = successor
            } else if let existing = model[n], Bool.random(using: &rng) || model.count > 1_500 {
                let removed = table.remove(existing)
                let removedAgain = table.remove(existing)
                #expect(removed)
                #expect(!removedAgain, "a removed entry is gone")
                model[n] = nil
            } else if model[n] == nil {
                let item = Item(k)
                table.insert(item)
                model[n] = item
            }
            #expect(table.count == model.count)
        }
        for (n, item) in model { #expect(table.find(Self.key(n, partition: Int32(n % 3))) === item) }
        #expect(Set(table.all.map { ObjectIdentifier($0) }) == Set(model.values.map { ObjectIdentifier($0) }))
    }

    @Test("keys that differ only in partition, topic or a nil key are different lanes")
    func keyEquality() {
        var table = LaneTable<Item>()
        let keys = [
            LaneKey(topicPartition: KafkaTopicPartition(topic: "a", partition: 0), key: Array("k".utf8)),
            LaneKey(topicPartition: KafkaTopicPartition(topic: "a", partition: 1), key: Array("k".utf8)),
            LaneKey(topicPartition: KafkaTopicPartition(topic: "b", partition: 0), key: Array("k".utf8)),
            LaneKey(topicPartition: KafkaTopicPartition(topic: "a", partition: 0), key: nil),
        ]
        let items = keys.map(Item.init)
        for i in items { table.insert(i) }
        for (k, i) in zip(keys, items) { #expect(table.find(k) === i) }
        let same = LaneKey(topicPartition: KafkaTopicPartition(topic: "a", partition: 0), key: Array("k".utf8))
        #expect(table.find(same) === items[0], "an equal key built again finds the same lane")
    }
}
