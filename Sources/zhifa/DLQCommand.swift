import ArgumentParser
import Foundation
import Logging
import ZhifaKafka
import ZhifaRuntime

/// `zhifa dlq …`: a consumer group's dead letters.
struct DLQCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dlq",
        abstract: "Show and replay a consumer group's dead letters.",
        subcommands: [DLQListCommand.self, DLQReplayCommand.self])
}

/// `zhifa dlq list GROUP`.
struct DLQListCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list", abstract: "Print the dead letters of GROUP as JSON lines (no payload).")

    @OptionGroup var common: CommonOptions
    @Argument(help: "Consumer group, e.g. zhifa-review.") var group: String

    func run() async throws {
        let (config, _, bootstrap) = try common.loadWithKafka()
        let letters = try await DeadLetterStore(config: config, bootstrap: bootstrap, group: group).load()
        for l in letters { emit(l.json) }
        if letters.isEmpty { warn("no dead letters for group \(group)") }
    }
}

/// `zhifa dlq replay GROUP [--id EVENT_ID]`.
struct DLQReplayCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "replay",
        abstract: "Re-inject dead letters through GROUP's retry topic (only GROUP reads it).",
        discussion: "Each dead letter is replayed at most once; a replay that fails again becomes a new dead letter.")

    @OptionGroup var common: CommonOptions
    @Argument(help: "Consumer group, e.g. zhifa-review.") var group: String
    @Option(help: "Only the dead letter(s) with this ce_id.") var id: String?

    func run() async throws {
        let (config, _, bootstrap) = try common.loadWithKafka()
        let store = DeadLetterStore(config: config, bootstrap: bootstrap, group: group)
        let letters = try await store.load()
        let chosen = letters.filter { !$0.replayed && (id == nil || $0.eventId == id) }
        if let id, !letters.contains(where: { $0.eventId == id }) {
            throw ValidationError("no dead letter with id \(id) in \(TopicNames.deadLetter(group))")
        }
        let n = try await store.replay(chosen)
        emit("replayed \(n) dead letter(s) of \(group) to \(TopicNames.retry(group))")
    }
}

