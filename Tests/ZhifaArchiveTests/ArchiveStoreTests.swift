import Foundation
import GRDB
import Testing
import TestSupport
@testable import ZhifaArchive
import ZhifaDomain
import ZhifaKafka
import ZhifaRuntime

/// The archive store on a real SQLite file: idempotent appends, tamper detection by 四性检测
/// after direct edits of the file, retention tombstones, packages verified offline.
@Suite("Archive store on SQLite: idempotent, tamper-evident, retention, packages") struct ArchiveStoreTests {
    static let intake = ArchiveIntake(eventsTopic: "zhifa.events.v1")

    /// The contract examples as consumed messages (binary mode), on `partition`, from `offset`.
    static func exampleMessages(partition: Int32 = 0, from offset: Int64 = 0) throws -> [IncomingMessage] {
        try ExampleEvents.all().enumerated().map { i, ce in
            let r = CloudEventKafka.record(for: ce, topic: "zhifa.events.v1")
            let m = KafkaConsumerMessage(topic: "zhifa.events.v1", partition: partition, offset: offset + Int64(i), timestamp: nil, key: r.key, value: r.value, headers: r.headers)
            return intake.read(m, receivedAt: Date(timeIntervalSince1970: 1_790_000_000 + Double(i)))
        }
    }

    func withStore(_ body: (SQLiteArchiveStore, String) async throws -> Void) async throws {
        let dir = try TemporaryDirectory()
        defer { dir.cleanup() }
        let path = dir.url.appendingPathComponent("archive.sqlite").path
        let store = try SQLiteArchiveStore(path: path)
        do { try await body(store, path) } catch {
            await store.close()
            throw error
        }
        await store.close()
    }

    /// Runs SQL on the file directly, as someone with access to the disk would.
    func tamper(_ path: String, _ sql: String) throws {
        let q = try DatabaseQueue(path: path)
        try q.write { try $0.execute(sql: sql) }
        try q.close()
    }

    @Test func appendIsIdempotentAndReceiptsRepeat() async throws {
        try await withStore { store, _ in
            let messages = try Self.exampleMessages()
            let first = try await store.append(messages)
            #expect(first.appended == messages.count)
            #expect(first.receipts.count == messages.count)
            let again = try await store.append(messages)
            #expect(again.appended == 0)
            #expect(again.duplicates == messages.count)
            #expect(again.receipts == first.receipts, "a redelivered event gets the same receipt")
            #expect(try await store.count() == Int64(messages.count))
            // The same ce_id with other bytes is kept, marked invalid, once.
            var changed = messages[0]
            changed.value = Array(#"{"caseId":"X"}"#.utf8)
            changed.offset = 99
            #expect(try await store.append([changed]).appended == 1)
            #expect(try await store.append([changed]).duplicates == 1)
            let items = try await store.caseItems("WQ-DWGZ-2024-0012")
            let invalid = items.filter { !$0.entry.valid }
            #expect(invalid.count == 1)
            #expect(invalid.first?.entry.invalidReason?.contains("already archived with different content") == true)
            #expect(invalid.first?.entry.eventId.hasPrefix("evt-0001#") == true)
            #expect(try await store.verify(caseId: nil, now: Date()).ok)
        }
    }

    /// A contract example sent again under another id, at `offset` of partition 0.
    static func renamedExample(_ id: String, offset: Int64) throws -> IncomingMessage {
        var ce = try ExampleEvents.all()[0]
        ce.id = id
        let r = CloudEventKafka.record(for: ce, topic: "zhifa.events.v1")
        return intake.read(KafkaConsumerMessage(topic: "zhifa.events.v1", partition: 0, offset: offset, timestamp: nil, key: r.key, value: r.value, headers: r.headers),
                           receivedAt: Date())
    }

    /// Bytes that are not an event, at `offset` of partition 0.
    static func garbage(_ text: String, offset: Int64) -> IncomingMessage {
        intake.read(KafkaConsumerMessage(topic: "zhifa.events.v1", partition: 0, offset: offset, timestamp: nil, key: nil, value: Array(text.utf8), headers: []),
                    receivedAt: Date())
    }

    @Test("a topic-partition's log that starts again at a lower offset (a restarted embedded broker) goes on in a chain of its own: nothing is lost, redeliveries stay duplicates, verify passes")
    func restartedLogsGetChainsOfTheirOwn() async throws {
        try await withStore { store, _ in
            let examples = try Self.exampleMessages()
            let n = Int64(examples.count)
            let first = try await store.append(examples + [Self.garbage("not json A", offset: n)])
            #expect(first.appended == examples.count + 1 && first.newLogs.isEmpty)
            // Redelivered (the same offsets and bytes): duplicates, on the same chain.
            let redelivered = try await store.append(Array(examples.prefix(3)))
            #expect(redelivered.duplicates == 3 && redelivered.newLogs.isEmpty)

            // The broker restarts empty: an event sent again (its outbox had no receipt yet) lands
            // at offset 0, a new one at 1, and other garbage at the offset the first garbage had.
            var resent = examples[0]
            resent.offset = 0
            let restarted = [resent, try Self.renamedExample("evt-after-restart", offset: 1), Self.garbage("not json B", offset: n)]
            let second = try await store.append(restarted)
            #expect(second.newLogs == ["zhifa.events.v1/0@2"])
            #expect(second.appended == 2 && second.duplicates == 1)
            #expect(second.receipts.first { $0.eventId == "evt-after-restart" }?.chain == "zhifa.events.v1/0@2")
            #expect(second.receipts.first { $0.eventId == examples[0].eventId }?.chain == "zhifa.events.v1/0", "the event sent again keeps its first receipt")
            // Redelivered from the new log: duplicates, no third chain.
            let again = try await store.append(restarted)
            #expect(again.duplicates == 3 && again.appended == 0 && again.newLogs.isEmpty)
            // And a third log.
            #expect(try await store.append([try Self.renamedExample("evt-third-log", offset: 0)]).newLogs == ["zhifa.events.v1/0@3"])

            let heads = Dictionary(uniqueKeysWithValues: try await store.heads().map { ($0.chain, $0.sequence) })
            #expect(heads["zhifa.events.v1/0"] == n + 1 && heads["zhifa.events.v1/0@2"] == 2 && heads["zhifa.events.v1/0@3"] == 1, "\(heads)")
            #expect(try await store.count() == n + 4, "every message archived once")
            let report = try await store.verify(caseId: nil, now: Date())
            #expect(report.ok, "\(report.text)")
        }
    }

    @Test func invalidMessagesAreArchivedMarked() async throws {
        try await withStore { store, _ in
            let bad = KafkaConsumerMessage(topic: "zhifa.events.v1", partition: 1, offset: 7, timestamp: nil, key: Array("k".utf8), value: Array("not json".utf8),
                                           headers: [KafkaHeader("ce_id", "evt-bad"), KafkaHeader("ce_type", "cn.zhifa.case.opened.v1")])
            let m = Self.intake.read(bad, receivedAt: Date())
            #expect(!m.valid)
            #expect(m.eventId == "kafka:zhifa.events.v1/1/7")
            let out = try await store.append([m])
            #expect(out.appended == 1)
            #expect(out.receipts.isEmpty, "no receipt for an invalid message")
            let report = try await store.verify(caseId: nil, now: Date())
            #expect(report.ok, "an invalid message stored as received is not a usability problem: \(report.text)")
        }
    }

    /// An empty message (a tombstone record on Kafka, or a broken terminal) is stored as an empty
    /// payload — not as NULL, which marks a payload removed by retention — with its key and headers
    /// as sent, and verify accepts it.
    @Test func emptyMessagesKeepAnEmptyPayload() async throws {
        try await withStore { store, path in
            let empty = KafkaConsumerMessage(topic: "zhifa.review.v1", partition: 2, offset: 3, timestamp: nil, key: nil, value: nil,
                                             headers: [KafkaHeader("ce_id", "evt-empty"), KafkaHeader(name: "flag", value: nil), KafkaHeader("ce_type", "")])
            let m = Self.intake.read(empty, receivedAt: Date())
            #expect(!m.valid)
            #expect(try await store.append([m]).appended == 1)
            let q = try DatabaseQueue(path: path)
            let row = try q.read { db in
                try Row.fetchOne(db, sql: "SELECT (payload IS NULL) AS removed, length(payload) AS size, key, headers, payload_sha256 FROM entries WHERE event_id = ?",
                                 arguments: [m.eventId])
            }
            try q.close()
            #expect(row?["removed"] == false)
            #expect(row?["size"] == 0)
            #expect(row?["key"] == nil as String?)
            #expect(row?["headers"] == #"[["ce_id","ZXZ0LWVtcHR5"],["flag"],["ce_type",""]]"#)
            #expect(row?["payload_sha256"] == ArchiveChain.sha256Hex([UInt8]()))
            let report = try await store.verify(caseId: nil, now: Date())
            #expect(report.ok, "\(report.text)")
        }
    }

    @Test("a recording's predecessor on its camera is found through an index, without reading and sorting the camera's history")
    func predecessorLookupUsesIndex() async throws {
        try await withStore { store, _ in
            let plan = try await queryPlan(SQLiteArchiveStore.previousOnDevice, arguments: ["cam-1", 1_700_000_000.0, "seg-1", "seg-1"], in: store.pool)
            #expect(plan.contains { $0.contains("INDEX entries_device_order") }, "query plan: \(plan)")
            #expect(!plan.contains { $0.contains("TEMP B-TREE") }, "query plan: \(plan)")
        }
    }

    @Test("the hourly retention sweep finds closed cases through an index, not by reading every entry of the archive")
    func retentionFindsClosedCasesThroughIndex() async throws {
        try await withStore { store, _ in
            let plan = try await queryPlan(SQLiteArchiveStore.closedCases, in: store.pool)
            #expect(plan.contains { $0.contains("INDEX entries_closed") }, "query plan: \(plan)")
        }
    }

    /// Appends the examples, checks verify passes, applies `sql`, and returns the report.
    func tampered(_ sql: String) async throws -> FourPropertiesReport {
        var report: FourPropertiesReport?
        try await withStore { store, path in
            _ = try await store.append(try Self.exampleMessages())
            #expect(try await store.verify(caseId: nil, now: Date()).ok)
            try tamper(path, sql)
            report = try await store.verify(caseId: nil, now: Date())
        }
        return report!
    }

    @Test func editingAPayloadIsDetected() async throws {
        let r = try await tampered("UPDATE entries SET payload = CAST(replace(CAST(payload AS TEXT), '王小明', '王大明') AS BLOB) WHERE event_id = 'evt-0021'")
        #expect(!r.ok)
        #expect(r.firstBadEntry == "zhifa.events.v1/0 #14 (evt-0021)")
        #expect(r.authenticity.problems.contains { $0.problem.contains("payload altered") })
    }

    @Test func editingMetadataIsDetected() async throws {
        let r = try await tampered("UPDATE entries SET case_id = 'WQ-DWGZ-2024-9999' WHERE event_id = 'evt-0005'")
        #expect(r.firstBadEntry == "zhifa.events.v1/0 #5 (evt-0005)")
        #expect(r.authenticity.problems.first?.problem.contains("altered") == true)
    }

    @Test func deletingAnEntryIsDetected() async throws {
        let r = try await tampered("DELETE FROM entries WHERE event_id = 'evt-0007'")
        #expect(!r.ok)
        #expect(r.firstBadEntry == "zhifa.events.v1/0 #9 (evt-0008)", "the entry after the gap")
        #expect(r.integrity.problems.contains { $0.problem.contains("sequence 8 missing") })
    }

    @Test func deletingTheLastEntryIsDetected() async throws {
        let r = try await tampered("DELETE FROM entries WHERE event_id = 'evt-0024'")
        #expect(!r.ok)
        #expect(r.integrity.problems.contains { $0.problem.contains("removed from the end") })
    }

    @Test func reorderingIsDetected() async throws {
        let r = try await tampered("""
            UPDATE entries SET seq = -1 WHERE chain = 'zhifa.events.v1/0' AND seq = 4;
            UPDATE entries SET seq = 4 WHERE chain = 'zhifa.events.v1/0' AND seq = 5;
            UPDATE entries SET seq = 5 WHERE chain = 'zhifa.events.v1/0' AND seq = -1;
            """)
        #expect(!r.ok)
        #expect(r.firstBadEntry?.hasPrefix("zhifa.events.v1/0 #4 ") == true)
    }

    @Test func insertingIsDetected() async throws {
        let r = try await tampered("""
            INSERT INTO entries SELECT chain, 100, kind, 'evt-forged', topic, partition, 1000, key, headers, received_at, valid, invalid_reason, case_id, event_type,
                payload_sha256, payload_size, hash, hash, payload, device_id, segment_id, started_at FROM entries WHERE chain = 'zhifa.events.v1/0' AND seq = 17
            """)
        #expect(!r.ok)
        #expect(r.firstBadEntry == "zhifa.events.v1/0 #100 (evt-forged)")
    }

    @Test func tamperingWithTheAuditLogIsDetected() async throws {
        try await withStore { store, path in
            _ = try await store.append(try Self.exampleMessages())
            for i in 0..<3 { try await store.audit(actor: "archivist:ARC-DWGZ-01", action: "read-record", target: "case-\(i)", at: Date()) }
            #expect(try await store.verify(caseId: nil, now: Date()).ok)
            try tamper(path, "UPDATE audit SET actor = 'nobody' WHERE seq = 2")
            let r = try await store.verify(caseId: nil, now: Date())
            #expect(!r.security.ok)
            #expect(r.security.problems.contains { $0.problem.contains("audit #2 altered") })
        }
    }

    @Test func caseScopeVerify() async throws {
        try await withStore { store, path in
            _ = try await store.append(try Self.exampleMessages())
            #expect(try await store.verify(caseId: "WQ-DWGZ-2024-S-0088", now: Date()).ok)
            try tamper(path, "UPDATE entries SET payload = CAST(replace(CAST(payload AS TEXT), '100', '10') AS BLOB) WHERE event_id = 'evt-0024'")
            let r = try await store.verify(caseId: "WQ-DWGZ-2024-S-0088", now: Date())
            #expect(r.firstBadEntry == "zhifa.events.v1/0 #17 (evt-0024)")
            #expect(try await store.verify(caseId: "WQ-DWGZ-2024-0012", now: Date()).ok, "the other case is intact")
        }
    }

    @Test func retentionLeavesTombstonesAndVerifyStillPasses() async throws {
        try await withStore { store, _ in
            _ = try await store.append(try Self.exampleMessages())
            // (No closure inside #require: Swift 6.3 gives a closure in a macro argument the same symbol
            // as a later closure of the function, which then runs the wrong body.)
            let before = try await store.caseItems("WQ-DWGZ-2024-0012")
            let closing = before.first(where: { $0.entry.eventType == EventType.caseClosed.rawValue })
            let closedGeneral = try #require(closing)
            let closedAt = try #require(RFC3339Time.parse(closedGeneral.entry.header("ce_time") ?? "")?.date)
            var rules = RetentionRules()
            rules.years[.penalty] = .some(30)
            // Seven months after closing: only recordings not named as evidence go.
            let sevenMonths = closedAt.addingTimeInterval(213 * 86_400)
            #expect(try await store.applyRetention(rules: rules, now: sevenMonths) == 0, "every recording of the general case is named as evidence")
            // Thirty-one years on: everything of the closed general (penalty) case but its evidence recordings.
            let later = closedAt.addingTimeInterval(31 * 366 * 86_400)
            let removed = try await store.applyRetention(rules: rules, now: later)
            let items = try await store.caseItems("WQ-DWGZ-2024-0012")
            let caseMessages = items.messages
            let kept = caseMessages.filter { $0.payload != nil }
            #expect(caseMessages.count == 13)
            let keptTypes = Set(kept.compactMap(\.entry.eventType))
            #expect(keptTypes == [EventType.avSegmentRegistered.rawValue], "evidence recordings are permanent")
            #expect(kept.count == 3)
            #expect(removed == caseMessages.count - 3)
            #expect(items.tombstones.count == removed)
            // The simple case was never closed: untouched.
            let simple = try await store.caseItems("WQ-DWGZ-2024-S-0088")
            #expect(simple.count == simple.compactMap(\.payload).count)
            let report = try await store.verify(caseId: nil, now: later)
            #expect(report.ok, "\(report.text)")
            #expect(try await store.applyRetention(rules: rules, now: later) == 0, "idempotent")
            #expect(try await store.auditLog().last?.action == "delete-payloads")
        }
    }

    @Test func removingAPayloadWithoutATombstoneIsDetected() async throws {
        let r = try await tampered("UPDATE entries SET payload = NULL WHERE event_id = 'evt-0003'")
        #expect(r.firstBadEntry == "zhifa.events.v1/0 #3 (evt-0003)")
        #expect(r.integrity.problems.contains { $0.problem.contains("no tombstone") })
    }

    @Test func packagesVerifyOfflineAndFailOnAnyChangedByte() async throws {
        try await withStore { store, _ in
            _ = try await store.append(try Self.exampleMessages())
            let ops = ArchiveOperations(store: store, rules: ReviewRules())
            let zip = try await ops.export("WQ-DWGZ-2024-0012", actor: "test")
            let ok = ArchivePackage.verify(zip)
            #expect(ok.ok, "\(ok.problems)")
            #expect(ok.entries == 13)
            #expect(ok.chains.map(\.chain) == ["zhifa.events.v1/0"])
            var rng = SeededRandom(seed: 42)
            var positions = Set((0..<40).map { _ in Int.random(in: 0..<zip.count, using: &rng) })
            positions.formUnion([0, zip.count / 2, zip.count - 1, zip.count - 70])
            for p in positions {
                var bad = zip
                bad[p] ^= 0x01
                #expect(!ArchivePackage.verify(bad).ok, "a changed byte at \(p) of \(zip.count) went unnoticed")
            }
            #expect(try await store.auditLog().contains { $0.action == "export" && $0.target == "WQ-DWGZ-2024-0012" })
        }
    }
}
