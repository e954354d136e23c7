import Foundation
import Hummingbird
import Prometheus

/// `GET /healthz`, `GET /readyz` and `GET /metrics`, which every service answers.
public enum OpsRoutes {
    /// Adds the three routes. `beforeScrape` refreshes gauges that are read rather than counted.
    public static func add<Context: RequestContext>(
        to router: Router<Context>, health: HealthRegistry, metrics: PrometheusCollectorRegistry,
        beforeScrape: @escaping @Sendable () -> Void = {}
    ) {
        let rss = metrics.makeGauge(descriptor: MetricNameDescriptor(namespace: "zhifa", metricName: "process_resident_memory", unitName: "bytes", helpText: "Resident set size of the process"))
        router.get("/healthz") { _, _ in
            JSONResponse.make(["status": "up"])
        }
        router.get("/readyz") { _, _ in
            let report = await health.report()
            return JSONResponse.make(report.json(), status: report.isReady ? .ok : .serviceUnavailable)
        }
        router.get("/metrics") { _, _ in
            beforeScrape()
            if let bytes = ProcessMemory.residentBytes() { rss.set(Double(bytes)) }
            var h = HTTPFields()
            h[.contentType] = "text/plain; version=0.0.4; charset=utf-8"
            return Response(status: .ok, headers: h, body: .init(byteBuffer: ByteBuffer(bytes: metrics.emitToBuffer())))
        }
    }
}

/// Memory use of this process, from `/proc`.
public enum ProcessMemory {
    /// Current resident set size in bytes.
    public static func residentBytes() -> Int? { statusField("VmRSS:") }
    /// Peak resident set size in bytes.
    public static func peakResidentBytes() -> Int? { statusField("VmHWM:") }

    private static func statusField(_ name: String) -> Int? {
        guard let s = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return nil }
        for line in s.split(separator: "\n") where line.hasPrefix(name) {
            let kb = line.dropFirst(name.count).trimmingCharacters(in: .whitespaces).split(separator: " ").first.flatMap { Int($0) }
            return kb.map { $0 * 1024 }
        }
        return nil
    }
}
