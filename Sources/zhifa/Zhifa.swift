import ArgumentParser

/// `zhifa`: one binary for every part of the system.
@main
struct Zhifa: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "zhifa",
        abstract: "行政执法三项制度 on Kafka: ingest, legal review, publicity and archive of enforcement records.",
        subcommands: [
            UpCommand.self, BrokerCommand.self, IngestCommand.self, ReviewCommand.self, PublicityCommand.self, ArchiveCommand.self,
            TerminalCommand.self, TailCommand.self, DLQCommand.self, BenchCommand.self,
        ])
}

import CZhifaAllocator

/// Keeps the allocator configuration (jemalloc) linked in.
let allocatorLinked = zhifa_allocator_linked()
