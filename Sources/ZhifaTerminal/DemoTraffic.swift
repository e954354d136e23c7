import Foundation
import Logging
import ServiceLifecycle
import Synchronization
import ZhifaDomain
import ZhifaKafka
import ZhifaRuntime

/// `zhifa up --demo`: the simulator at a gentle rate through the ingest, so a newcomer sees
/// records flow: each round's cases are opened over the last weeks and decided in the last day,
/// so their publications are on time; events dated after now are not sent, and major decisions
/// stop at the draft, for the reviewers. When a reviewer approves one (on `zhifa.review.v1`), the
/// demo issues it; when a reviewer returns one, the demo sends its next draft.
public struct DemoTraffic: Service {
    let rules: RulesBook
    let settings: SimulatorSettings
    let ingestURL: String
    let configDirectory: URL
    let opinions: OpinionSource?
    let numberingFile: URL?
    let heldFile: URL?
    let logger: Logger

    /// The file in the data directory that keeps the demo's numbering between runs.
    public static let numberingFileName = "demo-numbering.json"
    /// The file in the data directory that keeps the major decisions the demo holds for review
    /// between runs, so an approval given after a restart still issues its decision.
    public static let heldFileName = "demo-held.json"

    /// Where reviewers' opinions are read: the review topic, in a consumer group of the demo's own.
    public struct OpinionSource: Sendable {
        public var topic: String
        public var consumer: KafkaConsumerConfiguration
        public init(topic: String, consumer: KafkaConsumerConfiguration) {
            self.topic = topic
            self.consumer = consumer
        }
    }

    /// A demo sending to the ingest at `ingestURL`; with `opinions`, major decisions are issued
    /// once approved (without, they stay at their draft); with `numberingFile`, case and document
    /// numbers go on from the previous run's; with `heldFile`, so do the decisions held for review.
    public init(rules: RulesBook, settings: SimulatorSettings, ingestURL: String, configDirectory: URL, opinions: OpinionSource?,
                numberingFile: URL?, heldFile: URL? = nil, logger: Logger) {
        self.numberingFile = numberingFile
        self.heldFile = heldFile
        self.rules = rules
        self.settings = settings
        self.ingestURL = ingestURL
        self.configDirectory = configDirectory
        self.opinions = opinions
        self.logger = logger
    }

    public func run() async throws {
        let previous = try numberingFile.flatMap { try Numbering.Saved.load(from: $0) }
        let heldStore = heldFile.map { DemoStateFile<HeldDecisions>(url: $0, ifDeleted: "forget the major decisions an earlier demo held for review") }
        let kept = try heldStore?.load()
        if let kept, kept.count > 0 {
            logger.info("demo traffic: major decisions held for review by an earlier run are held again", metadata: ["decisions": "\(kept.count)"])
        }
        let client = IngestClient(baseURL: ingestURL, configDirectory: configDirectory)
        let held = Shared(HeldState(live: kept ?? HeldDecisions(), durable: kept ?? HeldDecisions()))
        let sink = HTTPSink(client: client, logger: logger)
        await cancelWhenGracefulShutdown {
            // Wait for the ingest to listen.
            while !Task.isCancelled, (try? await client.get("/healthz"))?.status != 200 {
                try? await Task.sleep(for: .milliseconds(200))
            }
            let watcher = opinions.map { source in Task { await watchOpinions(source, held: held, store: heldStore, sink: sink) } }
            var round: UInt64 = 0
            var numbering = Numbering(runStart: Date(), continuing: previous)
            var nextLive = ContinuousClock.now
            while !Task.isCancelled {
                round += 1
                do {
                    if let unsent = numbering.unsent {
                        // An earlier run stopped while sending this round: its recordings are where
                        // the cameras' chains go on from, so it is sent (again) before anything new.
                        logger.info("demo traffic: sending the round an earlier run stopped in", metadata: ["events": "\(unsent.events)"])
                        let summary = try await Self.send(unsent, numbering: &numbering, file: numberingFile, sink: sink, rate: settings.demoRate, seed: round, logger: logger)
                        logger.info("demo traffic: sent the round an earlier run stopped in", metadata: [
                            "events": "\(summary.events)", "accepted": "\(summary.accepted)", "alreadyTaken": "\(summary.duplicates)",
                        ])
                        continue
                    }
                    var holding = HeldDecisions()
                    let cases: [SimulatedCase], start: Date
                    if numbering.cameras == nil {
                        // A fresh data directory: the last weeks' history first.
                        let now = Date()
                        (cases, start) = try Self.history(rules: rules, settings: settings, seed: UInt64(now.timeIntervalSince1970) &* 31 &+ round, now: now,
                                                          numbering: &numbering, held: &holding)
                    } else {
                        // Then the town lives on: an on-the-spot case every `liveInterval`.
                        try await Task.sleep(until: nextLive, clock: .continuous)
                        nextLive = .now + .seconds(Self.liveInterval)
                        let now = Date()
                        cases = try Self.live(rules: rules, settings: settings, seed: UInt64(now.timeIntervalSince1970) &* 31 &+ round, now: now,
                                              numbering: &numbering)
                        start = cases.first?.events.first?.time ?? now
                    }
                    // Written when the round holds something: most rounds hold no major decision.
                    if opinions != nil && holding.count > 0 {
                        held.state.withLock { s in
                            s.live.merge(holding)
                            s.durable.merge(holding)
                            keep(s.durable, in: heldStore)
                        }
                    }
                    let summary = try await Self.send(UnsentRound(start: start, cases: cases), numbering: &numbering, file: numberingFile, sink: sink,
                                                      rate: settings.demoRate, seed: round, logger: logger)
                    logger.info("demo traffic: sent a round of cases", metadata: ["cases": "\(summary.cases)", "events": "\(summary.events)", "accepted": "\(summary.accepted)"])
                } catch is CancellationError {
                    break
                } catch {
                    logger.warning("demo traffic paused after an error", metadata: ["error": "\(error)"])
                    try? await Task.sleep(for: .seconds(5))
                }
            }
            watcher?.cancel()
            await watcher?.value
        }
        await client.close()
    }

    /// Reads reviewers' opinions and sends what they release: an approved decision is issued, a
    /// returned one drafted again; released events dated later are sent when their time comes.
    ///
    /// An opinion is marked done only after what it released was sent and the held decisions were
    /// kept in `store`, so a demo stopped in between reads it again (the ingest takes a resent event
    /// once: the ids are the same).
    func watchOpinions(_ source: OpinionSource, held: Shared<HeldState>, store: DemoStateFile<HeldDecisions>?, sink: HTTPSink) async {
        let consumer: KafkaConsumer
        do {
            consumer = try KafkaConsumer(configuration: source.consumer, logger: logger)
            try consumer.subscribe([source.topic])
        } catch {
            logger.warning("demo traffic cannot read reviewers' opinions; major decisions stay at their draft", metadata: ["error": "\(error)"])
            return
        }
        while !Task.isCancelled {
            // Wakes for an opinion, or when the next released event is due (nothing is polled).
            let due = held.state.withLock { $0.live.nextDue }.map { max(0, $0.timeIntervalSinceNow) } ?? 3_600
            let batch = await consumer.nextBatch(max: 256, until: .now + .milliseconds(Int64(due * 1_000)))
            var toSend: [SimulatedEvent] = []
            for m in batch {
                guard m.headers.text("ce_type") == ReviewEventType.opinion.rawValue,
                      let opinion = try? InternalEvents.decode(ReviewOpinionEvent.self, from: m) else { continue }
                do {
                    let released = try held.state.withLock { try $0.live.opinion(opinion, now: Date()) }
                    if !released.isEmpty {
                        logger.info(opinion.opinion == .approve ? "demo: a reviewer approved a major decision; the case system issues it"
                                        : "demo: a reviewer returned a major decision; the case system sends its next draft",
                                    metadata: ["case": "\(opinion.caseId)", "decision": "\(opinion.decisionId)"])
                    }
                    toSend += released
                } catch {
                    logger.warning("demo: could not prepare the events an opinion releases", metadata: ["decision": "\(opinion.decisionId)", "error": "\(error)"])
                }
            }
            toSend += held.state.withLock { $0.live.due(at: Date()) }
            if !toSend.isEmpty {
                for e in toSend {
                    do {
                        if case .failed(let why) = try await sink.send(e) {
                            logger.warning("demo: event not accepted", metadata: ["id": "\(e.event.id)", "type": "\(e.event.type)", "reason": "\(why)"])
                        }
                    } catch {
                        if Task.isCancelled { break }
                        logger.warning("demo: could not send an event", metadata: ["id": "\(e.event.id)", "error": "\(error)"])
                    }
                }
                // Stopped part-way: the file keeps the decisions as before and the opinions are read again.
                if Task.isCancelled { break }
                held.state.withLock { s in
                    s.durable = s.live
                    keep(s.durable, in: store)
                }
            }
            for m in batch { consumer.markDone(m) }
        }
        await consumer.close()
    }

    /// Keeps the held decisions for a restarted demo; a failure is logged, and the demo goes on.
    func keep(_ held: HeldDecisions, in store: DemoStateFile<HeldDecisions>?) {
        guard let store else { return }
        do { try store.save(held) } catch {
            logger.warning("demo traffic cannot keep the decisions it holds for review; after a restart, approving them issues nothing", metadata: [
                "file": "\(store.url.path)", "error": "\(error)",
            ])
        }
    }

    /// Sends a round made with `numbering` (which has moved past it). The round is kept with the
    /// numbering first, as unsent, and forgotten once every event of it was sent: a demo stopped
    /// part-way sends it again when it starts (the ingest takes a resent event once), so the
    /// cameras' chains never go on from a recording that was not sent.
    public static func send(_ round: UnsentRound, numbering: inout Numbering, file: URL?, sink: any EventSink, rate: Int, seed: UInt64,
                            logger: Logger) async throws -> SimulationSummary {
        numbering.unsent = round
        keep(numbering, in: file, logger: logger)
        let summary = try await SimulationRunner.run(round.simulatedCases, rate: rate, sink: sink, concurrency: 2, seed: seed, start: round.start,
                                                     transport: "http", logger: logger)
        numbering.unsent = nil
        keep(numbering, in: file, logger: logger)
        return summary
    }

    /// Keeps the numbering for a restarted demo; a failure is logged, and the demo goes on.
    static func keep(_ numbering: Numbering, in file: URL?, logger: Logger) {
        guard let file else { return }
        do { try numbering.saved.save(to: file) } catch {
            logger.warning("demo traffic cannot keep its numbering; a restarted demo may repeat document numbers and break its cameras' chains", metadata: [
                "file": "\(file.path)", "error": "\(error)",
            ])
        }
    }

    /// A round of cases kept until every event of it was sent: their events in the order sent,
    /// and the start the round was planned from.
    public struct UnsentRound: Codable, Sendable {
        public var start: Date
        public var cases: [[SimulatedEvent]]

        public init(start: Date, cases: [SimulatedCase]) {
            self.start = start
            self.cases = cases.map(\.events)
        }

        /// Its events, all cases together.
        public var events: Int { cases.reduce(0) { $0 + $1.count } }

        /// The cases to send again (their kinds are not kept: only their events are sent).
        var simulatedCases: [SimulatedCase] {
            cases.map { events in
                SimulatedCase(caseId: events.first.flatMap { (try? EnforcementEvent.decode($0.event))?.caseId } ?? "", procedure: .simple, major: false,
                              revoked: false, avGap: false, avMissing: false, minor: false, confidential: false, warningOnly: false, events: events)
            }
        }
    }

    /// Seconds between the on-the-spot cases of a demo's live rounds.
    public static let liveInterval: TimeInterval = 30
    /// Seconds from a live on-the-spot case's opening until its last sent event (its recording's
    /// upload, minutes after the act): live cases open this long before the round.
    public static let liveCaseDuration: TimeInterval = 15 * 60

    /// The first round of a demo on a fresh data directory: the last weeks' history as `round`
    /// makes it, with at least one major decision for the reviewers (the first of up to 20 seeds
    /// from `seed` with one). `numbering.cameras` is then where every camera's chain ends, and
    /// later rounds are `live`: history generated again would overlap this one on the same
    /// cameras and break their chains.
    public static func history(rules: RulesBook, settings: SimulatorSettings, seed: UInt64, now: Date,
                               numbering: inout Numbering, held: inout HeldDecisions) throws -> ([SimulatedCase], Date) {
        var attempt: UInt64 = 0
        while true {
            var tryNumbering = numbering, tryHeld = held
            let (cases, start) = try round(rules: rules, settings: settings, seed: seed &+ attempt, now: now, numbering: &tryNumbering, held: &tryHeld)
            attempt += 1
            if cases.contains(where: \.major) || attempt == 20 {
                tryNumbering.cameras = try CameraChains().after(cases)
                numbering = tryNumbering
                held = tryHeld
                return (cases, start)
            }
        }
    }

    /// A live round at `now`: an on-the-spot case opened `liveCaseDuration` before `now`, recorded
    /// on a body camera free by then, its recording following on from that camera's last one in
    /// `numbering.cameras` (no case when every camera is busy); without its events dated after
    /// `now` (the closing).
    public static func live(rules: RulesBook, settings: SimulatorSettings, seed: UInt64, now: Date, numbering: inout Numbering) throws -> [SimulatedCase] {
        let now = Date(timeIntervalSince1970: now.timeIntervalSince1970.rounded(.down))  // recorded times are whole seconds
        var sim = TownSimulator(rules: rules, settings: settings, seed: seed, start: now)
        sim.idSuffix = numbering.runId
        sim.caseNumber = numbering.lastCase
        sim.decisionNumber = numbering.lastDocument
        sim.cameraChains = numbering.cameras ?? CameraChains()
        let cases = try sim.onTheSpot(openedAt: [now.addingTimeInterval(-liveCaseDuration)]).map { $0.known(at: now) }
        numbering.lastCase = sim.caseNumber
        numbering.lastDocument = sim.decisionNumber
        numbering.cameras = try sim.cameraChains.after(cases)
        return cases
    }

    /// One round of demo cases as known at `now`: ten cases whose decisions were issued in the
    /// day before `now`, without their events dated after it; and the start they were planned from.
    ///
    /// A major decision is sent up to its draft and no further: it waits in the reviewers' queue
    /// (a terminal that issued it at once would break Art. 58, and the demo would show nothing but
    /// violations), and is added to `held`, which releases it on an approving opinion.
    public static func round(rules: RulesBook, settings: SimulatorSettings, seed: UInt64, now: Date,
                             numbering: inout Numbering, held: inout HeldDecisions) throws -> ([SimulatedCase], Date) {
        // General cases are decided weeks after they open: plan from far enough back, then move
        // each case so that its decision falls in the last day.
        let start = now.addingTimeInterval(-60 * 86_400)
        var sim = TownSimulator(rules: rules, settings: settings, seed: seed, start: start)
        sim.decisionsIssuedBy = now
        sim.idSuffix = numbering.runId
        sim.caseNumber = numbering.lastCase
        sim.decisionNumber = numbering.lastDocument
        let generated = try sim.generate(cases: 10, daysSpan: 14)
        numbering.lastCase = sim.caseNumber
        numbering.lastDocument = sim.decisionNumber
        let cases = generated.map { c in c.major ? held.hold(c, now: now) : c.known(at: now) }
        return (cases, start)
    }

    /// A round whose held-back decisions are not kept.
    public static func round(rules: RulesBook, settings: SimulatorSettings, seed: UInt64, now: Date,
                             numbering: inout Numbering) throws -> ([SimulatedCase], Date) {
        var held = HeldDecisions()
        return try round(rules: rules, settings: settings, seed: seed, now: now, numbering: &numbering, held: &held)
    }

    /// Where the demo's numbering stands. Case and decision ids end with the run's id, and case
    /// and document numbers go on from round to round — and from run to run, through the file
    /// `demo-numbering.json` in the data directory — so no two simulated cases share an id or a
    /// 决定书文号, even in stores kept from an earlier run.
    public struct Numbering: Sendable {
        /// The run's start in seconds, base 36.
        public let runId: String
        public var lastCase = 0
        public var lastDocument = 0
        /// Where every body camera's chain of recordings ends; nil until the history round is made.
        public var cameras: CameraChains? = nil
        /// The round being sent, until all of it was: a restarted demo sends it first.
        public var unsent: UnsentRound? = nil

        /// A run's numbering, going on from `previous` (an earlier run's last numbers), if any.
        public init(runStart: Date, continuing previous: Saved? = nil) {
            runId = String(UInt64(max(0, runStart.timeIntervalSince1970)), radix: 36)
            lastCase = previous?.lastCase ?? 0
            lastDocument = previous?.lastDocument ?? 0
            cameras = previous?.cameras
            unsent = previous?.unsent
        }

        /// The numbers a later run goes on from.
        public var saved: Saved { Saved(lastCase: lastCase, lastDocument: lastDocument, cameras: cameras, unsent: unsent) }

        /// The last numbers used, and the cameras' chains, as kept between runs (a file from before
        /// the chains were kept has none: that run makes history again).
        public struct Saved: Codable, Sendable {
            public var lastCase: Int
            public var lastDocument: Int
            public var cameras: CameraChains?
            /// The round that was being sent when the file was written, if it was not all sent.
            public var unsent: UnsentRound?
            public init(lastCase: Int, lastDocument: Int, cameras: CameraChains? = nil, unsent: UnsentRound? = nil) {
                self.lastCase = lastCase
                self.lastDocument = lastDocument
                self.cameras = cameras
                self.unsent = unsent
            }

            /// The numbers kept in `file`; nil when there is no such file (a first run).
            public static func load(from file: URL) throws -> Saved? { try stateFile(file).load() }

            /// Keeps the numbers in `file` (written whole, then renamed into place).
            public func save(to file: URL) throws { try Self.stateFile(file).save(self) }

            static func stateFile(_ url: URL) -> DemoStateFile<Saved> { DemoStateFile(url: url, ifDeleted: "number demo cases from 1 again") }
        }
    }
}

/// The demo's held decisions: as they stand, and as a restarted demo is to find them — without the
/// effects of opinions whose released events are still being sent. The file is written under the
/// lock, so a later state is never overwritten by an earlier one.
struct HeldState: Sendable {
    var live: HeldDecisions
    var durable: HeldDecisions
}

/// A value several tasks change under one lock.
final class Shared<Value: Sendable>: Sendable {
    let state: Mutex<Value>
    init(_ value: Value) { state = Mutex(value) }
}

