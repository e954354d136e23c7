import Logging
import ServiceLifecycle
import Synchronization
import ZhifaKafka

/// What `zhifa up` lets finish before its embedded broker stops.
///
/// The embedded broker keeps its topics in memory, and the next run starts with empty ones: a
/// message a consumer group has not read by the stop is never read by it (the ingest re-sends only
/// what the archive has not receipted). So on SIGINT or SIGTERM, once the demo's traffic stopped,
/// `zhifa up` waits until every watched group has committed the end of each of its topics and every
/// watched outbox has sent what it queued, and the ends stayed put for one more look (a message
/// handled in between would have moved them) — or until the deadline. Nothing is polled: a look
/// follows the consumers' and outboxes' own progress (`progressMade`), and begins by committing
/// what the consumers stored.
public final class StopDrain: Sendable {
    /// A consumer group and the topics it reads.
    struct Group: Sendable {
        var topics: Set<String>
        /// Why its consumer no longer reads (nil while it runs or starts): then it is not waited for.
        var stopped: @Sendable () -> String?
        /// Commits the offsets its consumer stored.
        var commit: @Sendable () async throws -> Void
    }

    /// An outbox, and whether it has sent (or released) everything queued.
    struct Outbox: Sendable {
        var name: String
        var isEmpty: @Sendable () async throws -> Bool
    }

    private let groups = Mutex<[String: Group]>([:])
    private let outboxes = Mutex<[Outbox]>([])
    private let progress = WakeSignal()

    /// An empty drain: nothing is watched yet.
    public init() {}

    /// To be called whenever a watched consumer stored offsets or a watched outbox sent events.
    public var progressMade: @Sendable () -> Void { { [progress] in progress.notify() } }

    /// Waits for `group` to read `topics` to their ends; `stopped` tells why its consumer stopped,
    /// `commit` commits the offsets it stored.
    public func watch(group: String, topics: [String], stopped: @escaping @Sendable () -> String?, commit: @escaping @Sendable () async throws -> Void) {
        groups.withLock { $0[group, default: Group(topics: [], stopped: stopped, commit: commit)].topics.formUnion(topics) }
    }

    /// Waits for the outbox `name` to be empty.
    public func watch(outbox name: String, isEmpty: @escaping @Sendable () async throws -> Bool) {
        outboxes.withLock { $0.append(Outbox(name: name, isEmpty: isEmpty)) }
    }

    /// Looks until a look finds nothing left and the topics' ends as the look before, or until
    /// `timeout`. After a look that found something left, the next waits for progress (or, when a
    /// commit or an offset query failed, at most `retryAfter`, to try it again); after one that
    /// found nothing, the next follows at once. A group whose consumer stopped reading is not
    /// waited for, but reported.
    public func drain(admin: KafkaAdmin, timeout: Duration, retryAfter: Duration = .seconds(1)) async -> DrainOutcome {
        let deadline = ContinuousClock.now + timeout
        var previous: DrainLook? = nil
        while true {
            let look = await self.look(admin: admin)
            if look.isQuiet(after: previous) { return DrainOutcome(quiet: true, left: look.abandoned) }
            let now = ContinuousClock.now
            if now >= deadline || Task.isCancelled { return DrainOutcome(quiet: false, left: look.abandoned + look.remaining) }
            if !look.remaining.isEmpty { await progress.wait(timeout: look.failed ? min(deadline - now, retryAfter) : deadline - now) }
            previous = look
        }
    }

    /// One look at the watched groups and outboxes.
    func look(admin: KafkaAdmin) async -> DrainLook {
        var groups = self.groups.withLock { $0 }
        let outboxes = self.outboxes.withLock { $0 }
        var abandoned: [String] = []
        for (name, group) in groups.sorted(by: { $0.key < $1.key }) {
            guard let why = group.stopped() else { continue }
            abandoned.append("group \(name) no longer reads (\(why))")
            groups[name] = nil
        }
        var look = DrainLook(groups: groups.mapValues(\.topics), abandoned: abandoned)
        for (name, group) in groups.sorted(by: { $0.key < $1.key }) {
            do { try await group.commit() } catch {
                look.problems.append("group \(name) cannot commit its offsets: \(error)")
                look.failed = true
            }
        }
        for box in outboxes {
            do {
                if try await !box.isEmpty() { look.problems.append("the \(box.name) outbox has events not yet sent") }
            } catch {
                look.problems.append("the \(box.name) outbox cannot be read: \(error)")
                look.failed = true
            }
        }
        do {
            let counts = try await admin.topics()
            let topics = Set(groups.values.flatMap(\.topics))
            for topic in topics.sorted() {
                for p in 0..<(counts[topic] ?? 0) {
                    let tp = KafkaTopicPartition(topic: topic, partition: p)
                    look.ends[tp] = try await admin.watermarks(tp).high
                }
            }
            for (name, group) in groups.sorted(by: { $0.key < $1.key }) {
                let partitions = look.ends.keys.filter { group.topics.contains($0.topic) }
                look.committed[name] = try await admin.committedOffsets(group: name, partitions: partitions)
            }
        } catch {
            look.problems.append("the embedded broker's offsets cannot be read: \(error)")
            look.failed = true
        }
        return look
    }
}

/// How a drain ended.
public struct DrainOutcome: Sendable, Equatable {
    /// Whether everything it could wait for was read and sent (false: the deadline came first).
    public var quiet: Bool
    /// What is left: unread messages, outboxes not sent, groups whose consumer stopped reading.
    public var left: [String]
}

/// One look at the topics' ends, the groups' committed offsets and the outboxes. Pure.
struct DrainLook: Sendable, Equatable {
    /// The topics each group still reading reads.
    var groups: [String: Set<String>]
    /// Groups whose consumer stopped reading: reported, not waited for.
    var abandoned: [String] = []
    /// Each watched partition's end (high watermark).
    var ends: [KafkaTopicPartition: Int64] = [:]
    /// Each group's committed offsets (a partition it never committed is absent).
    var committed: [String: [KafkaTopicPartition: Int64]] = [:]
    /// Outboxes not empty, commits and reads that failed.
    var problems: [String] = []
    /// A commit or a read failed: worth trying again without waiting for progress.
    var failed = false

    /// Messages each group has not read, per topic: `group X: N unread on TOPIC`.
    var unread: [String] {
        var out: [String] = []
        for (group, topics) in groups.sorted(by: { $0.key < $1.key }) {
            for topic in topics.sorted() {
                let behind = ends.filter { $0.key.topic == topic }.reduce(Int64(0)) { sum, end in
                    sum + max(0, end.value - (committed[group]?[end.key] ?? 0))
                }
                if behind > 0 { out.append("group \(group): \(behind) unread on \(topic)") }
            }
        }
        return out
    }

    /// Everything not finished yet that may still finish.
    var remaining: [String] { problems + unread }

    /// Nothing left, and the ends did not move since `previous`, which found nothing left either.
    func isQuiet(after previous: DrainLook?) -> Bool {
        guard let previous, remaining.isEmpty, previous.remaining.isEmpty else { return false }
        return previous.ends == ends
    }
}

/// Runs a `StopDrain` when the service group stops. In a group, it goes after the services it
/// waits for (a group stops its services in reverse order, so they still run while it drains) and
/// before whatever feeds them from outside, such as the demo.
public struct StopDrainService: Service {
    let drain: StopDrain
    let client: KafkaClientSettings
    let timeout: Duration
    let logger: Logger

    /// A drain of at most `timeout` (zero: none) reading offsets through `client`.
    public init(drain: StopDrain, client: KafkaClientSettings, timeout: Duration, logger: Logger) {
        self.drain = drain
        self.client = client
        self.timeout = timeout
        self.logger = logger
    }

    public func run() async throws {
        do { try await gracefulShutdown() } catch { return }  // cancelled: no drain
        guard timeout > .zero else { return }
        let started = ContinuousClock.now
        let admin: KafkaAdmin
        do { admin = try KafkaAdmin(client: client, logger: logger) } catch {
            logger.warning("cannot wait for the consumers before the embedded broker stops", metadata: ["error": "\(error)"])
            return
        }
        let outcome = await drain.drain(admin: admin, timeout: timeout)
        await admin.close()
        let took = ContinuousClock.now - started
        if outcome.quiet && outcome.left.isEmpty {
            logger.info("every consumer read its topics to the end; stopping", metadata: ["ms": "\(Int(took / .milliseconds(1)))"])
        } else {
            logger.warning("""
                stopping before every consumer read its topics: the embedded broker's messages are gone after a restart, so these \
                are never read (the ingest re-sends what the archive did not receipt); give the stop more time with kafka.embedded.drainSeconds
                """, metadata: ["unfinished": "\(outcome.left.joined(separator: "; "))"])
        }
    }
}
