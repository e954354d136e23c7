import Foundation
import Logging
import Prometheus
import ServiceLifecycle
import Synchronization
import ZhifaDomain
import ZhifaKafka
import ZhifaRuntime

/// The review service: automated checks on every decision, the reviewer task queue and its API.
public enum ReviewService {
    /// The reviewer registry, checked at start.
    public static func reviewers(_ settings: ReviewSettings, book: RulesBook) throws -> ReviewerRegistry {
        struct Doc: Decodable { var reviewers: [Reviewer] }
        let list = try RulesFile.decode(Doc.self, from: settings.reviewersFile).reviewers
        for (i, r) in list.enumerated() where book.agencies[r.agencyId] == nil {
            throw ConfigError(file: settings.reviewersFile.path, key: "reviewers[\(i)].agencyId", problem: "agency \(r.agencyId) is not defined in agencies.yaml")
        }
        return ReviewerRegistry(list)
    }

    /// A signed token for a registered reviewer (`zhifa review token`).
    public static func token(config: ZhifaConfiguration, reviewerId: String) async throws -> String {
        let book = try RulesLoader.load(config.rules)
        guard let r = try reviewers(config.review, book: book).reviewers[reviewerId] else {
            throw ConfigError(file: config.review.reviewersFile.path, key: "reviewers", problem: "no reviewer \(reviewerId) is registered")
        }
        let tokens = await BearerTokens.make(secret: config.review.jwtSecret)
        return try await tokens.issue(ZhifaTokenClaims(subject: r.reviewerId, role: "reviewer", agency: r.agencyId,
                                                       expires: Date().addingTimeInterval(Double(config.review.tokenHours) * 3600)))
    }

    public static func make(context: ServiceContext) async throws -> [ServiceGroupConfiguration.ServiceConfiguration] {
        let config = context.config
        let book = try RulesLoader.load(config.rules)
        let calendar = try CalendarLoader.load(config.rules.calendarDirectory)
        let reviewers = try reviewers(config.review, book: book)
        let store = try SQLiteReviewStore(path: context.dataDirectory.path(config.review.storeFile).path)
        let producer = try context.makeProducer()
        let processor = ReviewProcessor(store: store, book: book, calendar: calendar, settings: config.review, topic: config.topics.review,
                                        group: config.groups.review, metricsFactory: context.metricsFactory, logger: context.logger)
        let worker = context.makeWorker(group: config.groups.review, topics: [config.topics.events], producer: producer,
                                        concurrency: config.review.workerConcurrency, handler: processor.handle)
        let published = WakeSignal()
        let publisher = OutboxPublisher(name: "review", pending: { try await store.pendingPublications(limit: $0) },
                                        markSent: { try await store.markPublished($0) }, producer: producer, signal: published,
                                        onSent: context.stopDrain?.progressMade, logger: context.logger)
        context.stopDrain?.watch(outbox: "review", isEmpty: publisher.isEmpty)
        let tokens = await BearerTokens.make(secret: config.review.jwtSecret)
        let api = ReviewAPI(store: store, tokens: tokens, reviewers: reviewers, book: book, calendar: calendar, settings: config.review,
                            topic: config.topics.review, published: published, logger: context.logger)
        let overdue = context.metrics.makeGauge(descriptor: MetricNameDescriptor(namespace: "zhifa", metricName: "review_tasks", unitName: "overdue", helpText: "Review tasks past their due date"))
        let open = context.metrics.makeGauge(descriptor: MetricNameDescriptor(namespace: "zhifa", metricName: "review_tasks", unitName: "open", helpText: "Review tasks waiting for a reviewer"))
        let queueWatch = QueueWatch(store: store, agencies: Array(book.agencies.keys), overdue: overdue, open: open, logger: context.logger)
        let missingYears = (Set([ChinaTime.day(of: Date()).year, ChinaTime.day(of: Date()).year + 1]).filter { !calendar.knows(year: $0) }).sorted()
        context.health.register("calendar") {
            missingYears.isEmpty ? .ok : .degraded("no official working-day calendar for \(missingYears.map(String.init).joined(separator: ", ")): review deadlines there count weekends only (provisional)")
        }
        let http = ServiceHTTPServer.make(context: context, port: config.http.reviewPort, beforeScrape: { worker.refreshGauges() }, routes: api.add)
        return [
            .init(service: ClosingService("review-resources") {
                await producer.close()
                await store.close()
            }),
            .init(service: publisher),
            .init(service: PeriodicService(every: .seconds(15), tick: queueWatch.refresh)),
            .init(service: worker),
            .init(service: http),
        ]
    }
}

/// Keeps the open and overdue task gauges current.
struct QueueWatch: Sendable {
    let store: any ReviewStore
    let agencies: [String]
    let overdue: Gauge
    let open: Gauge
    let logger: Logger

    /// Counts the tasks and sets the gauges.
    func refresh() async {
        var o = 0
        var late = 0
        let now = Date()
        for a in agencies {
            for t in (try? await store.listTasks(agencyId: a, now: now)) ?? [] {
                let s = t.effectiveState(at: now)
                if s == .open || s == .claimed { o += 1 }
                if t.overdue(at: now) { late += 1 }
            }
        }
        open.set(Double(o))
        overdue.set(Double(late))
        if late > 0 { logger.notice("review tasks are overdue", metadata: ["overdue": "\(late)"]) }
    }
}
