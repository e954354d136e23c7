import Synchronization
import ZhifaDomain

/// Rendered JSON Feed items, kept by the stored entry they render and the feed's base URL.
///
/// Every poll of `/feed.json` lists the latest entries, and between two polls at most a few of
/// them change; rendering an item (decoding the stored entry, the HTML and text bodies, escaping)
/// is most of the cost of a poll. An item is a pure function of the entry's stored text and the
/// base URL, so a kept item is never stale: a changed entry has other text and is rendered anew.
final class FeedItemCache: Sendable {
    private struct Key: Hashable {
        let base: String
        let document: EntryDocument
    }

    /// Items kept at most; past it the cache starts over (the next poll renders its page again).
    let capacity: Int
    private let items = Mutex<[Key: [UInt8]]>([:])

    /// A cache for about `capacity` items (a few feed pages).
    init(capacity: Int) {
        self.capacity = max(1, capacity)
    }

    /// The rendered items of `documents`, in order, rendering only those not kept; an entry
    /// that cannot be decoded is left out (as the feed always did).
    func items(_ documents: [EntryDocument], base: String) -> [[UInt8]] {
        let kept = items.withLock { items in documents.map { items[Key(base: base, document: $0)] } }
        var rendered: [(Key, [UInt8])] = []
        var out: [[UInt8]] = []
        out.reserveCapacity(documents.count)
        for (document, item) in zip(documents, kept) {
            if let item {
                out.append(item)
            } else if let entry = document.entry {
                let bytes = FeedRenderer.item(entry, base: base).jsonBytes
                rendered.append((Key(base: base, document: document), bytes))
                out.append(bytes)
            }
        }
        if !rendered.isEmpty {
            items.withLock { items in
                if items.count + rendered.count > capacity { items.removeAll(keepingCapacity: true) }
                for (key, bytes) in rendered { items[key] = bytes }
            }
        }
        return out
    }

    /// Items kept now.
    var count: Int { items.withLock { $0.count } }
}
