import Foundation
import Logging
import Prometheus
import ServiceLifecycle
import Synchronization
import ZhifaDomain
import ZhifaKafka
import ZhifaRuntime
import ZhifaTerminal

/// Helpers for benchmarks that run a service in-process on the embedded broker.
public enum ServiceBench {
    static var quietLogger: Logger {
        var l = Logger(label: "zhifa.bench")
        l.logLevel = .warning
        return l
    }

    /// An embedded cluster with every configured topic.
    static func cluster(_ config: ZhifaConfiguration, partitions: Int32? = nil) throws -> EmbeddedKafkaCluster {
        let c = try EmbeddedKafkaCluster(brokers: 1, logger: quietLogger)
        for t in config.allTopics { try c.createTopic(t.name, partitions: partitions ?? t.partitions) }
        return c
    }

    /// The simulator's mix: about `events` events.
    static func traffic(_ config: ZhifaConfiguration, events: Int, seed: UInt64 = 7) throws -> [SimulatedCase] {
        let rules = try RulesLoader.load(config.rules)
        var out: [SimulatedCase] = []
        var s = seed
        while out.reduce(0, { $0 + $1.events.count }) < events {
            var sim = TownSimulator(rules: rules, settings: config.simulator, seed: s, start: ChinaTime.startOfDay(CalendarDay(year: 2025, month: 3, day: 3)))
            out += try sim.generate(cases: 200)
            s += 1
        }
        return out
    }

    /// A counter's value from a registry's Prometheus text.
    static func metric(_ registry: PrometheusCollectorRegistry, _ name: String) -> Double {
        // `name` may end with its labels (`…{stage="read"}`): then only that series matches.
        for line in registry.emitToString().split(separator: "\n") where line.hasPrefix(name + " ") || (!name.hasSuffix("}") && line.hasPrefix(name + "{")) {
            if let v = line.split(separator: " ").last.flatMap({ Double($0) }) { return v }
        }
        return 0
    }

    /// The sum of a metric over all its label sets.
    static func metricSum(_ registry: PrometheusCollectorRegistry, _ name: String) -> Double {
        var total = 0.0
        for line in registry.emitToString().split(separator: "\n") where line.hasPrefix(name + " ") || line.hasPrefix(name + "{") {
            total += line.split(separator: " ").last.flatMap { Double($0) } ?? 0
        }
        return total
    }

    /// Waits until `condition` holds, checking every 20 ms (benchmark harness only); throws after
    /// `timeout`, naming `what` it waited for.
    static func until(_ what: String, _ timeout: Duration = .seconds(300), _ condition: () -> Bool) async throws {
        let deadline = ContinuousClock.now + timeout
        while !condition() {
            if ContinuousClock.now > deadline { throw BenchError("timed out after \(timeout) waiting for \(what)") }
            try await Task.sleep(for: .milliseconds(20))
        }
    }

    /// Produces events (binary mode) as fast as the producer takes them.
    static func produce(_ events: [CloudEvent], bootstrap: String, topic: String, onSent: (@Sendable (CloudEvent) -> Void)? = nil) async throws {
        let p = try KafkaProducer(configuration: KafkaProducerConfiguration(client: KafkaClientSettings(bootstrapServers: bootstrap, clientId: "bench-terminal")), logger: quietLogger)
        for e in events {
            try await p.enqueue(CloudEventKafka.record(for: e, topic: topic))
            onSent?(e)
        }
        try await p.flush(timeout: .seconds(120))
        await p.close()
        try await checkNothingDropped(topic: topic, bootstrap: bootstrap, produced: events.count)
    }

    /// Fails at once, naming the cause, when the embedded broker has already dropped the oldest
    /// messages of a freshly filled topic (it keeps 5 MiB per partition): otherwise the service
    /// under test would wait forever for messages that no longer exist.
    static func checkNothingDropped(topic: String, bootstrap: String, produced: Int) async throws {
        let admin = try KafkaAdmin(client: KafkaClientSettings(bootstrapServers: bootstrap, clientId: "bench-check"), logger: quietLogger)
        var dropped: Int64 = 0
        do {
            for partition in 0..<(try await admin.partitionCount(topic) ?? 0) {
                dropped += try await admin.watermarks(KafkaTopicPartition(topic: topic, partition: partition)).low
            }
        } catch {
            await admin.close()
            throw error
        }
        await admin.close()
        guard dropped == 0 else {
            throw BenchError("the embedded broker dropped the oldest \(dropped) of the \(produced) messages produced to \(topic) (it keeps 5 MiB per partition); run with fewer --events")
        }
    }

    /// Runs the relay phase of `zhifa bench kafka` for the same-sitting comparison.
    public static func relayFigure(_ config: ZhifaConfiguration, log: @escaping @Sendable (String) -> Void) async throws -> Double {
        var o = KafkaBench.Options()
        o.latencyMessages = 200
        let r = try await KafkaBench.run(o, config: config, log: log)
        return r.relayMsgsPerS
    }
}

/// Latencies from a send time to an arrival, matched by a key.
final class LatencyBook: Sendable {
    private let sent = Mutex<[String: ContinuousClock.Instant]>([:])
    private let got = Mutex<[Double]>([])

    func sent(_ key: String) { sent.withLock { $0[key] = .now } }

    func arrived(_ key: String) {
        let now = ContinuousClock.now
        guard let s = sent.withLock({ $0.removeValue(forKey: key) }) else { return }
        got.withLock { $0.append(Double((now - s) / .microseconds(1)) / 1000) }
    }

    var count: Int { got.withLock { $0.count } }
    var sorted: [Double] { got.withLock { $0.sorted() } }
}
