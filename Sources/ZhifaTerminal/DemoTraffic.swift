import Foundation
import Logging
import ServiceLifecycle
import ZhifaDomain
import ZhifaRuntime

/// `zhifa up --demo`: the simulator at a gentle rate through the ingest, so a newcomer sees
/// records flow (cases dated over the last few weeks, so deadlines are current).
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
            while !Task.isCancelled {
                round += 1
                let start = Date().addingTimeInterval(-60 * 86_400)  // decisions of general cases come weeks after opening: keep them in the past
                var sim = TownSimulator(rules: rules, settings: settings, seed: UInt64(Date().timeIntervalSince1970) &* 31 &+ round, start: start)
                do {
                    let cases = try sim.generate(cases: 10, daysSpan: 14)
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
}
