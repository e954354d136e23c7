import Foundation
import ZhifaDomain
import ZhifaKafka
import ZhifaRuntime

/// `zhifa bench contract`: what validating one consumed event costs every service, on one core:
/// parsing its value, validating it with the contract's JSON Schema (binary mode, as consumers
/// see it), and decoding the typed event after.
public enum ContractBench {
    public struct Result: Sendable {
        public var events: Int
        public var averageBytes: Int
        public var parseMicros: Double
        public var validateMicros: Double
        public var decodeMicros: Double
    }

    public static func run(config: ZhifaConfiguration, events: Int, passes: Int, log: @escaping @Sendable (String) -> Void) throws -> Result {
        let simulated = try ServiceBench.traffic(config, events: events).flatMap { $0.events.map(\.event) }.prefix(events)
        let messages = simulated.map { e -> KafkaConsumerMessage in
            let r = CloudEventKafka.record(for: e, topic: config.topics.events)
            return KafkaConsumerMessage(topic: r.topic, partition: 0, offset: 0, timestamp: nil, key: r.key, value: r.value, headers: r.headers)
        }
        let bytes = messages.reduce(0) { $0 + ($1.value?.count ?? 0) } / max(messages.count, 1)
        log("[contract] \(messages.count) simulated events, \(bytes) B of data each on average, \(passes) passes")
        /// The best pass's time per event, in µs (the others only warm up or meet noise).
        func time(_ body: (KafkaConsumerMessage) -> Bool) -> Double {
            var best = Double.infinity
            for _ in 0..<passes {
                var ok = 0
                let t0 = BenchSupport.nowNs()
                for m in messages where body(m) { ok += 1 }
                let us = Double(BenchSupport.nowNs() - t0) / 1e3 / Double(messages.count)
                precondition(ok == messages.count, "a simulated event did not pass")
                best = min(best, us)
            }
            return best
        }
        let parse = time { (try? JSONParser.parse($0.value ?? [])) != nil }
        let validate = time { if case .valid = ContractMessages.validate($0) { true } else { false } }
        let decode = time { m in
            guard let ce = try? CloudEventKafka.event(from: m) else { return false }
            return (try? EnforcementEvent.decode(ce)) != nil
        }
        log(String(format: "[contract] per event: parse %.2f µs, parse + schema validation %.2f µs, typed decode %.2f µs", parse, validate, decode))
        return Result(events: messages.count, averageBytes: bytes, parseMicros: parse, validateMicros: validate, decodeMicros: decode)
    }
}
