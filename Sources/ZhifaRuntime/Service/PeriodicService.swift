import ServiceLifecycle

/// Runs `tick` at start and then every `interval` until graceful shutdown, then `finally` once.
/// A timer for upkeep (gauges, chain heads, retention, expiry); never a way to wait for Kafka,
/// which wakes its consumers itself.
public struct PeriodicService: Service {
    let interval: Duration
    let tick: @Sendable () async -> Void
    let finally: (@Sendable () async -> Void)?

    public init(every interval: Duration, tick: @escaping @Sendable () async -> Void, finally: (@Sendable () async -> Void)? = nil) {
        self.interval = interval
        self.tick = tick
        self.finally = finally
    }

    public func run() async throws {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                await tick()
                try? await Task.sleep(for: interval)
            }
        }
        await finally?()
    }
}
