/// Something a `LaneTable` holds: an object that knows its lane key.
protocol LaneTableEntry: AnyObject {
    /// The key it is found by; never changes while it is in a table.
    var laneKey: LaneKey { get }
}

/// The scheduler's open lanes by key: an open-addressing table (linear probing, backward-shift
/// deletion) of each entry's precomputed hash and the entry itself.
///
/// Every consumed message looks its key up, and most keys open a lane that is removed again when
/// the message is done, so insert and remove are the hot operations. A slot is 16 bytes and holds
/// the hash, so a probe reads one place and compares keys only when the hashes are equal;
/// a `Dictionary<LaneKey, Lane>` kept keys and values in separate arrays and re-hashed the key on
/// each of its three operations (measured: the map was the worker runtime's largest cost).
struct LaneTable<Entry: LaneTableEntry> {
    /// One slot: the entry's hash next to the entry, so a probe reads one place.
    private struct Slot {
        var hash: Int
        var entry: Entry?
    }

    private var slots: [Slot]
    private var mask: Int
    /// Number of entries.
    private(set) var count = 0

    /// An empty table with room for `capacity` entries before it first grows.
    init(capacity: Int = 64) {
        var size = 16
        while size < capacity * 2 { size *= 2 }
        slots = Array(repeating: Slot(hash: 0, entry: nil), count: size)
        mask = size - 1
    }

    /// The entry with this key, if any.
    func find(_ key: LaneKey) -> Entry? {
        let h = key.precomputedHash
        var i = h & mask
        while let e = slots[i].entry {
            if slots[i].hash == h && e.laneKey == key { return e }
            i = (i + 1) & mask
        }
        return nil
    }

    /// Adds an entry whose key is not in the table.
    mutating func insert(_ entry: Entry) {
        if (count + 1) * 2 > slots.count { grow() }
        place(entry, hash: entry.laneKey.precomputedHash)
        count += 1
    }

    /// Removes this entry (compared by identity); false if absent.
    @discardableResult
    mutating func remove(_ entry: Entry) -> Bool {
        guard let i = slot(of: entry) else { return false }
        deleteSlot(i)
        count -= 1
        return true
    }

    /// Puts `new` (same key) in the slot of `old` (compared by identity); false if `old` is absent.
    @discardableResult
    mutating func replace(_ old: Entry, with new: Entry) -> Bool {
        guard let i = slot(of: old) else { return false }
        slots[i].entry = new
        return true
    }

    /// The slot holding this very entry.
    private func slot(of entry: Entry) -> Int? {
        var i = entry.laneKey.precomputedHash & mask
        while let e = slots[i].entry {
            if e === entry { return i }
            i = (i + 1) & mask
        }
        return nil
    }

    /// Every entry, in no particular order.
    var all: [Entry] { slots.compactMap(\.entry) }

    private mutating func place(_ entry: Entry, hash h: Int) {
        var i = h & mask
        while slots[i].entry != nil { i = (i + 1) & mask }
        slots[i] = Slot(hash: h, entry: entry)
    }

    /// Empties slot `start` and moves later entries of the probe run back, so lookups never stop
    /// at a hole in front of their entry.
    private mutating func deleteSlot(_ start: Int) {
        var hole = start
        var j = start
        while true {
            j = (j + 1) & mask
            guard slots[j].entry != nil else { break }
            let ideal = slots[j].hash & mask
            // Move j into the hole unless its ideal slot lies cyclically in (hole, j].
            let inRange = hole <= j ? (hole < ideal && ideal <= j) : (hole < ideal || ideal <= j)
            if !inRange {
                slots[hole] = slots[j]
                hole = j
            }
        }
        slots[hole] = Slot(hash: 0, entry: nil)
    }

    private mutating func grow() {
        let old = all
        slots = Array(repeating: Slot(hash: 0, entry: nil), count: slots.count * 2)
        mask = slots.count - 1
        for e in old { place(e, hash: e.laneKey.precomputedHash) }
    }
}
