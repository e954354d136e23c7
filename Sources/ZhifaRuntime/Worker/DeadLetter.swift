import Foundation
import ZhifaKafka

/// An error whose description is safe to log and to put in a dead-letter header: it carries no
/// personal data from the payload.
public protocol SafelyDescribedError: Error {
    /// A description without personal data.
    var safeDescription: String { get }
}

/// A failure that retrying cannot cure (undecodable or invalid input): the message goes to the
/// group's dead-letter topic at once.
public struct PermanentFailure: SafelyDescribedError, CustomStringConvertible {
    /// Why, without personal data (e.g. "schema: /data/party/idNumber: too long").
    public var reason: String
    /// Creates a permanent failure.
    public init(_ reason: String) { self.reason = reason }
    public var safeDescription: String { reason }
    public var description: String { reason }
}

extension KafkaError: SafelyDescribedError {
    public var safeDescription: String { description }
}

/// The dead-letter provenance headers of INTERFACES.md.
public enum DeadLetterHeader {
    public static let topic = "zhifa-dlq-topic"
    public static let partition = "zhifa-dlq-partition"
    public static let offset = "zhifa-dlq-offset"
    public static let group = "zhifa-dlq-group"
    public static let error = "zhifa-dlq-error"
    public static let attempts = "zhifa-dlq-attempts"
    public static let firstFailure = "zhifa-dlq-first-failure"
    /// Set by `zhifa dlq replay` on the retry record: `<dlq topic>/<partition>/<offset>` it came from.
    public static let replayOf = "zhifa-replay-of"

    /// Every provenance header name.
    public static let all: Set<String> = [topic, partition, offset, group, error, attempts, firstFailure, replayOf]
}

/// Where a message originally came from: its own coordinates, or those in its provenance headers
/// when it is a replayed dead letter.
public struct MessageOrigin: Sendable, Equatable {
    public var topic: String
    public var partition: Int32
    public var offset: Int64
    /// Attempts already made before this delivery (from an earlier dead-lettering).
    public var previousAttempts: Int
    /// When processing first failed, if it did before.
    public var firstFailure: String?

    /// The origin of a consumed message.
    public init(of message: KafkaConsumerMessage) {
        let h = message.headers
        if let t = h.text(DeadLetterHeader.topic), let p = h.text(DeadLetterHeader.partition).flatMap(Int32.init),
           let o = h.text(DeadLetterHeader.offset).flatMap(Int64.init) {
            topic = t
            partition = p
            offset = o
            previousAttempts = h.text(DeadLetterHeader.attempts).flatMap(Int.init) ?? 0
            firstFailure = h.text(DeadLetterHeader.firstFailure)
        } else {
            topic = message.topic
            partition = message.partition
            offset = message.offset
            previousAttempts = 0
            firstFailure = nil
        }
    }
}

/// Builds dead-letter records.
public enum DeadLetterRecord {
    /// The record for `message` in `group`'s dead-letter topic: original key, value and headers,
    /// plus provenance.
    public static func make(
        for message: KafkaConsumerMessage, group: String, error: String, attempts: Int, firstFailure: Date
    ) -> KafkaRecord {
        let origin = MessageOrigin(of: message)
        var headers = message.headers.filter { !DeadLetterHeader.all.contains($0.name) }
        headers.append(KafkaHeader(DeadLetterHeader.topic, origin.topic))
        headers.append(KafkaHeader(DeadLetterHeader.partition, String(origin.partition)))
        headers.append(KafkaHeader(DeadLetterHeader.offset, String(origin.offset)))
        headers.append(KafkaHeader(DeadLetterHeader.group, group))
        headers.append(KafkaHeader(DeadLetterHeader.error, String(error.prefix(1_000))))
        headers.append(KafkaHeader(DeadLetterHeader.attempts, String(origin.previousAttempts + attempts)))
        headers.append(KafkaHeader(DeadLetterHeader.firstFailure, origin.firstFailure ?? RFC3339.format(firstFailure)))
        return KafkaRecord(topic: TopicNames.deadLetter(group), key: message.key, value: message.value, headers: headers)
    }

    /// What a handler sees for a message from the retry topic: the original topic, partition and
    /// offset, and the original headers without provenance.
    public static func handlerView(of message: KafkaConsumerMessage) -> KafkaConsumerMessage {
        guard message.headers.contains(where: { $0.name == DeadLetterHeader.topic }) else { return message }
        let origin = MessageOrigin(of: message)
        var view = message
        view.topic = origin.topic
        view.partition = origin.partition
        view.offset = origin.offset
        view.headers = message.headers.filter { !DeadLetterHeader.all.contains($0.name) }
        return view
    }
}

/// RFC 3339 formatting and parsing in UTC.
public enum RFC3339 {
    /// `2024-05-06T01:00:00.123Z`.
    public static func format(_ date: Date) -> String {
        Date.ISO8601FormatStyle(includingFractionalSeconds: true, timeZone: .gmt).format(date)
    }
}
