import Foundation
import ZhifaRuntime

/// Shared pieces of the benchmarks.
public enum BenchSupport {
    /// A deadline for `task`: cancels it after `limit` unless the returned timer is cancelled first.
    /// (A time limit on a wait, not a poll: nothing is re-checked.)
    static func deadline<T: Sendable>(_ limit: Duration, cancelling task: Task<T, Never>) -> Task<Void, Never> {
        Task {
            guard (try? await Task.sleep(for: limit)) != nil else { return }  // the timer was cancelled
            task.cancel()
        }
    }

    /// Monotonic nanoseconds (CLOCK_MONOTONIC), comparable within one process.
    public static func nowNs() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec)
    }

    /// Sleeps this thread until a monotonic instant (for paced load on a dedicated thread).
    public static func sleepUntil(ns: Int64) {
        var ts = timespec(tv_sec: Int(ns / 1_000_000_000), tv_nsec: Int(ns % 1_000_000_000))
        while clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nil) == EINTR {}
    }

    /// The p-th percentile (0...1) of sorted values.
    public static func percentile(_ sorted: [Double], _ p: Double) -> Double {
        guard !sorted.isEmpty else { return .nan }
        return sorted[Int(p * Double(sorted.count - 1))]
    }

    /// CPU seconds (user + system) used by this process so far.
    public static func cpuSeconds() -> Double {
        var ru = rusage()
        getrusage(RUSAGE_SELF.rawValue, &ru)
        return Double(ru.ru_utime.tv_sec) + Double(ru.ru_utime.tv_usec) / 1e6 + Double(ru.ru_stime.tv_sec) + Double(ru.ru_stime.tv_usec) / 1e6
    }

    /// Peak resident set size of this process in MB.
    public static func peakRSSMB() -> Double { Double(ProcessMemory.peakResidentBytes() ?? 0) / 1_048_576 }

    /// A ~`size`-byte JSON enforcement record like the C baseline's, with a fixed-width timestamp.
    public struct Payload: Sendable {
        public let template: [UInt8]
        let stampOffset: Int

        public init(size: Int) {
            let head = #"{"sent_ns":"00000000000000000000","case_id":"case-00000000","agency":"Municipal Bureau of Ecology and Environment","jurisdiction":"CN-31-115","respondent":{"name":"Example Fine Chemical Co., Ltd.","uscc":"91310115MA1K4XXXX7","address":"No. 1288 Example Road, Pudong New Area"},"violation":{"code":"APPCL-2018-Art108","category":"air_emissions","description":"VOC discharge exceeded permitted limits","detected_at":"2024-03-18T09:42:00+08:00"},"penalty":{"type":"fine","amount":250000,"currency":"CNY"},"status":"decided","decision_no":"HUJING-2024-00123","decided_at":"2024-04-02","officer_ids":["E1024","E2048"],"tags":["voc","repeat_offender"],"notes":""#
            let tail = #""}"#
            let filler = Array("Inspection follow-up scheduled. ".utf8)
            var bytes = Array(head.utf8)
            let fill = max(0, size - bytes.count - tail.utf8.count)
            for i in 0..<fill { bytes.append(filler[i % filler.count]) }
            bytes += Array(tail.utf8)
            template = bytes
            stampOffset = Array(head.utf8).firstRange(of: Array(#""sent_ns":""#.utf8))!.upperBound
        }

        /// The payload stamped with `ns`.
        public func stamped(_ ns: Int64) -> [UInt8] {
            var b = template
            stamp(&b, ns)
            return b
        }

        /// Stamps a copy of the template in place (as the C baseline does with its one buffer).
        public func stamp(_ bytes: inout [UInt8], _ ns: Int64) {
            var v = ns
            bytes.withUnsafeMutableBufferPointer { p in
                for i in stride(from: stampOffset + 19, through: stampOffset, by: -1) {
                    p[i] = UInt8(ascii: "0") + UInt8(v % 10)
                    v /= 10
                }
            }
        }

        /// The stamp in a payload.
        public func stamp(of bytes: [UInt8]) -> Int64? {
            guard bytes.count >= stampOffset + 20 else { return nil }
            var v: Int64 = 0
            for i in stampOffset..<stampOffset + 20 {
                let d = bytes[i] &- UInt8(ascii: "0")
                guard d < 10 else { return nil }
                v = v * 10 + Int64(d)
            }
            return v
        }
    }
}

/// Runs the C baseline (`shared/bench/baseline`) with the same settings and parses its summary.
public struct CBaseline {
    /// The numbers of one baseline run.
    public var produceMsgsPerS: Double
    public var relayMsgsPerS: Double
    public var p50Ms: Double
    public var p99Ms: Double
    public var raw: String

    /// Builds and runs the baseline in `directory` with the given relay flags.
    public static func run(directory: String, arguments: [String]) throws -> CBaseline {
        let build = Process()
        build.executableURL = URL(fileURLWithPath: "/bin/bash")
        build.arguments = [directory + "/build.sh"]
        let out = Pipe()
        build.standardOutput = out
        try build.run()
        build.waitUntilExit()
        let binary = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        guard build.terminationStatus == 0, !binary.isEmpty else { throw BenchError("could not build the C baseline in \(directory)") }
        let run = Process()
        run.executableURL = URL(fileURLWithPath: binary)
        run.arguments = arguments
        let pipe = Pipe()
        run.standardOutput = pipe
        run.standardError = FileHandle.nullDevice
        try run.run()
        let text = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        run.waitUntilExit()
        guard let line = text.split(separator: "\n").first(where: { $0.hasPrefix("baseline ") }) else {
            throw BenchError("the C baseline printed no summary line")
        }
        let kv = keyValues(line)
        return CBaseline(
            produceMsgsPerS: kv["produce_msgs_per_s"] ?? 0, relayMsgsPerS: kv["relay_msgs_per_s"] ?? 0,
            p50Ms: kv["e2e_p50_ms"] ?? 0, p99Ms: kv["e2e_p99_ms"] ?? 0, raw: String(line))
    }
}

/// The numeric `key=value` fields of a summary line (`zhifa relay_msgs_per_s=… e2e_p99_ms=…`).
public func keyValues(_ line: Substring) -> [String: Double] {
    var kv: [String: Double] = [:]
    for f in line.split(separator: " ") {
        let p = f.split(separator: "=", maxSplits: 1)
        if p.count == 2, let v = Double(p[1]) { kv[String(p[0])] = v }
    }
    return kv
}

/// The median of `values` (0 when empty).
public func median(_ values: [Double]) -> Double {
    let s = values.sorted()
    guard !s.isEmpty else { return 0 }
    return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
}

/// A benchmark that could not run.
public struct BenchError: Error, CustomStringConvertible {
    public var description: String
    public init(_ d: String) { description = d }
}

/// CPU time per thread of this process, from `/proc/self/task/*/schedstat` (nanoseconds), so a
/// bench can say where a phase's CPU went: the Swift pool, our poll threads (`zk:*`), librdkafka's
/// broker threads (`rdk:broker*`) or the embedded broker (`rdk:mock`).
public enum ThreadCPU {
    /// Thread id → (name, CPU nanoseconds, nanoseconds waiting for a CPU while runnable, times
    /// scheduled onto a CPU) so far, from `/proc/self/task/*/schedstat`.
    public typealias Snapshot = [Int: (name: String, ns: UInt64, waitNs: UInt64, slices: UInt64)]

    /// Reads every thread's name and scheduler statistics.
    public static func snapshot() -> Snapshot {
        var out: Snapshot = [:]
        let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/task")) ?? []
        for t in tasks {
            guard let tid = Int(t),
                  let comm = try? String(contentsOfFile: "/proc/self/task/\(t)/comm", encoding: .utf8),
                  let stat = try? String(contentsOfFile: "/proc/self/task/\(t)/schedstat", encoding: .utf8) else { continue }
            let f = stat.split(whereSeparator: \.isWhitespace).compactMap { UInt64($0) }
            guard f.count >= 3 else { continue }
            out[tid] = (comm.trimmingCharacters(in: .whitespacesAndNewlines), f[0], f[1], f[2])
        }
        return out
    }

    /// CPU microseconds per message between two snapshots, by thread name (numbered librdkafka
    /// threads summed), largest first; threads under 1 ms in all are left out.
    public static func perMessage(from before: Snapshot, to after: Snapshot, messages: Int) -> String {
        table(from: before, to: after) { Double($0.ns) / Double(max(1, messages)) / 1000 }
    }

    /// Per thread name: µs per message spent runnable but waiting for a CPU, and times scheduled
    /// per 1,000 messages (a measure of hand-offs and wake-ups).
    public static func scheduling(from before: Snapshot, to after: Snapshot, messages: Int) -> String {
        table(from: before, to: after) { Double($0.waitNs) / Double(max(1, messages)) / 1000 }
            + " | scheduled per 1,000 msgs: "
            + table(from: before, to: after) { Double($0.slices) * 1000 / Double(max(1, messages)) }
    }

    private struct Delta { var ns: UInt64 = 0; var waitNs: UInt64 = 0; var slices: UInt64 = 0 }

    private static func table(from before: Snapshot, to after: Snapshot, _ value: (Delta) -> Double) -> String {
        var byName: [String: Delta] = [:]
        for (tid, now) in after {
            var name = now.name
            if let digit = name.firstIndex(where: \.isNumber), name.hasPrefix("rdk:") { name = String(name[..<digit]) + "*" }
            if name.hasSuffix("default-qos") { name = "swift-pool" }
            let was = before[tid]
            var d = byName[name, default: Delta()]
            d.ns += now.ns &- (was?.ns ?? 0)
            d.waitNs += now.waitNs &- (was?.waitNs ?? 0)
            d.slices += now.slices &- (was?.slices ?? 0)
            byName[name] = d
        }
        return byName.filter { $0.value.ns > 1_000_000 }.sorted { value($0.value) > value($1.value) }
            .map { String(format: "%@ %.2f", $0.key, value($0.value)) }
            .joined(separator: ", ")
    }
}
