import GRDB

/// The lines of SQLite's plan for `sql` (`EXPLAIN QUERY PLAN`, each line's `detail`), for tests
/// that check a store's query walks the index meant for it instead of scanning or sorting.
public func queryPlan(_ sql: String, arguments: StatementArguments = StatementArguments(), in reader: any DatabaseReader) async throws -> [String] {
    try await reader.read { db in
        try Row.fetchAll(db, sql: "EXPLAIN QUERY PLAN \(sql)", arguments: arguments).map { $0["detail"] as String }
    }
}
