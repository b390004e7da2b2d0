// swift-tools-version:6.0
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
    ],
    targets: [
        // C shims: hardware CRC32C (SSE4.2, portable fallback) and fallocate hole punching.
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
        // Data-plane runtime: replica server, replica client, engine fan-out, NBD and control servers.
        .target(
            name: "CorralRuntime",
            dependencies: [
                "CorralCore", "CorralWire", "CorralStore",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict),
        .executableTarget(
            name: "corral",
            dependencies: [
                "CorralRuntime", "CorralCore",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict),
        .testTarget(name: "CorralCoreTests", dependencies: ["CorralCore"], swiftSettings: strict),
        .testTarget(
            name: "CorralWireTests",
            dependencies: [
                "CorralWire", .product(name: "NIOTestUtils", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
            ],
            swiftSettings: strict),
        .testTarget(name: "CorralStoreTests", dependencies: ["CorralStore"], swiftSettings: strict),
        .testTarget(
            name: "CorralRuntimeTests",
            dependencies: ["CorralRuntime", .product(name: "NIOPosix", package: "swift-nio")],
            swiftSettings: strict),
    ]
)
