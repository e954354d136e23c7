import Foundation
import Logging
import Prometheus
import ServiceLifecycle
import ZhifaKafka
import ZhifaRuntime

/// The ingest service: authenticated HTTP ingest into a durable outbox, relayed to Kafka, released
/// on the archive's receipts.
public enum IngestService {
    /// The services to run, in start order (a group stops them in reverse: HTTP first, the outbox
    /// and producer last).
    public static func make(context: ServiceContext) throws -> [ServiceGroupConfiguration.ServiceConfiguration] {
        let settings = context.config.ingest
        let devices = try DeviceRegistry.load(settings.devicesFile)
        let outbox = try Outbox(path: context.dataDirectory.path(settings.outboxFile).path, maxEvents: settings.outboxMaxEvents, logger: context.logger,
                                onRelease: context.stopDrain?.progressMade)
        let producer = try context.makeProducer()
        let probe = try BrokerProbe(context: context, topic: context.config.topics.events)
        let releaseOnDelivery = settings.releaseOn == "delivery"
        let relay = OutboxRelay(
            outbox: outbox, producer: producer, topic: context.config.topics.events, releaseOnDelivery: releaseOnDelivery,
            resendAfter: .seconds(settings.resendAfterSeconds), metricsFactory: context.metricsFactory, logger: context.logger)
        let releaser = ReceiptReleaser(outbox: outbox, dedupeDays: settings.dedupeDays, logger: context.logger)
        context.stopDrain?.watch(outbox: "ingest", isEmpty: { outbox.unreleased == 0 })
        context.health.register("outbox") {
            guard outbox.writable else { return .failed("the last outbox commit failed (disk full or read-only?)") }
            if outbox.unreleased >= outbox.maxEvents { return .degraded("outbox full: new events get 503") }
            return .ok
        }
        context.health.register("kafka") { await probe.check() }
        let unreleased = context.metrics.makeGauge(descriptor: MetricNameDescriptor(namespace: "zhifa", metricName: "outbox", unitName: "unreleased", helpText: "Accepted events not yet released from the outbox"))
        let routes = IngestRoutes(settings: settings, devices: devices, outbox: outbox, metricsFactory: context.metricsFactory, logger: context.logger)
        let http = ServiceHTTPServer.make(
            context: context, port: context.config.http.ingestPort, maxUploadBytes: settings.maxBatchBytes,
            beforeScrape: { unreleased.set(Double(outbox.unreleased)) }, routes: routes.add)
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = [
            .init(service: ClosingService("ingest-resources") {
                await producer.close()
                await probe.close()
                await outbox.close()
            }),
            .init(service: relay),
            .init(service: releaser),
        ]
        if !releaseOnDelivery {
            let worker = context.makeWorker(group: context.config.groups.ingest, topics: [context.config.topics.receipts], producer: producer, handler: releaser.handle)
            services.append(.init(service: worker))
        }
        services.append(.init(service: http))
        context.logger.info("ingest ready", metadata: [
            "devices": "\(devices.devices.count)", "outbox": "\(context.dataDirectory.path(settings.outboxFile).path)",
            "unreleased": "\(outbox.unreleased)", "releaseOn": "\(settings.releaseOn)",
        ])
        return services
    }
}
