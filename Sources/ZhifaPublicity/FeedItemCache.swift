import Synchronization
import ZhifaDomain

/// Rendered feed items, kept by the stored entry they render, the feed format and the base URL.
///
/// Every poll of `/feed.json` or `/feed.atom` lists the latest entries, and between two polls at
/// most a few of them change; rendering an item (decoding the stored entry, the HTML and text
/// bodies, escaping) is most of the cost of a poll. An item is a pure function of the entry's
/// stored text, the format and the base URL, so a kept item is never stale: a changed entry has
/// other text and is rendered anew.
final class FeedItemCache: Sendable {
    /// The feeds whose items are kept.
    enum Format: Hashable, Sendable {
        /// A JSON Feed item (`FeedRenderer.item`).
        case jsonFeed
        /// An Atom `<entry>` (`FeedRenderer.atomEntry`).
        case atom
    }

    private struct Key: Hashable {
        let format: Format
        let base: String
        let document: EntryDocument
    }

    /// Items kept at most; past it the cache starts over (the next poll renders its page again).
    let capacity: Int
    private let items = Mutex<[Key: FeedRenderer.RenderedItem]>([:])

    /// A cache for about `capacity` items (a few feed pages).
    init(capacity: Int) {
        self.capacity = max(1, capacity)
    }

    /// The rendered items of `documents`, in order, rendering only those not kept; an entry
    /// that cannot be decoded is left out (as the feeds always did).
    func items(_ documents: [EntryDocument], format: Format, base: String) -> [FeedRenderer.RenderedItem] {
        let keys = documents.map { Key(format: format, base: base, document: $0) }
        let kept = items.withLock { items in keys.map { items[$0] } }
        var rendered: [(Key, FeedRenderer.RenderedItem)] = []
        var out: [FeedRenderer.RenderedItem] = []
        out.reserveCapacity(documents.count)
        for (key, item) in zip(keys, kept) {
            if let item {
                out.append(item)
            } else if let entry = key.document.entry {
                let bytes = switch format {
                case .jsonFeed: FeedRenderer.item(entry, base: base).jsonBytes
                case .atom: Array(FeedRenderer.atomEntry(entry, base: base).utf8)
                }
                let item = FeedRenderer.RenderedItem(bytes: bytes, expired: entry.status == .expired)
                rendered.append((key, item))
                out.append(item)
            }
        }
        if !rendered.isEmpty {
            items.withLock { items in
                if items.count + rendered.count > capacity { items.removeAll(keepingCapacity: true) }
                for (key, item) in rendered { items[key] = item }
            }
        }
        return out
    }

    /// Items kept now.
    var count: Int { items.withLock { $0.count } }
}
