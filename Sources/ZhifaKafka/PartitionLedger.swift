import DequeModule

/// Tracks the messages of one partition handed to the application (guarded by the consumer's lock), so that the stored offset
/// only ever covers a contiguous run of finished messages.
///
/// Messages of one partition may finish out of order (different keys run concurrently); storing
/// the offset of a later one before an earlier one is done would lose the earlier one on a crash.
final class PartitionLedger: @unchecked Sendable {
    enum EntryState: UInt8 { case pending, done, abandoned }

    struct Entry {
        var offset: Int64
        var state: EntryState
    }

    /// The assignment this ledger belongs to.
    let epoch: UInt64
    /// The partition.
    let topicPartition: KafkaTopicPartition
    /// The partition's slot in the consumer's ledger table.
    let slot: Int32
    /// False once the partition was revoked: late done-marks are ignored.
    var alive = true
    private(set) var entries = Deque<Entry>()
    /// Last offset of the finished run not yet passed to librdkafka's offset store.
    var unstored: Int64? = nil
    /// Last offset passed to the offset store.
    var lastStored: Int64? = nil

    init(epoch: UInt64, topicPartition: KafkaTopicPartition, slot: Int32) {
        self.epoch = epoch
        self.topicPartition = topicPartition
        self.slot = slot
    }

    /// Records a message handed out (offsets arrive in increasing order).
    func append(offset: Int64) {
        entries.append(Entry(offset: offset, state: .pending))
    }

    /// Marks a message finished; returns the offset of the last message of the contiguous finished
    /// run that was removed from the front, if the run advanced.
    func markDone(offset: Int64) -> Int64? {
        guard let i = index(of: offset), entries[i].state == .pending else { return nil }
        entries[i].state = .done
        var advancedTo: Int64? = nil
        while let first = entries.first, first.state == .done {
            advancedTo = first.offset
            entries.removeFirst()
        }
        if let advancedTo { unstored = advancedTo }
        return advancedTo
    }

    /// Marks a message that will not be processed here (its partition is being revoked).
    /// An abandoned message stops the stored offset from passing it.
    func abandon(offset: Int64) {
        guard let i = index(of: offset), entries[i].state == .pending else { return }
        entries[i].state = .abandoned
    }

    /// Removes entries from `offset` on (messages still buffered, never handed out).
    func dropTail(from offset: Int64) {
        while let last = entries.last, last.offset >= offset { entries.removeLast() }
    }

    /// Messages handed out and neither finished nor abandoned.
    var pendingCount: Int { entries.reduce(0) { $0 + ($1.state == .pending ? 1 : 0) } }

    private func index(of offset: Int64) -> Int? {
        if let first = entries.first, first.offset == offset { return 0 }
        var lo = 0
        var hi = entries.count - 1
        while lo <= hi {
            let mid = (lo + hi) / 2
            let o = entries[mid].offset
            if o == offset { return mid }
            if o < offset { lo = mid + 1 } else { hi = mid - 1 }
        }
        return nil
    }
}
