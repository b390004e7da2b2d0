// swift-tools-version:6.1
import PackageDescription

let strict: [SwiftSetting] = [.swiftLanguageMode(.v6)]

let package = Package(
    name: "Corral",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "corral", targets: ["corral"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "3.12.3"),
        .package(url: "https://github.com/groue/GRDB.swift.git", from: "7.10.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.7.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/jpsim/Yams.git", from: "5.0.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/adam-fowler/compress-nio.git", from: "1.5.0"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-openapi-runtime.git", from: "1.13.4"),
        .package(url: "https://github.com/hummingbird-project/swift-openapi-hummingbird.git", from: "2.1.0"),
        .package(url: "https://github.com/swift-server/swift-openapi-async-http-client.git", from: "1.5.0"),
        .package(url: "https://github.com/weichsel/ZIPFoundation.git", from: "0.9.20"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.0"),
        .package(url: "https://github.com/hummingbird-project/swift-mustache.git", from: "2.1.1"),
    ],
    targets: [
        // C shims: hardware CRC32C (SSE4.2, portable fallback), fallocate hole punching, FIEMAP, statfs, and
        // LZ4 frames and SHA-512 through the system's liblz4 and libcrypto (dlopen'd, optional).
        .target(name: "CCorralShims"),
        // Pure core: values, limits, extent maps, chain model, engine state machine. No I/O, no clock.
        .target(name: "CorralCore", dependencies: ["CCorralShims"], swiftSettings: strict),
        // Wire protocols: NBD and the replica protocol, framing only.
        .target(
            name: "CorralWire",
            dependencies: ["CorralCore", .product(name: "NIOCore", package: "swift-nio")],
            swiftSettings: strict),
        // The replica store: layer files and manifest behind a small file-system protocol.
        .target(
            name: "CorralStore",
            dependencies: ["CorralCore", "CCorralShims", .product(name: "Crypto", package: "swift-crypto")],
            swiftSettings: strict),
        // The engine control API, generated from its OpenAPI document (scripts/generate-openapi.sh):
        // types, server stubs and client. Its answers are CorralCore's values.
        .target(
            name: "CorralEngineAPI",
            dependencies: [
                "CorralCore", "CorralHTTPAPI",
                .product(name: "OpenAPIRuntime", package: "swift-openapi-runtime"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
            ],
            exclude: ["openapi.yaml", "openapi-generator-config.yaml"],
            swiftSettings: strict),
        // The manager's API: its OpenAPI document, embedded (scripts/generate-openapi.sh).
        .target(
            name: "CorralManagerAPI",
            dependencies: [
                "CorralControl", "CorralCore", "CorralHTTPAPI",
                .product(name: "OpenAPIRuntime", package: "swift-openapi-runtime"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
            ],
            exclude: ["openapi.yaml", "openapi-generator-config.yaml"],
            swiftSettings: strict),
        // The HTTP edge every Corral API shares: its served document, 405s from it, body rules,
        // the body limit and one error shape.
        .target(
            name: "CorralHTTPAPI",
            dependencies: [
                "CorralCore",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "OpenAPIRuntime", package: "swift-openapi-runtime"),
                .product(name: "OpenAPIAsyncHTTPClient", package: "swift-openapi-async-http-client"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Yams", package: "Yams"),
            ],
            swiftSettings: strict),
        // Data-plane runtime: replica server, replica client, engine fan-out, NBD and control servers.
        .target(
            name: "CorralRuntime",
            dependencies: [
                "CorralCore", "CorralWire", "CorralStore", "CCorralShims", "CorralEngineAPI", "CorralHTTPAPI",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "OpenAPIRuntime", package: "swift-openapi-runtime"),
                .product(name: "OpenAPIHummingbird", package: "swift-openapi-hummingbird"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict),
        // Backups: Longhorn's backup-store format, block codecs, store drivers, backup and restore.
        .target(
            name: "CorralBackup",
            dependencies: [
                "CorralCore", "CorralStore", "CCorralShims",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "CompressNIO", package: "compress-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
            ],
            swiftSettings: strict),
        // Control-plane core: resources, settings, the scheduler and the controllers' decisions. Pure.
        .target(name: "CorralControl", dependencies: ["CorralCore"], swiftSettings: strict),
        // The manager: resource store (SQLite), controller runtime, REST API, metrics.
        // The web UI: pages rendered from Mustache templates, one plain script module, served by the
        // manager at / (docs/web-ui.md). Reads through UISource; actions go through the REST API.
        .target(
            name: "CorralWebUI",
            dependencies: [
                "CorralControl", "CorralCore",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Mustache", package: "swift-mustache"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: strict),
        .target(
            name: "CorralManager",
            dependencies: [
                "CorralControl", "CorralCore", "CorralBackup", "CorralHTTPAPI", "CorralEngineAPI", "CorralManagerAPI", "CorralWebUI",
                .product(name: "OpenAPIRuntime", package: "swift-openapi-runtime"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "OpenAPIHummingbird", package: "swift-openapi-hummingbird"),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Yams", package: "Yams"),
                .product(name: "ZIPFoundation", package: "ZIPFoundation"),
            ],
            swiftSettings: strict),
        // The node agent: runs the replicas and engines the manager assigns to its node.
        .target(
            name: "CorralNode",
            dependencies: [
                "CorralControl", "CorralRuntime", "CorralCore", "CorralWire", "CorralBackup", "CorralManagerAPI", "CorralHTTPAPI", "CorralStore",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict),
        .executableTarget(
            name: "corral",
            dependencies: [
                "CorralRuntime", "CorralCore", "CorralControl", "CorralManager", "CorralNode", "CorralBackup", "CorralStore",
                "CorralEngineAPI", "CorralManagerAPI", "CorralHTTPAPI",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "OpenAPIRuntime", package: "swift-openapi-runtime"),
                .product(name: "Yams", package: "Yams"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict),
        .testTarget(name: "CorralCoreTests", dependencies: ["CorralCore", "CorralTestSupport"], swiftSettings: strict),
        .testTarget(
            name: "CorralWireTests",
            dependencies: [
                "CorralWire", "CorralCore", "CorralTestSupport", .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOTestUtils", package: "swift-nio"),
            ],
            swiftSettings: strict),
        .testTarget(
            name: "CorralWebUITests",
            dependencies: ["CorralWebUI", "CorralControl", "CorralCore", .product(name: "Hummingbird", package: "hummingbird"),
                           .product(name: "HTTPTypes", package: "swift-http-types"),
                           .product(name: "HummingbirdTesting", package: "hummingbird")],
            swiftSettings: strict),
        .testTarget(name: "CorralControlTests", dependencies: ["CorralControl", "CorralCore", "CorralTestSupport"], swiftSettings: strict),
        .testTarget(name: "CorralBackupTests", dependencies: ["CorralBackup", "CorralStore", "CorralTestSupport", .product(name: "Crypto", package: "swift-crypto")], swiftSettings: strict),
        .testTarget(
            name: "CorralManagerTests",
            dependencies: [
                "CorralTestSupport",
                "CorralManager", "CorralControl", "CorralCore", "CorralBackup", "CorralManagerAPI", "CorralHTTPAPI",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Yams", package: "Yams"),
                .product(name: "ZIPFoundation", package: "ZIPFoundation"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
            ],
            swiftSettings: strict),
        .testTarget(
            name: "CorralNodeTests",
            dependencies: [
                "CorralTestSupport",
                "CorralNode", "CorralManager", "CorralControl", "CorralCore", "CorralBackup",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strict),
        // Helpers shared by test targets (a seeded generator for the random tests).
        .target(
            name: "CorralTestSupport", dependencies: [.product(name: "Hummingbird", package: "hummingbird")],
            path: "Tests/CorralTestSupport", swiftSettings: strict),
        .testTarget(name: "CorralStoreTests", dependencies: ["CorralStore", "CorralCore", "CorralTestSupport"], swiftSettings: strict),
        .testTarget(
            name: "CorralRuntimeTests",
            dependencies: [
                "CorralRuntime", "CorralCore", "CorralWire", "CorralStore", "CorralTestSupport", "CorralEngineAPI", "CorralHTTPAPI",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Yams", package: "Yams"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict),
    ]
)
