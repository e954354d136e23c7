import Logging
import ServiceLifecycle
import ZhifaKafka

/// Sends the events a store queued in its outbox (same transaction as the change), then marks
/// them sent. At least once: an event sent but not yet marked is sent again after a crash, with
/// the same `ce_id`.
public struct OutboxPublisher: Service {
    let name: String
    /// Events sent per round.
    static let batchSize = 500
    let pending: @Sendable (_ limit: Int) async throws -> [(id: Int64, record: KafkaRecord)]
    let markSent: @Sendable ([Int64]) async throws -> Void
    let producer: KafkaProducer
    let signal: WakeSignal
    let onSent: (@Sendable () -> Void)?
    let logger: Logger

    /// `pending(limit)` returns up to `limit` queued events, oldest first; `markSent` marks them;
    /// `onSent` is called after each batch sent.
    public init(name: String, pending: @escaping @Sendable (_ limit: Int) async throws -> [(id: Int64, record: KafkaRecord)], markSent: @escaping @Sendable ([Int64]) async throws -> Void,
                producer: KafkaProducer, signal: WakeSignal, onSent: (@Sendable () -> Void)? = nil, logger: Logger) {
        self.onSent = onSent
        self.name = name
        self.pending = pending
        self.markSent = markSent
        self.producer = producer
        self.signal = signal
        self.logger = logger
    }

    /// Whether every queued event was sent.
    public func isEmpty() async throws -> Bool { try await pending(1).isEmpty }

    public func run() async throws {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                while await self.publish() == .more {}
                await self.signal.wait(timeout: .seconds(5))
            }
        }
        _ = await publish()
    }

    enum Outcome { case done, more }

    func publish() async -> Outcome {
        do {
            let batch = try await pending(Self.batchSize)
            guard !batch.isEmpty else { return .done }
            _ = try await producer.sendAll(batch.map(\.record))
            try await markSent(batch.map(\.id))
            onSent?()
            return batch.count == Self.batchSize ? .more : .done
        } catch {
            logger.warning("could not publish \(name) events yet; retrying", metadata: ["error": "\(error)"])
            return .done
        }
    }
}
