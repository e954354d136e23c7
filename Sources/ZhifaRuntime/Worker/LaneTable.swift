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
/// the hash, so a probe costs one cache line and compares keys only when the hashes are equal;
/// a `Dictionary<LaneKey, Lane>` kept keys and values in separate arrays and re-hashed the key on
/// each of its three operations (measured: the map was the worker runtime's largest cost).
struct LaneTable<Entry: LaneTableEntry> {
    private var hashes: [Int]
    private var entries: [Entry?]
    private var mask: Int
    /// Number of entries.
    private(set) var count = 0

    /// An empty table with room for `capacity` entries before it first grows.
    init(capacity: Int = 64) {
        var size = 16
        while size < capacity * 2 { size *= 2 }
        hashes = Array(repeating: 0, count: size)
        entries = Array(repeating: nil, count: size)
        mask = size - 1
    }

    /// The entry with this key, if any.
    func find(_ key: LaneKey) -> Entry? {
        let h = key.precomputedHash
        var i = h & mask
        while let e = entries[i] {
            if hashes[i] == h && e.laneKey == key { return e }
            i = (i + 1) & mask
        }
        return nil
    }

    /// Adds an entry whose key is not in the table.
    mutating func insert(_ entry: Entry) {
        if (count + 1) * 2 > entries.count { grow() }
        place(entry, hash: entry.laneKey.precomputedHash)
        count += 1
    }

    /// Removes the entry with this key (the entry itself, compared by identity); false if absent.
    @discardableResult
    mutating func remove(_ entry: Entry) -> Bool {
        let h = entry.laneKey.precomputedHash
        var i = h & mask
        while let e = entries[i] {
            if e === entry {
                deleteSlot(i)
                count -= 1
                return true
            }
            i = (i + 1) & mask
        }
        return false
    }

    /// Every entry, in no particular order.
    var all: [Entry] { entries.compactMap { $0 } }

    private mutating func place(_ entry: Entry, hash h: Int) {
        var i = h & mask
        while entries[i] != nil { i = (i + 1) & mask }
        hashes[i] = h
        entries[i] = entry
    }

    /// Empties slot `i` and moves later entries of the probe run back, so lookups never stop at a
    /// hole in front of their entry.
    private mutating func deleteSlot(_ start: Int) {
        var hole = start
        var j = start
        while true {
            j = (j + 1) & mask
            guard entries[j] != nil else { break }
            let ideal = hashes[j] & mask
            // Move j into the hole unless its ideal slot lies cyclically in (hole, j].
            let inRange = hole <= j ? (hole < ideal && ideal <= j) : (hole < ideal || ideal <= j)
            if !inRange {
                hashes[hole] = hashes[j]
                entries[hole] = entries[j]
                hole = j
            }
        }
        entries[hole] = nil
        hashes[hole] = 0
    }

    private mutating func grow() {
        let old = entries.compactMap { $0 }
        let size = entries.count * 2
        hashes = Array(repeating: 0, count: size)
        entries = Array(repeating: nil, count: size)
        mask = size - 1
        for e in old { place(e, hash: e.laneKey.precomputedHash) }
    }
}
