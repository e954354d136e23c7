import Foundation
import ZhifaDomain

/// Renders entries as JSON Feed 1.1, Atom (RFC 4287) and HTML. Pure functions of the entries.
public enum FeedRenderer {
    static let categoryNames = ["penalty": "行政处罚", "licence": "行政许可", "coercion": "行政强制", "inspection": "行政检查", "levy": "行政征收",
                                "payment": "行政给付", "adjudication": "行政裁决", "confirmation": "行政确认", "other": "其他"]
    static let statusNames = ["published": "已公示", "withdrawn": "已撤回", "expired": "已到期"]

    // MARK: JSON

    /// The `_zhifa` extension object of an item.
    static func zhifa(_ e: PublicEntry) -> JSONValue {
        var m: [(key: String, value: JSONValue)] = [
            ("status", .string(e.status.rawValue)), ("decisionId", .string(e.decisionId)), ("documentNumber", .string(e.documentNumber)),
            ("agencyId", .string(e.agencyId)), ("dueAt", .string(e.dueDate)), ("provisionalDue", .bool(e.provisionalDue)),
            ("publishedAt", .string(e.publishedAt)), ("late", .bool(e.late)), ("category", .string(e.category)),
        ]
        if let w = e.withdrawnAt { m.append(("withdrawnAt", .string(w))) }
        if let r = e.withdrawalReason { m.append(("reason", .string(r))) }
        if let r = e.replaces { m.append(("replaces", .string(r))) }
        if let r = e.replacedBy { m.append(("replacedBy", .string(r))) }
        return .object(JSONObject(m))
    }

    /// One entry as a JSON Feed item.
    public static func item(_ e: PublicEntry, base: String) -> JSONValue {
        if e.status == .expired { return expiredItem(e, base: base) }
        var m: [(key: String, value: JSONValue)] = [
            ("id", .string(e.entryId)), ("url", .string("\(base)/entries/\(e.entryId)")), ("title", .string(e.title)),
            ("content_html", .string(contentHTML(e))), ("content_text", .string(contentText(e))),
            ("date_published", .string(e.publishedAt)), ("date_modified", .string(e.updatedAt)),
            ("tags", .array([.string(categoryNames[e.category] ?? e.category), .string(e.agencyName)])),
        ]
        if e.status == .withdrawn, let r = e.withdrawalReason { m.append(("summary", .string(r))) }
        m.append(("_zhifa", zhifa(e)))
        return .object(JSONObject(m))
    }

    /// An expired entry: it keeps its id so readers can drop it, but no longer shows the decision.
    static func expiredItem(_ e: PublicEntry, base: String) -> JSONValue {
        .object(JSONObject([
            ("id", .string(e.entryId)), ("url", .string("\(base)/entries/\(e.entryId)")), ("title", .string("【已到期】\(e.documentNumber)")),
            ("content_text", .string("公示期满，该决定已不再公示。")), ("date_published", .string(e.publishedAt)), ("date_modified", .string(e.updatedAt)),
            ("_zhifa", zhifa(e)),
        ]))
    }

    /// The whole JSON Feed (one page of it; `nextURL` links the next).
    public static func jsonFeed(_ entries: [PublicEntry], base: String, title: String, nextURL: String? = nil) -> String {
        jsonFeed(items: entries.map { RenderedItem(bytes: item($0, base: base).jsonBytes, expired: $0.status == .expired) },
                 base: base, title: title, nextURL: nextURL)
    }

    /// One entry rendered for a feed (a JSON Feed item or an Atom `<entry>`), as UTF-8.
    public struct RenderedItem: Sendable, Equatable {
        /// The rendered text.
        public var bytes: [UInt8]
        /// Whether the entry has expired (Atom lists those first).
        public var expired: Bool

        /// Wraps a rendered item.
        public init(bytes: [UInt8], expired: Bool) {
            self.bytes = bytes
            self.expired = expired
        }
    }

    /// The whole JSON Feed from items already rendered (`item(_:base:).jsonBytes`, in order).
    public static func jsonFeed(items: [RenderedItem], base: String, title: String, nextURL: String? = nil) -> String {
        var m: [(key: String, value: JSONValue)] = [
            ("version", .string("https://jsonfeed.org/version/1.1")), ("title", .string(title)), ("home_page_url", .string(base + "/")),
            ("feed_url", .string(base + "/feed.json")), ("description", .string("行政执法公示：行政处罚、行政许可等执法决定，依法隐去个人信息。")),
            ("language", .string("zh-CN")),
        ]
        if let nextURL { m.append(("next_url", .string(nextURL))) }
        // The members above, then `"items":[…]` as the last member: the head's closing brace is
        // replaced by the items, which are spliced in as they are.
        var out = JSONValue.object(JSONObject(m)).jsonBytes
        out.removeLast()
        out.reserveCapacity(out.count + items.reduce(16) { $0 + $1.bytes.count + 1 })
        out.append(contentsOf: #","items":["#.utf8)
        for (i, item) in items.enumerated() {
            if i > 0 { out.append(UInt8(ascii: ",")) }
            out.append(contentsOf: item.bytes)
        }
        out.append(contentsOf: "]}".utf8)
        return String(decoding: out, as: UTF8.self)
    }

    // MARK: text and HTML content

    static func contentText(_ e: PublicEntry) -> String {
        var lines = ["决定书文号：\(e.documentNumber)", "执法机关：\(e.agencyName)", "当事人：\(e.party.name)"]
        if let c = e.party.creditCode { lines.append("统一社会信用代码：\(c)") }
        if let r = e.party.legalRepresentative { lines.append("法定代表人：\(r)") }
        lines += ["事项：\(e.matterName)", "违法事实：\(e.facts)", "处罚依据：\(e.legalBasis.joined(separator: "、"))",
                  "处罚内容：\(e.penalties.joined(separator: "；"))", "作出决定日期：\(e.decidedOn)"]
        if e.status == .withdrawn, let r = e.withdrawalReason { lines.insert("【已撤回】\(r)", at: 0) }
        return lines.joined(separator: "\n")
    }

    static func contentHTML(_ e: PublicEntry) -> String {
        var rows: [(String, String)] = [("决定书文号", e.documentNumber), ("执法机关", e.agencyName), ("当事人", e.party.name)]
        if let c = e.party.creditCode { rows.append(("统一社会信用代码", c)) }
        if let r = e.party.legalRepresentative { rows.append(("法定代表人", r)) }
        rows += [("事项", e.matterName), ("违法事实", e.facts), ("处罚依据", e.legalBasis.joined(separator: "、")),
                 ("处罚内容", e.penalties.joined(separator: "；")), ("作出决定日期", e.decidedOn)]
        var html = e.status == .withdrawn ? "<p class=\"withdrawn\"><strong>【已撤回】</strong>\(esc(e.withdrawalReason ?? ""))</p>" : ""
        html += "<dl>" + rows.map { "<dt>\(esc($0.0))</dt><dd>\(esc($0.1))</dd>" }.joined() + "</dl>"
        return html
    }

    static func esc(_ s: String) -> String {
        var o = ""
        o.reserveCapacity(s.utf8.count)
        for c in s {
            switch c {
            case "&": o += "&amp;"
            case "<": o += "&lt;"
            case ">": o += "&gt;"
            case "\"": o += "&quot;"
            case "'": o += "&#39;"
            default: o.append(c)
            }
        }
        return o
    }

    // MARK: Atom

    /// The Atom feed (RFC 4287): stable entry ids; a withdrawal is the same entry with a newer
    /// `<updated>`, `<category term="withdrawn"/>` and the reason in `<summary>`.
    public static func atom(_ entries: [PublicEntry], base: String, title: String, updated: String) -> String {
        atom(items: entries.map { RenderedItem(bytes: Array(atomEntry($0, base: base).utf8), expired: $0.status == .expired) },
             base: base, title: title, updated: updated)
    }

    /// The Atom feed from entries already rendered (`atomEntry(_:base:)`, in feed order; expired
    /// ones are listed first).
    public static func atom(items rendered: [RenderedItem], base: String, title: String, updated: String) -> String {
        let head = """
            <?xml version="1.0" encoding="utf-8"?>
            <feed xmlns="http://www.w3.org/2005/Atom" xml:lang="zh-CN">
            <id>urn:zhifa:publicity:feed</id>
            <title>\(esc(title))</title>
            <updated>\(esc(updated))</updated>
            <link rel="self" type="application/atom+xml" href="\(esc(base))/feed.atom"/>
            <link rel="alternate" type="text/html" href="\(esc(base))/"/>
            <author><name>\(esc(title))</name></author>

            """
        var out = Array(head.utf8)
        out.reserveCapacity(out.count + rendered.reduce(8) { $0 + $1.bytes.count })
        for e in rendered where e.expired { out.append(contentsOf: e.bytes) }
        for e in rendered where !e.expired { out.append(contentsOf: e.bytes) }
        out.append(contentsOf: "</feed>\n".utf8)
        return String(decoding: out, as: UTF8.self)
    }

    /// One entry as an Atom `<entry>` element (an expired one without the decision).
    public static func atomEntry(_ e: PublicEntry, base: String) -> String {
        if e.status == .expired {
            return """
                <entry>
                <id>urn:zhifa:publicity:\(esc(e.entryId))</id>
                <title>【已到期】\(esc(e.documentNumber))</title>
                <published>\(esc(e.publishedAt))</published>
                <updated>\(esc(e.updatedAt))</updated>
                <category term="expired" label="已到期"/>
                <summary type="text">公示期满，该决定已不再公示。</summary>
                </entry>

                """
        }
        return """
            <entry>
            <id>urn:zhifa:publicity:\(esc(e.entryId))</id>
            <title>\(esc(e.title))</title>
            <link rel="alternate" type="text/html" href="\(esc(base))/entries/\(esc(e.entryId))"/>
            <published>\(esc(e.publishedAt))</published>
            <updated>\(esc(e.updatedAt))</updated>
            <author><name>\(esc(e.agencyName))</name></author>
            <category term="\(e.status.rawValue)" label="\(esc(statusNames[e.status.rawValue] ?? ""))"/>
            <category term="\(esc(e.category))" label="\(esc(categoryNames[e.category] ?? e.category))"/>
            <summary type="text">\(esc(e.status == .withdrawn ? (e.withdrawalReason ?? "") : "\(e.party.name)：\(e.penalties.joined(separator: "；"))"))</summary>
            <content type="html">\(esc(contentHTML(e)))</content>
            </entry>

            """
    }

    // MARK: HTML pages

    static let style = """
        :root{--ink:#1d2a3a;--muted:#5b6b7d;--line:#d8dee6;--red:#b3261e;--accent:#0b5cab}
        *{box-sizing:border-box}body{margin:0;font:16px/1.6 system-ui,"PingFang SC","Noto Sans CJK SC","WenQuanYi Zen Hei",sans-serif;color:var(--ink);background:#f6f8fa}
        header{background:#8b1a1a;color:#fff;padding:14px 16px}header h1{margin:0;font-size:20px}header p{margin:4px 0 0;font-size:13px;opacity:.9}
        main{max-width:880px;margin:0 auto;padding:12px}form.filters{display:flex;flex-wrap:wrap;gap:8px;background:#fff;border:1px solid var(--line);border-radius:8px;padding:10px;margin-bottom:12px}
        form.filters label{font-size:13px;color:var(--muted);display:flex;flex-direction:column}form.filters select,form.filters input{font:inherit;padding:4px}
        form.filters button{align-self:flex-end;padding:6px 14px;border:0;border-radius:6px;background:var(--accent);color:#fff;font:inherit}
        article{background:#fff;border:1px solid var(--line);border-radius:8px;padding:12px 14px;margin-bottom:10px}article h2{font-size:17px;margin:0 0 6px}
        article.withdrawn{border-color:var(--red)}article.withdrawn h2 a,p.withdrawn{color:var(--red)}.meta{color:var(--muted);font-size:13px}
        dl{display:grid;grid-template-columns:7em 1fr;gap:2px 10px;margin:8px 0 0}dt{color:var(--muted)}dd{margin:0}
        nav.pages{display:flex;justify-content:space-between;margin:12px 0}a{color:var(--accent)}
        #live{font-size:13px;color:#ffe7a8}@media(max-width:560px){dl{grid-template-columns:1fr}}
        """

    /// Filters of the HTML list.
    public struct Filter: Sendable {
        public var agency: String?
        public var category: String?
        public var from: String?
        public var to: String?
        public var page: Int

        public init(agency: String? = nil, category: String? = nil, from: String? = nil, to: String? = nil, page: Int = 1) {
            self.agency = agency
            self.category = category
            self.from = from
            self.to = to
            self.page = page
        }

        func query(page p: Int) -> String {
            var parts: [String] = []
            if let agency { parts.append("agency=\(agency)") }
            if let category { parts.append("category=\(category)") }
            if let from { parts.append("from=\(from)") }
            if let to { parts.append("to=\(to)") }
            parts.append("page=\(p)")
            return "?" + parts.joined(separator: "&")
        }
    }

    static func article(_ e: PublicEntry, link: Bool) -> String {
        let title = link ? "<a href=\"/entries/\(esc(e.entryId))\">\(esc(e.title))</a>" : esc(e.title)
        let cls = e.status == .withdrawn ? " class=\"withdrawn\"" : ""
        return """
            <article\(cls) data-entry-id="\(esc(e.entryId))" data-status="\(e.status.rawValue)">
            <h2>\(title)</h2>
            <p class="meta">\(esc(e.agencyName)) · \(esc(categoryNames[e.category] ?? e.category)) · 作出决定 \(esc(e.decidedOn)) · 公示 \(esc(String(e.publishedAt.prefix(10))))\(e.late ? " · 逾期公示" : "")\(e.provisionalDue ? " · 期限暂定" : "")</p>
            \(contentHTML(e))
            </article>
            """
    }

    /// The list page.
    public static func page(_ entries: [PublicEntry], total: Int, filter: Filter, pageSize: Int, agencies: [(String, String)], title: String) -> String {
        let options = agencies.map { "<option value=\"\(esc($0.0))\"\(filter.agency == $0.0 ? " selected" : "")>\(esc($0.1))</option>" }.joined()
        let categories = categoryNames.sorted { $0.key < $1.key }.map { "<option value=\"\($0.key)\"\(filter.category == $0.key ? " selected" : "")>\($0.value)</option>" }.joined()
        let pages = max(1, (total + pageSize - 1) / pageSize)
        let prev = filter.page > 1 ? "<a href=\"\(esc(filter.query(page: filter.page - 1)))\">上一页</a>" : "<span></span>"
        let next = filter.page < pages ? "<a href=\"\(esc(filter.query(page: filter.page + 1)))\" id=\"next\">下一页</a>" : "<span></span>"
        return """
            <!doctype html>
            <html lang="zh-CN"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
            <title>\(esc(title))</title>
            <link rel="alternate" type="application/feed+json" href="/feed.json"><link rel="alternate" type="application/atom+xml" href="/feed.atom">
            <style>\(style)</style></head><body>
            <header><h1>\(esc(title))</h1><p>行政执法决定公示 · 依法隐去个人信息 · 订阅 <a style="color:#fff" href="/feed.json">JSON</a> / <a style="color:#fff" href="/feed.atom">Atom</a> · <span id="live"></span></p></header>
            <main>
            <form class="filters" method="get" action="/">
            <label>执法机关<select name="agency"><option value="">全部</option>\(options)</select></label>
            <label>类别<select name="category"><option value="">全部</option>\(categories)</select></label>
            <label>自<input type="date" name="from" value="\(esc(filter.from ?? ""))"></label>
            <label>至<input type="date" name="to" value="\(esc(filter.to ?? ""))"></label>
            <button type="submit">筛选</button>
            </form>
            <p class="meta" id="count">共 \(total) 条 · 第 \(filter.page)/\(pages) 页</p>
            <div id="entries">
            \(entries.map { article($0, link: true) }.joined(separator: "\n"))
            </div>
            <nav class="pages">\(prev)\(next)</nav>
            </main>
            <script>
            (function(){ if (!window.EventSource) return; var live=document.getElementById("live"); var es=new EventSource("/events");
              es.onopen=function(){live.textContent="实时更新中";};
              function refresh(){ fetch(location.href,{headers:{"Accept":"text/html"}}).then(function(r){return r.text();}).then(function(t){
                var d=new DOMParser().parseFromString(t,"text/html"); document.getElementById("entries").innerHTML=d.getElementById("entries").innerHTML;
                document.getElementById("count").textContent=d.getElementById("count").textContent; live.textContent="已更新 "+new Date().toLocaleTimeString();});}
              ["published","updated","withdrawn","expired"].forEach(function(k){es.addEventListener(k,refresh);}); })();
            </script>
            </body></html>
            """
    }

    /// One entry's page.
    public static func entryPage(_ e: PublicEntry, title: String) -> String {
        """
        <!doctype html>
        <html lang="zh-CN"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
        <title>\(esc(e.title))</title><style>\(style)</style></head><body>
        <header><h1>\(esc(title))</h1><p><a style="color:#fff" href="/">返回列表</a></p></header>
        <main>\(article(e, link: false))</main></body></html>
        """
    }
}
