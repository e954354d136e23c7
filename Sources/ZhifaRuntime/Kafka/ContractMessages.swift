import Metrics
import ZhifaDomain
import ZhifaKafka

/// Validates a consumed contract event with the one contract validator. An invalid message is a
/// `PermanentFailure` (dead-lettered with the validation message) and is counted.
public struct ContractMessages: Sendable {
    private let invalid: Counter

    /// Counts invalid events as `zhifa_invalid_events_total{group}`.
    public init(group: String, factory: any MetricsFactory) {
        invalid = Counter(label: "zhifa_invalid_events_total", dimensions: [("group", group)], factory: factory)
    }

    /// The typed event, or a `PermanentFailure` naming what is wrong.
    public func decode(_ message: KafkaConsumerMessage) throws -> (CloudEvent, EnforcementEvent) {
        let v = Self.validate(message)
        guard case .valid = v else {
            invalid.increment()
            throw PermanentFailure(v.reason ?? "invalid")
        }
        do {
            let ce = try CloudEventKafka.event(from: message)
            return (ce, try EnforcementEvent.decode(ce))
        } catch {
            invalid.increment()
            throw PermanentFailure("contract: could not decode the validated event (\(type(of: error)))")
        }
    }

    /// The validator's verdict on a binary-mode message.
    public static func validate(_ message: KafkaConsumerMessage) -> EventValidation {
        EventValidator.contract.validate(headers: message.headers.map { ($0.name, $0.text) }, value: message.value)
    }
}
