import Foundation
import Logging
import Synchronization
import ZhifaKafka

/// Answers "is the broker reachable?" for `/readyz`, with a short cache so probes stay cheap.
public final class BrokerProbe: Sendable {
    private let admin: KafkaAdmin
    private let topic: String
    private let cache = Mutex<(at: ContinuousClock.Instant, state: HealthState)?>(nil)

    /// Creates a probe that asks for `topic`'s metadata.
    public init(context: ServiceContext, topic: String) throws {
        admin = try KafkaAdmin(client: context.config.clientSettings(bootstrap: context.bootstrap, role: "\(context.name)-probe"), logger: context.logger)
        self.topic = topic
    }

    /// `.ok` when metadata came back within 2 s (cached 3 s).
    public func check() async -> HealthState {
        if let c = cache.withLock({ $0 }), ContinuousClock.now - c.at < .seconds(3) { return c.state }
        let state: HealthState
        do {
            state = try await admin.partitionCount(topic, timeout: .seconds(2)) != nil ? .ok : .failed("topic \(topic) does not exist")
        } catch {
            state = .failed("broker unreachable: \(error)")
        }
        cache.withLock { $0 = (.now, state) }
        return state
    }

    /// Closes the admin client.
    public func close() async { await admin.close() }
}
