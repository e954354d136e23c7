import Foundation
import Logging
import ServiceLifecycle
import ZhifaDomain
import ZhifaRuntime

/// `zhifa up --demo`: the simulator at a gentle rate through the ingest, so a newcomer sees
/// records flow: each round's cases are opened over the last weeks and decided in the last day,
/// so their publications are on time; events dated after now are not sent, and major decisions
/// stop at the draft, for the reviewers.
public struct DemoTraffic: Service {
    let rules: RulesBook
    let settings: SimulatorSettings
    let ingestURL: String
    let configDirectory: URL
    let logger: Logger

    public init(rules: RulesBook, settings: SimulatorSettings, ingestURL: String, configDirectory: URL, logger: Logger) {
        self.rules = rules
        self.settings = settings
        self.ingestURL = ingestURL
        self.configDirectory = configDirectory
        self.logger = logger
    }

    public func run() async throws {
        let client = IngestClient(baseURL: ingestURL, configDirectory: configDirectory)
        await cancelWhenGracefulShutdown {
            // Wait for the ingest to listen.
            while !Task.isCancelled, (try? await client.get("/healthz"))?.status != 200 {
                try? await Task.sleep(for: .milliseconds(200))
            }
            var round: UInt64 = 0
            var numbering = Numbering(runStart: Date())
            while !Task.isCancelled {
                round += 1
                let now = Date()
                do {
                    let (cases, start) = try Self.round(rules: rules, settings: settings, seed: UInt64(now.timeIntervalSince1970) &* 31 &+ round, now: now,
                                                        numbering: &numbering)
                    let summary = try await SimulationRunner.run(
                        cases, rate: settings.demoRate, sink: HTTPSink(client: client, logger: logger), concurrency: 2,
                        seed: round, start: start, transport: "http", logger: logger)
                    logger.info("demo traffic: sent a round of cases", metadata: ["cases": "\(summary.cases)", "events": "\(summary.events)", "accepted": "\(summary.accepted)"])
                } catch is CancellationError {
                    break
                } catch {
                    logger.warning("demo traffic paused after an error", metadata: ["error": "\(error)"])
                    try? await Task.sleep(for: .seconds(5))
                }
            }
        }
        await client.close()
    }

    /// One round of demo cases as known at `now`: ten cases whose decisions were issued in the
    /// day before `now`, without their events dated after it; and the start they were planned from.
    ///
    /// A major decision is sent up to its draft and no further: it waits in the reviewers' queue
    /// (a terminal that issued it at once would break Art. 58, and the demo would show nothing but
    /// violations).
    public static func round(rules: RulesBook, settings: SimulatorSettings, seed: UInt64, now: Date,
                             numbering: inout Numbering) throws -> ([SimulatedCase], Date) {
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
        let cases = generated.map { c in
            var known = c.known(at: now)
            if c.major, let issued = known.events.firstIndex(where: { $0.event.type == EventType.decisionIssued.rawValue }) {
                known.events.removeSubrange(issued...)
            }
            return known
        }
        return (cases, start)
    }

    /// Where the demo's numbering stands. Case and decision ids end with the run's id, and case
    /// and document numbers go on from round to round, so no two simulated cases share an id or
    /// a 决定书文号 (a restarted demo numbers its documents from 1 again, under a new run id).
    public struct Numbering: Sendable {
        /// The run's start in seconds, base 36.
        public let runId: String
        public var lastCase = 0
        public var lastDocument = 0

        public init(runStart: Date) { runId = String(UInt64(max(0, runStart.timeIntervalSince1970)), radix: 36) }
    }
}
