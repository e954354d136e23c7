// zhifa-test-sink: an idempotent sink for the at-least-once tests.
//
// Consumes a topic in a group through the worker runtime and records each message in SQLite,
// keyed on ce_id (INSERT OR IGNORE), counting every delivery. Stops on SIGTERM.
//
//   zhifa-test-sink BOOTSTRAP TOPIC GROUP DB_PATH
import Foundation
import GRDB
import Logging
import Metrics
import ServiceLifecycle
import ZhifaKafka
import ZhifaRuntime

let args = CommandLine.arguments
guard args.count == 5 else {
    FileHandle.standardError.write(Data("usage: zhifa-test-sink BOOTSTRAP TOPIC GROUP DB_PATH\n".utf8))
    exit(2)
}
let (bootstrap, topic, group, dbPath) = (args[1], args[2], args[3], args[4])
LoggingSystem.bootstrap { label in
    var h = StreamLogHandler.standardError(label: label)
    h.logLevel = .notice  // retries show in the log the test keeps
    return h
}
let logger = Logger(label: "zhifa-test-sink")

// Stored the way the services store: WAL, synchronous=FULL, writes committed in groups (one fsync
// per group, not per message — one per message made the test as slow as the disk's fsync).
let db = try SQLiteStore.open(dbPath)
try db.write { db in
    try db.execute(sql: """
        CREATE TABLE IF NOT EXISTS seen (id TEXT PRIMARY KEY, partition INTEGER, "offset" INTEGER);
        CREATE TABLE IF NOT EXISTS deliveries (n INTEGER);
        """)
}

let writer = GroupCommitWriter(pool: db)

let client = KafkaClientSettings(bootstrapServers: bootstrap, clientId: "test-sink")
var pc = KafkaProducerConfiguration(client: client)
pc.lingerMs = 5
let producer = try KafkaProducer(configuration: pc, logger: logger)
var cc = KafkaConsumerConfiguration(client: client, groupId: group)
cc.autoCommitIntervalMs = 100
let worker = KafkaWorker(
    group: group, topics: [topic], settings: WorkerSettings(concurrency: 16), consumer: cc, producer: producer,
    metricsFactory: NOOPMetricsHandler.instance, logger: logger
) { message in
    guard let id = message.headers.text("ce_id") else { throw PermanentFailure("no ce_id") }
    try await writer.write { db in
        try db.execute(sql: "INSERT OR IGNORE INTO seen (id, partition, \"offset\") VALUES (?, ?, ?)",
                       arguments: [id, Int(message.partition), message.offset])
        try db.execute(sql: "INSERT INTO deliveries (n) VALUES (1)")
    }
    return []
}
let services = ServiceGroup(configuration: .init(
    services: [.init(service: worker)], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
FileHandle.standardOutput.write(Data("sink ready\n".utf8))
try await services.run()
await writer.close()
await producer.close()
