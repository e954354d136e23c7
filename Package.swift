// swift-tools-version:6.2
import PackageDescription

/// Every Swift target builds in Swift 6 language mode with complete strict concurrency;
/// no warning is silenced.
let strict: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
]

let package = Package(
    name: "zhifa",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "zhifa", targets: ["zhifa"]),
        .library(name: "ZhifaKafka", targets: ["ZhifaKafka"]),
        .library(name: "ZhifaDomain", targets: ["ZhifaDomain"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "4.5.2"),
        .package(url: "https://github.com/apple/swift-collections.git", from: "1.6.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.2.2"),
        .package(url: "https://github.com/groue/GRDB.swift.git", from: "7.10.0"),
        .package(url: "https://github.com/vapor/jwt-kit.git", from: "5.8.0"),
        .package(url: "https://github.com/weichsel/ZIPFoundation.git", from: "0.9.20"),
    ],
    targets: [
        // librdkafka from Debian (librdkafka-dev 2.0.2). Only ZhifaKafka imports it.
        .systemLibrary(
            name: "CRdKafka",
            pkgConfig: "rdkafka",
            providers: [.apt(["librdkafka-dev"])]
        ),
        .target(
            name: "ZhifaKafka",
            dependencies: [
                "CRdKafka",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "DequeModule", package: "swift-collections"),
            ],
            swiftSettings: strict
        ),
        .target(
            name: "ZhifaDomain",
            dependencies: [.product(name: "Crypto", package: "swift-crypto")],
            resources: [],
            swiftSettings: strict
        ),
        .target(
            name: "ZhifaRuntime",
            dependencies: [
                "ZhifaKafka",
                "ZhifaDomain",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Yams", package: "Yams"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "JWTKit", package: "jwt-kit"),
                .product(name: "GRDB", package: "GRDB.swift"),
            ],
            swiftSettings: strict
        ),
        .target(
            name: "TestSupport",
            dependencies: [
                "ZhifaKafka", "ZhifaRuntime", "ZhifaTerminal", "ZhifaDomain",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "GRDB", package: "GRDB.swift"),
            ],
            path: "Tests/TestSupport",
            swiftSettings: strict
        ),
        .testTarget(
            name: "ZhifaDomainTests",
            dependencies: ["ZhifaDomain", "ZhifaRuntime", "TestSupport", .product(name: "Yams", package: "Yams")],
            exclude: ["review-checks.yaml"],
            swiftSettings: strict
        ),
        .testTarget(
            name: "ZhifaRuntimeTests",
            dependencies: [
                "ZhifaRuntime", "ZhifaKafka", "TestSupport",
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "GRDB", package: "GRDB.swift"),
            ],
            swiftSettings: strict
        ),
        .executableTarget(
            name: "zhifa-test-sink",
            dependencies: [
                "ZhifaRuntime", "ZhifaKafka",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Metrics", package: "swift-metrics"),
            ],
            path: "Tests/ZhifaTestSink",
            swiftSettings: strict
        ),
        .testTarget(
            name: "ZhifaReviewTests",
            dependencies: ["ZhifaReview", "ZhifaDomain", "ZhifaRuntime", "ZhifaKafka", "TestSupport",
                           .product(name: "Metrics", package: "swift-metrics"), .product(name: "Prometheus", package: "swift-prometheus"),
                           .product(name: "GRDB", package: "GRDB.swift")],
            swiftSettings: strict
        ),
        .testTarget(
            name: "ZhifaEndToEndTests",
            dependencies: [
                "ZhifaKafka", "ZhifaDomain", "ZhifaRuntime", "ZhifaTerminal", "TestSupport",
                .product(name: "Yams", package: "Yams"),
                .product(name: "GRDB", package: "GRDB.swift"),
            ],
            swiftSettings: strict
        ),
        .testTarget(
            name: "ZhifaPublicityTests",
            dependencies: ["ZhifaPublicity", "ZhifaDomain", "ZhifaRuntime", "TestSupport", .product(name: "GRDB", package: "GRDB.swift")],
            swiftSettings: strict
        ),
        .testTarget(
            name: "ZhifaArchiveTests",
            dependencies: ["ZhifaArchive", "ZhifaDomain", "ZhifaRuntime", "ZhifaKafka", "TestSupport", .product(name: "GRDB", package: "GRDB.swift")],
            swiftSettings: strict
        ),
        .testTarget(
            name: "ZhifaBenchTests",
            dependencies: ["ZhifaArchive", "ZhifaIngest", "ZhifaReview", "TestSupport", .product(name: "GRDB", package: "GRDB.swift")],
            swiftSettings: strict
        ),
        .testTarget(
            name: "ZhifaTerminalTests",
            dependencies: ["ZhifaTerminal", "ZhifaDomain", "ZhifaRuntime", "TestSupport"],
            swiftSettings: strict
        ),
        .testTarget(
            name: "ZhifaKafkaTests",
            dependencies: ["ZhifaKafka", "TestSupport"],
            swiftSettings: strict
        ),
        .target(
            name: "ZhifaIngest",
            dependencies: [
                "ZhifaKafka", "ZhifaDomain", "ZhifaRuntime",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strict
        ),
        .target(
            name: "ZhifaReview",
            dependencies: [
                "ZhifaKafka", "ZhifaDomain", "ZhifaRuntime",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strict
        ),
        .target(
            name: "ZhifaPublicity",
            dependencies: [
                "ZhifaKafka", "ZhifaDomain", "ZhifaRuntime",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strict
        ),
        .target(
            name: "ZhifaArchive",
            dependencies: [
                "ZhifaKafka", "ZhifaDomain", "ZhifaRuntime",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "GRDBSQLite", package: "GRDB.swift"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "ZIPFoundation", package: "ZIPFoundation"),
            ],
            swiftSettings: strict
        ),
        .target(
            name: "ZhifaTerminal",
            dependencies: [
                "ZhifaKafka", "ZhifaDomain", "ZhifaRuntime",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        .target(
            name: "ZhifaBench",
            dependencies: [
                "ZhifaKafka", "ZhifaRuntime", "ZhifaDomain", "ZhifaIngest", "ZhifaTerminal", "ZhifaReview", "ZhifaPublicity", "ZhifaArchive",
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strict
        ),
        // jemalloc as the process allocator of the zhifa binary (see allocator.c).
        .target(
            name: "CZhifaAllocator",
            linkerSettings: [.linkedLibrary("jemalloc")]
        ),
        .executableTarget(
            name: "zhifa",
            dependencies: [
                "CZhifaAllocator",
                "ZhifaKafka",
                "ZhifaDomain",
                "ZhifaRuntime",
                "ZhifaIngest",
                "ZhifaReview",
                "ZhifaPublicity",
                "ZhifaArchive",
                "ZhifaTerminal",
                "ZhifaBench",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "ZIPFoundation", package: "ZIPFoundation"),
            ],
            swiftSettings: strict
        ),
    ]
)
