import Foundation
import ZhifaDomain
import ZhifaKafka

/// Kafka connection and client tuning.
public struct KafkaSettings: Sendable {
    /// Bootstrap servers; empty means "the embedded broker recorded in the data directory".
    public var brokers: String
    /// `client.id` prefix.
    public var clientId: String
    /// Partitions of every topic Zhifa creates.
    public var partitions: Int
    /// Replication factor of every topic Zhifa creates.
    public var replicationFactor: Int
    /// Producer `linger.ms`.
    public var lingerMs: Int
    /// Consumer `fetch.wait.max.ms` (10 for the embedded broker).
    public var fetchWaitMaxMs: Int
    /// Consumer `session.timeout.ms`.
    public var sessionTimeoutMs: Int
    /// Producer `message.timeout.ms`.
    public var messageTimeoutMs: Int
    /// Passed to librdkafka unchanged (SASL, SSL).
    public var properties: [String: String]
    /// Brokers of the embedded cluster (`zhifa up`, `zhifa broker`).
    public var embeddedBrokers: Int
    /// How long `zhifa up`, when stopped, waits for its consumers to read the embedded broker's
    /// topics to the end (0: it does not wait).
    public var embeddedDrainSeconds: Int
}

/// The topic names of INTERFACES.md.
public struct TopicNames: Sendable {
    public var events: String
    public var review: String
    public var publicity: String
    public var receipts: String

    /// Dead-letter topic of a consumer group.
    public static func deadLetter(_ group: String) -> String { "\(group).dlq" }
    /// Retry topic of a consumer group (only that group reads it).
    public static func retry(_ group: String) -> String { "\(group).retry" }
}

/// Consumer group ids of the services.
public struct GroupNames: Sendable {
    public var review: String
    public var publicity: String
    public var archive: String
    public var ingest: String

    /// Every group, for creating their dead-letter and retry topics.
    public var all: [String] { [review, publicity, archive, ingest] }
}

/// Worker runtime tuning shared by every service.
public struct WorkerSettings: Sendable {
    /// Messages taken and not yet finished, at most.
    public var maxInFlight: Int
    /// Handlers running at once (different keys).
    public var concurrency: Int
    /// Attempts before a message goes to the dead-letter topic.
    public var maxAttempts: Int
    /// First retry delay; doubles each attempt.
    public var initialBackoff: Duration
    /// Longest retry delay.
    public var maxBackoff: Duration
    /// How long a revoke waits for in-flight messages.
    public var revokeDeadline: Duration
    /// How long shutdown waits for in-flight messages.
    public var shutdownDeadline: Duration
    /// Messages the consumer buffers ahead of the handlers.
    public var bufferCapacity: Int

    /// Creates worker settings.
    public init(
        maxInFlight: Int = 10_000, concurrency: Int = 8, maxAttempts: Int = 5, initialBackoff: Duration = .milliseconds(200),
        maxBackoff: Duration = .seconds(30), revokeDeadline: Duration = .seconds(10), shutdownDeadline: Duration = .seconds(30),
        bufferCapacity: Int = 4_096
    ) {
        self.maxInFlight = maxInFlight
        self.concurrency = concurrency
        self.maxAttempts = maxAttempts
        self.initialBackoff = initialBackoff
        self.maxBackoff = maxBackoff
        self.revokeDeadline = revokeDeadline
        self.shutdownDeadline = shutdownDeadline
        self.bufferCapacity = bufferCapacity
    }
}

/// Where the HTTP servers listen.
public struct HTTPSettings: Sendable {
    public var host: String
    public var ingestPort: Int
    public var reviewPort: Int
    public var publicityPort: Int
    public var archivePort: Int
}

/// The ingest service's settings.
public struct IngestSettings: Sendable {
    /// The device registry.
    public var devicesFile: URL
    /// Largest single-event body.
    public var maxBodyBytes: Int
    /// Most events in one batch request.
    public var maxBatchEvents: Int
    /// Largest batch body.
    public var maxBatchBytes: Int
    /// Allowed difference between X-Zhifa-Date and the server clock.
    public var clockSkewSeconds: Int
    /// Outbox file name inside the data directory.
    public var outboxFile: String
    /// Events held (not yet released) before the ingest answers 503.
    public var outboxMaxEvents: Int
    /// When an event leaves the outbox: on the archive's `receipt`, or on Kafka `delivery`.
    public var releaseOn: String
    /// Delivered events with no receipt after this long are sent again.
    public var resendAfterSeconds: Int
    /// `Retry-After` on 503.
    public var retryAfterSeconds: Int
    /// How long accepted event ids are remembered for duplicate detection after release.
    public var dedupeDays: Int
}

/// Where the rules tables are.
public struct RulesSettings: Sendable {
    public var agenciesFile: URL
    public var mattersFile: URL
    public var officersFile: URL
    public var townFile: URL
    /// Folder of holiday-cn calendars (`YYYY.json`).
    public var calendarDirectory: URL
}

/// The terminal simulator's defaults and the shares of special cases it generates.
public struct SimulatorSettings: Sendable {
    public var rate: Int
    public var demoRate: Int
    public var cases: Int
    public var generalShare: Double
    public var majorShare: Double
    public var coerciveShare: Double
    public var avGapShare: Double
    public var avMissingShare: Double
    public var revokedShare: Double
    public var minorShare: Double
    public var confidentialShare: Double
    public var warningOnlyShare: Double
    public var personalDataInFactsShare: Double
}

/// The review service's settings.
public struct ReviewSettings: Sendable {
    public var reviewersFile: URL
    public var storeFile: String
    public var jwtSecret: String
    public var tokenHours: Int
    public var leaseSeconds: Int
    public var deadlineWorkingDays: Int
    public var dueSoonWorkingDays: Int
    /// Handlers running at once (each waits for its store commit; more of them share each fsync).
    public var workerConcurrency: Int
    public var rules: ReviewRules
}

/// The publicity service's settings.
public struct PublicitySettings: Sendable {
    public var storeFile: String
    public var title: String
    public var baseURL: String
    public var pageSize: Int
    public var feedItems: Int
    public var calendarReloadSeconds: Int
    public var rules: PublicityRules
}

/// The archive service's settings.
public struct ArchiveSettings: Sendable {
    public var storeFile: String
    /// Messages appended per transaction (one fsync each).
    public var batchSize: Int
    /// How often chain heads are published to the receipts topic.
    public var headIntervalSeconds: Int
    public var archivistsFile: URL
    public var jwtSecret: String
    public var tokenHours: Int
    /// How often the retention schedule is applied.
    public var retentionSweepSeconds: Int
    public var retention: RetentionRules
}

/// Everything in `config/zhifa.yaml`, validated.
public struct ZhifaConfiguration: Sendable {
    /// The file it came from.
    public var file: String
    /// The folder of the file; rules tables are resolved against it.
    public var directory: URL
    public var kafka: KafkaSettings
    public var topics: TopicNames
    public var groups: GroupNames
    public var worker: WorkerSettings
    public var http: HTTPSettings
    /// Log level: trace, debug, info, notice, warning, error, critical.
    public var logLevel: String
    public var ingest: IngestSettings
    public var review: ReviewSettings
    public var publicity: PublicitySettings
    public var archive: ArchiveSettings
    public var rules: RulesSettings
    public var simulator: SimulatorSettings

    /// Reads and validates the configuration; environment variables override the file.
    public static func load(file: String, environment: [String: String] = ProcessInfo.processInfo.environment) throws -> ZhifaConfiguration {
        let s = try ConfigSource(file: file, environment: environment)
        let config = try ZhifaConfiguration(source: s)
        try s.checkNoUnknownKeys()
        return config
    }

    init(source s: ConfigSource) throws {
        file = s.file
        directory = s.directory
        kafka = KafkaSettings(
            brokers: try s.string("kafka.brokers"),
            clientId: try s.string("kafka.clientId", allowEmpty: false),
            partitions: try s.int("kafka.partitions", in: 1...1024),
            replicationFactor: try s.int("kafka.replicationFactor", in: 1...16),
            lingerMs: try s.int("kafka.lingerMs", in: 0...10_000),
            fetchWaitMaxMs: try s.int("kafka.fetchWaitMaxMs", in: 1...60_000),
            sessionTimeoutMs: try s.int("kafka.sessionTimeoutMs", in: 1_000...3_600_000),
            messageTimeoutMs: try s.int("kafka.messageTimeoutMs", in: 0...2_147_483_647),
            properties: try s.stringMap("kafka.properties"),
            embeddedBrokers: try s.int("kafka.embedded.brokers", in: 1...16),
            embeddedDrainSeconds: try s.int("kafka.embedded.drainSeconds", in: 0...3_600))
        topics = TopicNames(
            events: try s.string("topics.events", allowEmpty: false),
            review: try s.string("topics.review", allowEmpty: false),
            publicity: try s.string("topics.publicity", allowEmpty: false),
            receipts: try s.string("topics.receipts", allowEmpty: false))
        groups = GroupNames(
            review: try s.string("groups.review", allowEmpty: false),
            publicity: try s.string("groups.publicity", allowEmpty: false),
            archive: try s.string("groups.archive", allowEmpty: false),
            ingest: try s.string("groups.ingest", allowEmpty: false))
        worker = WorkerSettings(
            maxInFlight: try s.int("worker.maxInFlight", in: 1...1_000_000),
            concurrency: try s.int("worker.concurrency", in: 1...1_024),
            maxAttempts: try s.int("worker.maxAttempts", in: 1...100),
            initialBackoff: .milliseconds(try s.int("worker.initialBackoffMs", in: 1...600_000)),
            maxBackoff: .milliseconds(try s.int("worker.maxBackoffMs", in: 1...3_600_000)),
            revokeDeadline: .milliseconds(try s.int("worker.revokeDeadlineMs", in: 0...600_000)),
            shutdownDeadline: .milliseconds(try s.int("worker.shutdownDeadlineMs", in: 0...600_000)),
            bufferCapacity: try s.int("worker.bufferCapacity", in: 1...1_000_000))
        logLevel = try s.choice("log.level", ["trace", "debug", "info", "notice", "warning", "error", "critical"])
        ingest = IngestSettings(
            devicesFile: try s.path("ingest.devicesFile"),
            maxBodyBytes: try s.int("ingest.maxBodyBytes", in: 1_024...64 << 20),
            maxBatchEvents: try s.int("ingest.batch.maxEvents", in: 1...10_000),
            maxBatchBytes: try s.int("ingest.batch.maxBytes", in: 1_024...256 << 20),
            clockSkewSeconds: try s.int("ingest.clockSkewSeconds", in: 1...86_400),
            outboxFile: try s.string("ingest.outbox.file", allowEmpty: false),
            outboxMaxEvents: try s.int("ingest.outbox.maxEvents", in: 1...100_000_000),
            releaseOn: try s.choice("ingest.outbox.releaseOn", ["receipt", "delivery"]),
            resendAfterSeconds: try s.int("ingest.outbox.resendAfterSeconds", in: 1...86_400),
            retryAfterSeconds: try s.int("ingest.outbox.retryAfterSeconds", in: 1...3_600),
            dedupeDays: try s.int("ingest.outbox.dedupeDays", in: 1...3_650))
        var rr = ReviewRules()
        rr.largeAmountNaturalPersonFen = Int64(try s.int("review.thresholds.largeAmountNaturalPersonFen", in: 0...Int(Int32.max)))
        rr.largeAmountOrganisationFen = Int64(try s.int("review.thresholds.largeAmountOrganisationFen", in: 0...Int(Int32.max)))
        rr.simpleMaxFineNaturalPersonFen = Int64(try s.int("review.thresholds.simpleMaxFineNaturalPersonFen", in: 0...Int(Int32.max)))
        rr.simpleMaxFineOrganisationFen = Int64(try s.int("review.thresholds.simpleMaxFineOrganisationFen", in: 0...Int(Int32.max)))
        rr.timeBarYears = try s.int("review.thresholds.timeBarYears", in: 1...50)
        rr.timeBarYearsHealthFinance = try s.int("review.thresholds.timeBarYearsHealthFinance", in: 1...50)
        rr.decisionDays = try s.int("review.thresholds.decisionDays", in: 1...3_650)
        rr.hearingRequestWorkingDays = try s.int("review.thresholds.hearingRequestWorkingDays", in: 1...365)
        rr.hearingNoticeDays = try s.int("review.thresholds.hearingNoticeDays", in: 0...365)
        rr.avGapToleranceSeconds = Double(try s.int("review.thresholds.avGapToleranceSeconds", in: 0...3_600))
        rr.clockOffsetToleranceMs = Int64(try s.int("review.thresholds.clockOffsetToleranceMs", in: 0...86_400_000))
        rr.emergencyReportHours = Double(try s.int("review.thresholds.emergencyReportHours", in: 1...720))
        rr.minimumOfficers = try s.int("review.thresholds.minimumOfficers", in: 1...10)
        func kinds<T: RawRepresentable>(_ key: String, _: T.Type) throws -> Set<T> where T.RawValue == String {
            Set(try s.stringList(key).map { v in
                guard let k = T(rawValue: v) else { throw ConfigError(file: s.file, key: key, problem: "'\(v)' is not a known value") }
                return k
            })
        }
        rr.mandatoryAVActions = try kinds("review.mandatoryAVActions", ActionType.self)
        rr.coerciveActions = try kinds("review.coerciveActions", ActionType.self)
        rr.majorPenaltyKinds = try kinds("review.majorPenaltyKinds", PenaltyKind.self)
        rr.hearingEligibleKinds = try kinds("review.hearingEligibleKinds", PenaltyKind.self)
        let secret = try s.string("review.jwtSecret", allowEmpty: false)
        guard secret.count >= 16 else { throw ConfigError(file: s.file, key: "review.jwtSecret", problem: "must be at least 16 characters") }
        review = ReviewSettings(
            reviewersFile: try s.path("review.reviewersFile"), storeFile: try s.string("review.storeFile", allowEmpty: false),
            jwtSecret: secret, tokenHours: try s.int("review.tokenHours", in: 1...720), leaseSeconds: try s.int("review.leaseSeconds", in: 1...86_400),
            deadlineWorkingDays: try s.int("review.deadlineWorkingDays", in: 1...365), dueSoonWorkingDays: try s.int("review.dueSoonWorkingDays", in: 0...365),
            workerConcurrency: try s.int("review.workerConcurrency", in: 1...1_024), rules: rr)
        var pr = PublicityRules()
        pr.publishWarningOnly = try s.bool("publicity.publishWarningOnly")
        pr.adultAge = try s.int("publicity.adultAge", in: 1...30)
        pr.penaltyLicenceWorkingDays = try s.int("publicity.deadlineWorkingDays.penaltyAndLicence", in: 1...365)
        pr.otherWorkingDays = try s.int("publicity.deadlineWorkingDays.other", in: 1...365)
        pr.withdrawalWorkingDays = try s.int("publicity.withdrawalWorkingDays", in: 0...365)
        pr.expiryDays = try s.int("publicity.expiryDays", in: 1...36_500)
        pr.shortExpiryDays = try s.int("publicity.shortExpiryDays", in: 1...36_500)
        pr.smallFineFen = Int64(try s.int("publicity.smallFineFen", in: 0...Int(Int32.max)))
        pr.approachingWorkingDays = try s.int("publicity.approachingWorkingDays", in: 0...365)
        publicity = PublicitySettings(
            storeFile: try s.string("publicity.storeFile", allowEmpty: false), title: try s.string("publicity.title", allowEmpty: false),
            baseURL: try s.string("publicity.baseURL"), pageSize: try s.int("publicity.pageSize", in: 1...500),
            feedItems: try s.int("publicity.feedItems", in: 1...10_000), calendarReloadSeconds: try s.int("publicity.calendarReloadSeconds", in: 1...86_400 * 7),
            rules: pr)
        var retention = RetentionRules()
        for category in [Category.penalty, .licence, .coercion, .inspection, .levy, .payment, .adjudication, .confirmation, .other] {
            let key = "archive.retention.years.\(category.rawValue)"
            let text = try s.string(key, allowEmpty: false)
            if text == "permanent" { retention.years[category] = .some(nil); continue }
            guard let y = Int(text), (1...200).contains(y) else { throw ConfigError(file: s.file, key: key, problem: "must be a number of years (1–200) or 'permanent'") }
            retention.years[category] = .some(y)
        }
        retention.otherRecordingMonths = try s.int("archive.retention.otherRecordingMonths", in: 6...1_200)
        let archiveSecret = try s.string("archive.jwtSecret", allowEmpty: false)
        guard archiveSecret.count >= 16 else { throw ConfigError(file: s.file, key: "archive.jwtSecret", problem: "must be at least 16 characters") }
        archive = ArchiveSettings(
            storeFile: try s.string("archive.storeFile", allowEmpty: false), batchSize: try s.int("archive.batchSize", in: 1...50_000),
            headIntervalSeconds: try s.int("archive.headIntervalSeconds", in: 1...86_400), archivistsFile: try s.path("archive.archivistsFile"),
            jwtSecret: archiveSecret, tokenHours: try s.int("archive.tokenHours", in: 1...720),
            retentionSweepSeconds: try s.int("archive.retentionSweepSeconds", in: 1...86_400 * 7), retention: retention)
        rules = RulesSettings(
            agenciesFile: try s.path("rules.agenciesFile"), mattersFile: try s.path("rules.mattersFile"),
            officersFile: try s.path("rules.officersFile"), townFile: try s.path("rules.townFile"),
            calendarDirectory: try s.path("rules.calendarDirectory"))
        func share(_ k: String) throws -> Double { Double(try s.int("simulator.sharesPercent.\(k)", in: 0...100)) / 100 }
        simulator = SimulatorSettings(
            rate: try s.int("simulator.rate", in: 1...1_000_000), demoRate: try s.int("simulator.demoRate", in: 1...10_000),
            cases: try s.int("simulator.cases", in: 1...10_000_000),
            generalShare: try share("general"), majorShare: try share("major"), coerciveShare: try share("coercive"),
            avGapShare: try share("avGap"), avMissingShare: try share("avMissing"), revokedShare: try share("revoked"),
            minorShare: try share("minor"), confidentialShare: try share("confidential"), warningOnlyShare: try share("warningOnly"),
            personalDataInFactsShare: try share("personalDataInFacts"))
        http = HTTPSettings(
            host: try s.string("http.host", allowEmpty: false),
            ingestPort: try s.int("http.ports.ingest", in: 0...65_535),
            reviewPort: try s.int("http.ports.review", in: 0...65_535),
            publicityPort: try s.int("http.ports.publicity", in: 0...65_535),
            archivePort: try s.int("http.ports.archive", in: 0...65_535))
    }

    /// Every topic the system uses, with its partition count.
    public var allTopics: [KafkaTopicSpec] {
        var names = [topics.events, topics.review, topics.publicity, topics.receipts]
        for g in groups.all { names += [TopicNames.deadLetter(g), TopicNames.retry(g)] }
        return names.map { KafkaTopicSpec(name: $0, partitions: Int32(kafka.partitions), replicationFactor: Int16(kafka.replicationFactor)) }
    }

    /// Client settings for a resolved bootstrap string.
    public func clientSettings(bootstrap: String, role: String) -> KafkaClientSettings {
        KafkaClientSettings(bootstrapServers: bootstrap, clientId: "\(kafka.clientId)-\(role)", properties: kafka.properties)
    }

    /// Producer configuration (idempotent, acks=all).
    public func producerConfiguration(bootstrap: String, role: String) -> KafkaProducerConfiguration {
        var c = KafkaProducerConfiguration(client: clientSettings(bootstrap: bootstrap, role: role))
        c.lingerMs = kafka.lingerMs
        c.messageTimeoutMs = kafka.messageTimeoutMs
        return c
    }

    /// Consumer configuration for a group.
    public func consumerConfiguration(bootstrap: String, group: String, role: String) -> KafkaConsumerConfiguration {
        var c = KafkaConsumerConfiguration(client: clientSettings(bootstrap: bootstrap, role: role), groupId: group)
        c.fetchWaitMaxMs = kafka.fetchWaitMaxMs
        c.sessionTimeoutMs = kafka.sessionTimeoutMs
        c.revokeDeadline = worker.revokeDeadline
        c.bufferCapacity = worker.bufferCapacity
        return c
    }
}
