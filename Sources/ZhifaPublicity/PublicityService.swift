import Foundation
import Logging
import Prometheus
import ServiceLifecycle
import Synchronization
import ZhifaDomain
import ZhifaKafka
import ZhifaRuntime

/// The publicity service: redacted decisions on a public feed, on time, with withdrawals.
public enum PublicityService {
    /// The services of `zhifa publicity`, in start order (shut down in reverse).
    public static func make(context: ServiceContext) async throws -> [ServiceGroupConfiguration.ServiceConfiguration] {
        let config = context.config
        let settings = config.publicity
        let book = try RulesLoader.load(config.rules)
        let calendar = CalendarHolder(try CalendarLoader.load(config.rules.calendarDirectory))
        let store = try SQLitePublicityStore(path: context.dataDirectory.path(settings.storeFile).path)
        let producer = try context.makeProducer()
        let hub = ChangeHub()
        let published = WakeSignal()
        let processor = PublicityProcessor(
            store: store, book: book, calendar: calendar, rules: settings.rules, eventsTopic: config.topics.events, outputTopic: config.topics.publicity,
            group: config.groups.publicity, changes: hub, published: published, metricsFactory: context.metricsFactory, logger: context.logger)
        let worker = context.makeWorker(group: config.groups.publicity, topics: [config.topics.events, config.topics.review], producer: producer,
                                        handler: processor.handle)
        let publisher = OutboxPublisher(name: "publicity", pending: { try await store.pendingPublications(limit: $0) },
                                        markSent: { try await store.markPublished($0) }, producer: producer, signal: published,
                                        onSent: context.stopDrain?.progressMade, logger: context.logger)
        context.stopDrain?.watch(outbox: "publicity", isEmpty: publisher.isEmpty)
        let watch = DeadlineWatch(store: store, calendar: calendar, rules: settings.rules, registry: context.metrics, logger: context.logger)
        context.health.register("calendar") { watch.health() }
        let maintenance = FeedMaintenance(store: store, processor: processor, directory: config.rules.calendarDirectory, calendar: calendar,
                                          reload: .seconds(settings.calendarReloadSeconds), watch: watch, logger: context.logger)
        let api = PublicityAPI(store: store, book: book, calendar: calendar, settings: settings, hub: hub)
        let http = ServiceHTTPServer.make(context: context, port: config.http.publicityPort, beforeScrape: { worker.refreshGauges() }, routes: api.add)
        return [
            .init(service: ClosingService("publicity-resources") {
                await producer.close()
                await store.close()
            }),
            .init(service: publisher),
            .init(service: worker),
            .init(service: PeriodicService(every: maintenance.interval, tick: maintenance.tick)),
            .init(service: http),
            // Shut down first: ends open /events streams so the HTTP server can drain.
            .init(service: ClosingService("feed-streams") { hub.close() }),
        ]
    }
}

/// Keeps the deadline metrics and the calendar alert current; logs overdue and approaching decisions.
public final class DeadlineWatch: Sendable {
    let store: any PublicityStore
    let calendar: CalendarHolder
    let rules: PublicityRules
    let logger: Logger
    let overdue: Gauge
    let approaching: Gauge
    let late: Gauge
    let provisional: Gauge
    let latest = Mutex<DeadlineReport.Provisional>(.init(count: 0, yearsWithoutData: []))
    private static var held: MetricNameDescriptor { MetricNameDescriptor(
        namespace: "zhifa", subsystem: "publicity", metricName: "held", unitName: "decisions",
        helpText: "Issued decisions not published, by deadline state") }

    public init(store: any PublicityStore, calendar: CalendarHolder, rules: PublicityRules, registry: PrometheusCollectorRegistry, logger: Logger) {
        self.store = store
        self.calendar = calendar
        self.rules = rules
        self.logger = logger
        overdue = registry.makeGauge(descriptor: Self.held, labels: [("state", "overdue")])
        approaching = registry.makeGauge(descriptor: Self.held, labels: [("state", "approaching")])
        late = registry.makeGauge(descriptor: MetricNameDescriptor(namespace: "zhifa", subsystem: "publicity", metricName: "late", unitName: "entries", helpText: "Entries on the feed that were published after their due date"))
        provisional = registry.makeGauge(descriptor: MetricNameDescriptor(namespace: "zhifa", subsystem: "publicity", metricName: "provisional", unitName: "deadlines", helpText: "Publication deadlines counted without an official calendar (weekends only)"))
    }

    /// Recomputes the report, sets the gauges and logs what needs attention.
    public func check(now: Date = Date()) async {
        do {
            let r = try await DeadlineReport.make(store: store, calendar: calendar.calendar, rules: rules, now: now)
            overdue.set(Double(r.overdue))
            approaching.set(Double(r.approaching))
            late.set(Double(r.late.count))
            provisional.set(Double(r.provisional.count))
            latest.withLock { $0 = r.provisional }
            if r.overdue > 0 || r.approaching > 0 {
                logger.warning("decisions are waiting past or near their publication deadline", metadata: [
                    "overdue": "\(r.overdue)", "approaching": "\(r.approaching)",
                    "decisions": "\(r.held.filter { $0.state != "waiting" }.prefix(20).map(\.decisionId).joined(separator: ","))",
                ])
            }
            if r.provisional.count > 0 {
                logger.error("publication deadlines run into a year without an official working-day calendar; they count weekends only (provisional)", metadata: [
                    "deadlines": "\(r.provisional.count)", "years": "\(r.provisional.yearsWithoutData.map(String.init).joined(separator: ","))",
                    "fix": "add holiday-cn YYYY.json for those years to the calendar folder; deadlines are recomputed when it is loaded",
                ])
            }
        } catch {
            logger.warning("could not compute publication deadlines", metadata: ["error": "\(error)"])
        }
    }

    /// The `/readyz` detail: degraded (still ready) while deadlines are provisional.
    public func health() -> HealthState {
        let p = latest.withLock { $0 }
        guard p.count > 0 else { return .ok }
        return .degraded("\(p.count) publication deadline(s) run into \(p.yearsWithoutData.map(String.init).joined(separator: ", ")), which has no official working-day calendar yet: counted with weekends only (provisional) until the year's holiday-cn file is loaded")
    }
}

/// Periodic feed upkeep (run by a `PeriodicService`): expires entries past their time, reloads
/// the calendar folder every `reload` (a new year's data recomputes provisional deadlines), and
/// refreshes the deadline report.
final class FeedMaintenance: Sendable {
    let store: any PublicityStore
    let processor: PublicityProcessor
    let directory: URL
    let calendar: CalendarHolder
    let reload: Duration
    let watch: DeadlineWatch
    let logger: Logger
    /// When the calendar was last (re)loaded; nil before the first tick.
    private let lastReload = Mutex<ContinuousClock.Instant?>(nil)

    init(store: any PublicityStore, processor: PublicityProcessor, directory: URL, calendar: CalendarHolder, reload: Duration, watch: DeadlineWatch, logger: Logger) {
        self.store = store
        self.processor = processor
        self.directory = directory
        self.calendar = calendar
        self.reload = reload
        self.watch = watch
        self.logger = logger
    }

    /// How often `tick` should run.
    var interval: Duration { min(reload, .seconds(60)) }

    /// One round of upkeep. The first recomputes deadlines with the calendar loaded at start.
    func tick() async {
        let step = lastReload.withLock { last -> (reload: Bool, recompute: Bool) in
            let now = ContinuousClock.now
            guard let l = last else { last = now; return (false, true) }
            guard now - l >= reload else { return (false, false) }
            last = now
            return (true, true)
        }
        if step.reload { reloadCalendar() }
        if step.recompute { await recompute() }
        await expire()
        await watch.check()
    }

    func expire() async {
        do {
            processor.announce(try await store.expire(now: Date(), topic: processor.outputTopic))
        } catch {
            logger.warning("could not expire feed entries; retrying", metadata: ["error": "\(error)"])
        }
    }

    func reloadCalendar() {
        do {
            let added = calendar.replace(with: try CalendarLoader.load(directory))
            if !added.isEmpty { logger.notice("working-day calendar loaded", metadata: ["years": "\(added.map(String.init).joined(separator: ","))"]) }
        } catch {
            logger.error("could not reload the working-day calendar; keeping the one in use", metadata: ["error": "\(error)"])
        }
    }

    func recompute() async {
        do {
            let changed = try await store.recomputeDueDates(context: processor.context, now: Date())
            if !changed.isEmpty { logger.notice("provisional deadlines recomputed", metadata: ["entries": "\(changed.count)"]) }
            processor.announce(changed)
        } catch {
            logger.warning("could not recompute deadlines; retrying", metadata: ["error": "\(error)"])
        }
    }
}
