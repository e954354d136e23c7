import Foundation
import GRDB
import Testing
import TestSupport
import ZhifaDomain
@testable import ZhifaPublicity
import ZhifaRuntime

/// The publicity store's decisions: when an entry is published, held, withheld, withdrawn,
/// replaced, expired or recomputed — in whichever order the facts arrive, exactly once.
@Suite struct PublicityStoreTests {
    static let calendar: WorkingDayCalendar = try! CalendarLoader.load(repositoryRoot.appendingPathComponent("config/calendars/holiday-cn"))
    static let book: RulesBook = try! RulesLoader.load(testConfiguration().rules)
    static let now = Date(timeIntervalSince1970: 1_795_000_000)  // 2026-11-17

    struct Case {
        var opened: CaseOpened
        var drafted: DecisionDrafted?
        var issued: DecisionIssued
    }

    /// The simple (非重大) or general (重大) example case, typed.
    static func example(_ prefix: String) throws -> Case {
        var opened: CaseOpened?
        var drafted: DecisionDrafted?
        var issued: DecisionIssued?
        for ce in try ExampleEvents.named(prefix) {
            switch try EnforcementEvent.decode(ce).payload {
            case .caseOpened(let o): opened = o
            case .decisionDrafted(let d): drafted = d
            case .decisionIssued(let i): issued = i
            default: break
            }
        }
        return Case(opened: opened!, drafted: drafted, issued: issued!)
    }

    func context(rules: PublicityRules = PublicityRules(), calendar: WorkingDayCalendar = Self.calendar) -> PublicationContext {
        PublicationContext(book: Self.book, calendar: calendar, rules: rules, topic: "zhifa.publicity.v1")
    }

    func withStore(_ body: (SQLitePublicityStore) async throws -> Void) async throws {
        let dir = try TemporaryDirectory()
        let store = try SQLitePublicityStore(path: dir.url.appendingPathComponent("p.sqlite").path)
        defer { dir.cleanup() }
        do { try await body(store) } catch {
            await store.close()
            throw error
        }
        await store.close()
    }

    @Test("the maintenance tick's expiry and provisional-deadline queries read their rows through partial indexes, not the whole feed")
    func maintenanceQueriesUseIndexes() async throws {
        try await withStore { store in
            for (sql, index, arguments) in [(SQLitePublicityStore.dueToExpire, "entries_expiring", [1_795_000_000.0] as StatementArguments),
                                            (SQLitePublicityStore.provisionalDue, "entries_provisional", StatementArguments())] {
                let plan = try await queryPlan(sql, arguments: arguments, in: store.pool)
                #expect(plan.contains { $0.contains("INDEX \(index)") }, "query plan: \(plan)")
            }
        }
    }

    @Test func nonMajorIsPublishedOnceInEitherOrder() async throws {
        let c = try Self.example("simple")
        for order in [["opened", "issued", "classified"], ["classified", "issued", "opened"], ["issued", "classified", "opened"]] {
            try await withStore { store in
                var made: [FeedChange] = []
                for step in order {
                    let fact: PublicityFact = switch step {
                    case "opened": .opened(c.opened)
                    case "issued": .issued(c.issued)
                    default: .classified(caseId: c.issued.caseId, decisionId: c.issued.decisionId, major: false)
                    }
                    made += try await store.apply(eventId: step, fact: fact, context: context(), now: Self.now)
                    // Redelivery of the same event changes nothing.
                    #expect(try await store.apply(eventId: step, fact: fact, context: context(), now: Self.now).isEmpty)
                }
                #expect(made.map(\.kind) == [.published], "order \(order)")
                let entry = try #require(made.first?.entry)
                #expect(entry.entryId == "WQ-DWGZ-ZHZF.DEC-S-0088")
                #expect(entry.party.name == "王某某")
                #expect(entry.dueDate == "2024-07-11")
                #expect(entry.late)
                #expect(try await store.pendingPublications(limit: 10).count == 1)
                #expect(try await store.held().isEmpty)
            }
        }
    }

    @Test func majorWaitsForApprovalInEitherOrder() async throws {
        let c = try Self.example("general")
        let (caseId, decisionId) = (c.issued.caseId, c.issued.decisionId)
        try await withStore { store in
            _ = try await store.apply(eventId: "o", fact: .opened(c.opened), context: context(), now: Self.now)
            _ = try await store.apply(eventId: "i", fact: .issued(c.issued), context: context(), now: Self.now)
            #expect(try await store.held().map(\.reason) == ["awaitingClassification"])
            #expect(try await store.apply(eventId: "c", fact: .classified(caseId: caseId, decisionId: decisionId, major: true), context: context(), now: Self.now).isEmpty)
            #expect(try await store.held().map(\.reason) == ["awaitingApproval"])
            let made = try await store.apply(eventId: "a", fact: .approved(caseId: caseId, decisionId: decisionId), context: context(), now: Self.now)
            #expect(made.map(\.kind) == [.published])
        }
        try await withStore { store in
            // Approval first, classification last.
            _ = try await store.apply(eventId: "a", fact: .approved(caseId: caseId, decisionId: decisionId), context: context(), now: Self.now)
            _ = try await store.apply(eventId: "i", fact: .issued(c.issued), context: context(), now: Self.now)
            _ = try await store.apply(eventId: "o", fact: .opened(c.opened), context: context(), now: Self.now)
            let made = try await store.apply(eventId: "c", fact: .classified(caseId: caseId, decisionId: decisionId, major: true), context: context(), now: Self.now)
            #expect(made.map(\.kind) == [.published])
            #expect(made.first?.entry.party.legalRepresentative == "赵某某")
        }
    }

    @Test func policyWithholdings() async throws {
        let c = try Self.example("simple")
        var confidential = c.opened
        confidential.confidentiality = .privacy
        var minor = c.opened
        minor.party.birthDate = CalendarDay("2008-01-01")
        var warning = c.issued
        warning.penalties = [Penalty(kind: .warning)]
        var publishWarnings = PublicityRules()
        publishWarnings.publishWarningOnly = true
        let cases: [(CaseOpened, DecisionIssued, PublicityRules, String?)] = [
            (confidential, c.issued, PublicityRules(), "confidential"), (minor, c.issued, PublicityRules(), "minor"),
            (c.opened, warning, PublicityRules(), "warningOnly"), (c.opened, warning, publishWarnings, nil),
        ]
        for (opened, issued, rules, reason) in cases {
            try await withStore { store in
                _ = try await store.apply(eventId: "o", fact: .opened(opened), context: context(rules: rules), now: Self.now)
                _ = try await store.apply(eventId: "i", fact: .issued(issued), context: context(rules: rules), now: Self.now)
                let made = try await store.apply(eventId: "c", fact: .classified(caseId: issued.caseId, decisionId: issued.decisionId, major: false),
                                                 context: context(rules: rules), now: Self.now)
                if let reason {
                    #expect(made.isEmpty)
                    #expect(try await store.held().map(\.reason) == [reason])
                    #expect(try await store.held().allSatisfy(\.isWithheld))
                } else {
                    #expect(made.map(\.kind) == [.published])
                }
            }
        }
    }

    @Test func revocationWithdrawsAndReplacementLinks() async throws {
        let c = try Self.example("simple")
        try await withStore { store in
            _ = try await store.apply(eventId: "o", fact: .opened(c.opened), context: context(), now: Self.now)
            _ = try await store.apply(eventId: "w", fact: .witnesses(caseId: c.opened.caseId, names: ["李大山"]), context: context(), now: Self.now)
            _ = try await store.apply(eventId: "i", fact: .issued(c.issued), context: context(), now: Self.now)
            _ = try await store.apply(eventId: "c", fact: .classified(caseId: c.issued.caseId, decisionId: c.issued.decisionId, major: false), context: context(), now: Self.now)
            let revoked = DecisionRevoked(caseId: c.issued.caseId, decisionId: c.issued.decisionId, change: .changed, at: Instant(Self.now),
                                          reason: "王小明申请复议，李大山证言有误，罚款数额变更", replacementDecisionId: "DEC-S-0088-B")
            let later = Self.now.addingTimeInterval(3600)
            let withdrawn = try await store.apply(eventId: "r", fact: .revoked(revoked), context: context(), now: later)
            #expect(withdrawn.map(\.kind) == [.withdrawn])
            let w = try #require(withdrawn.first?.entry)
            #expect(w.entryId == "WQ-DWGZ-ZHZF.DEC-S-0088")
            #expect(w.status == .withdrawn)
            #expect(w.title.hasPrefix("【已撤回】"))
            #expect(w.withdrawalReason == "该决定已被变更：王某某申请复议，李某某证言有误，罚款数额变更")
            // The replacement is a new entry, linked both ways.
            var replacement = c.issued
            replacement.decisionId = "DEC-S-0088-B"
            replacement.documentNumber = "津武大王古庄简罚〔2024〕88-1号"
            _ = try await store.apply(eventId: "i2", fact: .issued(replacement), context: context(), now: later)
            let made = try await store.apply(eventId: "c2", fact: .classified(caseId: replacement.caseId, decisionId: replacement.decisionId, major: false),
                                             context: context(), now: later)
            #expect(made.map(\.kind) == [.published, .updated])
            #expect(made[0].entry.replaces == "WQ-DWGZ-ZHZF.DEC-S-0088")
            #expect(made[1].entry.replacedBy == "WQ-DWGZ-ZHZF.DEC-S-0088-B")
            #expect(made[1].entry.status == .withdrawn)
            // Sequence numbers for SSE resume.
            let all = try await store.changes(after: 0, limit: 10)
            #expect(all.map(\.seq) == [1, 2, 3, 4])
            #expect(try await store.changes(after: 2, limit: 10).map(\.kind) == [.published, .updated])
            // Redelivering the revocation changes nothing.
            #expect(try await store.apply(eventId: "r", fact: .revoked(revoked), context: context(), now: later).isEmpty)
        }
    }

    /// `/feed.json` renders items once per stored version: the spliced feed is the same JSON as
    /// the feed rendered whole, a kept item is reused only while its entry's text is unchanged,
    /// and items for another base URL are their own.
    @Test func feedItemsAreRenderedOncePerEntryVersion() async throws {
        let c = try Self.example("simple")
        try await withStore { store in
            _ = try await store.apply(eventId: "o", fact: .opened(c.opened), context: context(), now: Self.now)
            var second = c.issued
            second.decisionId = "DEC-S-0089"
            second.documentNumber = "津武大王古庄简罚〔2024〕89号"
            for (n, issued) in [c.issued, second].enumerated() {
                _ = try await store.apply(eventId: "i\(n)", fact: .issued(issued), context: context(), now: Self.now)
                _ = try await store.apply(eventId: "c\(n)", fact: .classified(caseId: issued.caseId, decisionId: issued.decisionId, major: false),
                                          context: context(), now: Self.now)
            }
            let base = "https://gs.example.cn"
            func whole(_ entries: [PublicEntry], base: String) throws -> JSONValue {
                // The feed as one object, the way it was rendered before items were kept.
                let spliced = try JSONParser.parse(Array(FeedRenderer.jsonFeed(items: [], base: base, title: "T", nextURL: "n").utf8))
                var members = try #require(spliced.objectValue).members.filter { $0.key != "items" }
                members.append(("items", .array(entries.map { FeedRenderer.item($0, base: base) })))
                return .object(JSONObject(members))
            }
            let cache = FeedItemCache(capacity: 3)
            var (documents, _) = try await store.feedDocuments(limit: 10, offset: 0, now: Self.now, expiredShownFor: 7 * 86_400)
            var entries = documents.compactMap(\.entry)
            #expect(entries.count == 2)
            let first = FeedRenderer.jsonFeed(items: cache.items(documents, format: .jsonFeed, base: base), base: base, title: "T", nextURL: "n")
            #expect(try JSONParser.parse(Array(first.utf8)) == whole(entries, base: base))
            #expect(cache.count == 2)
            // Polled again: the same bytes from the kept items.
            #expect(FeedRenderer.jsonFeed(items: cache.items(documents, format: .jsonFeed, base: base), base: base, title: "T", nextURL: "n") == first)
            #expect(cache.count == 2)

            // One entry withdrawn: its new version is rendered, the other entry's item is kept.
            let revoked = DecisionRevoked(caseId: c.issued.caseId, decisionId: c.issued.decisionId, change: .revoked, at: Instant(Self.now),
                                          reason: "决定撤销", replacementDecisionId: nil)
            #expect(try await store.apply(eventId: "r", fact: .revoked(revoked), context: context(), now: Self.now.addingTimeInterval(60)).map(\.kind) == [.withdrawn])
            (documents, _) = try await store.feedDocuments(limit: 10, offset: 0, now: Self.now, expiredShownFor: 7 * 86_400)
            entries = documents.compactMap(\.entry)
            let items = cache.items(documents, format: .jsonFeed, base: base)
            #expect(cache.count == 3)
            let afterWithdrawal = FeedRenderer.jsonFeed(items: items, base: base, title: "T", nextURL: "n")
            #expect(try JSONParser.parse(Array(afterWithdrawal.utf8)) == whole(entries, base: base))
            let statuses = try #require(try JSONParser.parse(Array(afterWithdrawal.utf8))["items"]?.arrayValue).compactMap { $0["_zhifa"]?["status"]?.stringValue }
            #expect(statuses.sorted() == ["published", "withdrawn"])

            // Another base URL: its own items (links differ); past the capacity the cache starts over.
            let other = FeedRenderer.jsonFeed(items: cache.items(documents, format: .jsonFeed, base: "http://127.0.0.1:8082"), base: "http://127.0.0.1:8082", title: "T", nextURL: nil)
            #expect(other.contains("http://127.0.0.1:8082/entries/"))
            #expect(!other.contains("https://gs.example.cn"))
            #expect(cache.count == 2)
            #expect(FeedRenderer.jsonFeed(items: cache.items(documents, format: .jsonFeed, base: base), base: base, title: "T", nextURL: "n") == afterWithdrawal)

            // Atom: its own items next to the JSON ones, the same feed as rendered whole, expired
            // entries (both so far, 91 days on) listed before a newer published one.
            let at = Self.now.addingTimeInterval(91 * 86_400)
            #expect(try await store.expire(now: at, topic: "t").map(\.kind) == [.expired, .expired])
            var third = c.issued
            third.decisionId = "DEC-S-0090"
            third.documentNumber = "津武大王古庄简罚〔2024〕90号"
            _ = try await store.apply(eventId: "i3", fact: .issued(third), context: context(), now: at)
            #expect(try await store.apply(eventId: "c3", fact: .classified(caseId: third.caseId, decisionId: third.decisionId, major: false),
                                          context: context(), now: at.addingTimeInterval(3600)).map(\.kind) == [.published])
            (documents, _) = try await store.feedDocuments(limit: 10, offset: 0, now: at, expiredShownFor: 7 * 86_400)
            entries = documents.compactMap(\.entry)
            #expect(entries.map(\.status) == [.published, .expired, .expired])
            let atomCache = FeedItemCache(capacity: 8)
            _ = atomCache.items(documents, format: .jsonFeed, base: base)
            let atom = FeedRenderer.atom(items: atomCache.items(documents, format: .atom, base: base), base: base, title: "T", updated: "u")
            #expect(atomCache.count == 6)
            #expect(atom == FeedRenderer.atom(entries, base: base, title: "T", updated: "u"))
            #expect(FeedRenderer.atom(items: atomCache.items(documents, format: .atom, base: base), base: base, title: "T", updated: "u") == atom)
            #expect(atomCache.count == 6)
            let lastExpired = try #require(atom.range(of: "【已到期】", options: .backwards))
            let published = try #require(atom.range(of: "<category term=\"published\""))
            #expect(lastExpired.lowerBound < published.lowerBound)
        }
    }

    @Test func expiryLeavesTheListButShowsOnTheFeedForAWhile() async throws {
        let c = try Self.example("simple")  // a 100-yuan fine: the short period (90 days)
        try await withStore { store in
            _ = try await store.apply(eventId: "o", fact: .opened(c.opened), context: context(), now: Self.now)
            _ = try await store.apply(eventId: "i", fact: .issued(c.issued), context: context(), now: Self.now)
            _ = try await store.apply(eventId: "c", fact: .classified(caseId: c.issued.caseId, decisionId: c.issued.decisionId, major: false), context: context(), now: Self.now)
            #expect(try await store.expire(now: Self.now.addingTimeInterval(89 * 86_400), topic: "t").isEmpty)
            let at = Self.now.addingTimeInterval(91 * 86_400)
            let expired = try await store.expire(now: at, topic: "t")
            #expect(expired.map(\.kind) == [.expired])
            #expect(try await store.entries(limit: 10, offset: 0, agency: nil, category: nil, from: nil, to: nil).total == 0)
            #expect(try await store.feed(limit: 10, offset: 0, now: at, expiredShownFor: 7 * 86_400).entries.map(\.status) == [.expired])
            #expect(try await store.feed(limit: 10, offset: 0, now: at.addingTimeInterval(8 * 86_400), expiredShownFor: 7 * 86_400).total == 0)
            #expect(try await store.expire(now: at, topic: "t").isEmpty)
        }
    }

    @Test func provisionalDueDatesAreRecomputedWhenTheYearIsLoaded() async throws {
        var c = try Self.example("simple")
        c.issued.issuedAt = Instant("2026-12-28T10:00:00+08:00")!
        try await withStore { store in
            _ = try await store.apply(eventId: "o", fact: .opened(c.opened), context: context(), now: Self.now)
            _ = try await store.apply(eventId: "i", fact: .issued(c.issued), context: context(), now: Self.now)
            let made = try await store.apply(eventId: "c", fact: .classified(caseId: c.issued.caseId, decisionId: c.issued.decisionId, major: false), context: context(), now: Self.now)
            let e = try #require(made.first?.entry)
            #expect(e.dueDate == "2027-01-06")
            #expect(e.provisionalDue)
            #expect(try await store.provisionalEntries().count == 1)
            // Nothing changes while 2027 is still unknown.
            #expect(try await store.recomputeDueDates(context: context(), now: Self.now).isEmpty)
            // 2027 arrives: 1 January is a holiday, so the deadline moves one working day on.
            var full = Self.calendar
            full.load(year: 2027, days: [CalendarDay("2027-01-01")!: true])
            let updated = try await store.recomputeDueDates(context: context(calendar: full), now: Self.now)
            #expect(updated.map(\.kind) == [.updated])
            #expect(updated.first?.entry.dueDate == "2027-01-07")
            #expect(updated.first?.entry.provisionalDue == false)
            #expect(try await store.provisionalEntries().isEmpty)
        }
    }

    @Test func deadlineReport() async throws {
        let c = try Self.example("general")
        try await withStore { store in
            _ = try await store.apply(eventId: "o", fact: .opened(c.opened), context: context(), now: Self.now)
            _ = try await store.apply(eventId: "i", fact: .issued(c.issued), context: context(), now: Self.now)
            _ = try await store.apply(eventId: "c", fact: .classified(caseId: c.issued.caseId, decisionId: c.issued.decisionId, major: true), context: context(), now: Self.now)
            // Issued 2024-06-14: due 2024-06-25 (7 working days; Dragon Boat was 10 June).
            let onTime = try await DeadlineReport.make(store: store, calendar: Self.calendar, rules: PublicityRules(), now: Date(timeIntervalSince1970: 1_718_330_400 + 86_400))
            #expect(onTime.held.first?.dueDate == "2024-06-25")
            #expect(onTime.held.first?.state == "waiting")
            let near = try await DeadlineReport.make(store: store, calendar: Self.calendar, rules: PublicityRules(), now: ChinaTime.startOfDay(CalendarDay("2024-06-21")!))
            #expect(near.held.first?.state == "approaching")
            #expect(near.approaching == 1)
            let late = try await DeadlineReport.make(store: store, calendar: Self.calendar, rules: PublicityRules(), now: ChinaTime.startOfDay(CalendarDay("2024-06-26")!))
            #expect(late.held.first?.state == "overdue")
            #expect(late.overdue == 1)
            #expect(late.held.first?.reason == "awaitingApproval")
        }
    }
}
