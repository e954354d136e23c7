import ArgumentParser

/// `zhifa bench …`: benchmarks.
struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench", abstract: "Benchmarks on the embedded broker.", subcommands: [])
}
