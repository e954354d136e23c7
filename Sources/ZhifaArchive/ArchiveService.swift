import Foundation
import Logging
import Prometheus
import ServiceLifecycle
import ZhifaDomain
import ZhifaKafka
import ZhifaRuntime

/// The archive service: every message of the input topics, byte-exact, in hash chains; receipts
/// and chain heads; case records, completeness, 四性检测, export; retention.
public enum ArchiveService {
    /// The store at its configured path.
    public static func openStore(config: ZhifaConfiguration, dataDirectory: DataDirectory) throws -> SQLiteArchiveStore {
        try SQLiteArchiveStore(path: dataDirectory.path(config.archive.storeFile).path)
    }

    /// A signed token for a registered archivist (`zhifa archive token`).
    public static func token(config: ZhifaConfiguration, archivistId: String) async throws -> String {
        let book = try RulesLoader.load(config.rules)
        guard let a = try ArchiveOperations.archivists(config.archive.archivistsFile, book: book)[archivistId] else {
            throw ConfigError(file: config.archive.archivistsFile.path, key: "archivists", problem: "no archivist \(archivistId) is registered")
        }
        let tokens = await BearerTokens.make(secret: config.archive.jwtSecret)
        return try await tokens.issue(ZhifaTokenClaims(subject: a.archivistId, role: "archivist", agency: a.agencyId,
                                                       expires: Date().addingTimeInterval(Double(config.archive.tokenHours) * 3600)))
    }

    public static func make(context: ServiceContext) async throws -> [ServiceGroupConfiguration.ServiceConfiguration] {
        let config = context.config
        let book = try RulesLoader.load(config.rules)
        let archivists = try ArchiveOperations.archivists(config.archive.archivistsFile, book: book)
        let store = try openStore(config: config, dataDirectory: context.dataDirectory)
        let producer = try context.makeProducer()
        let consumer = ArchiveConsumer(
            store: store, intake: ArchiveIntake(eventsTopic: config.topics.events), producer: producer,
            configuration: config.consumerConfiguration(bootstrap: context.bootstrap, group: config.groups.archive, role: "archive"),
            topics: [config.topics.events, config.topics.review, config.topics.publicity], receiptsTopic: config.topics.receipts,
            batchSize: config.archive.batchSize, metricsFactory: context.metricsFactory, logger: context.logger,
            onProgress: context.stopDrain?.progressMade)
        context.health.register("kafka-consumer:\(config.groups.archive)") { consumer.notRunning.map { .failed($0) } ?? .ok }
        context.stopDrain?.watch(group: config.groups.archive, topics: [config.topics.events, config.topics.review, config.topics.publicity],
                                 stopped: { consumer.notRunning == "starting" ? nil : consumer.notRunning },
                                 commit: { try await consumer.commitStoredOffsets() })
        let lag = context.metrics.makeGauge(descriptor: MetricNameDescriptor(namespace: "zhifa", subsystem: "archive", metricName: "consumer", unitName: "lag", helpText: "Messages not yet archived behind the end of the assigned partitions"))
        let heads = HeadPublisher(store: store, producer: producer, topic: config.topics.receipts, logger: context.logger)
        let retention = RetentionSweeper(store: store, rules: config.archive.retention, logger: context.logger)
        let operations = ArchiveOperations(store: store, rules: config.review.rules)
        let api = ArchiveAPI(operations: operations, tokens: await BearerTokens.make(secret: config.archive.jwtSecret), archivists: archivists)
        let http = ServiceHTTPServer.make(context: context, port: config.http.archivePort, beforeScrape: { lag.set(Double(consumer.lag)) }, routes: api.add)
        return [
            .init(service: ClosingService("archive-resources") {
                await producer.close()
                await store.close()
            }),
            .init(service: PeriodicService(every: .seconds(config.archive.headIntervalSeconds), tick: heads.publishMoved, finally: heads.publishMoved)),
            .init(service: consumer),
            .init(service: PeriodicService(every: .seconds(config.archive.retentionSweepSeconds), tick: retention.sweep)),
            .init(service: http),
        ]
    }
}
