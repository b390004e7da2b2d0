// swift-tools-version:6.1
// Runs apple/swift-openapi-generator for scripts/generate-openapi.sh. A package of its own, so the
// generator and its dependencies are built only when a document changes, not by every build of
// Corral (docs/benchmarks.md "Generated API code": the build plugin measured against this).
import PackageDescription

let package = Package(
    name: "corral-openapi-generator",
    dependencies: [
        .package(url: "https://github.com/apple/swift-openapi-generator.git", exact: "1.14.3"),
    ],
    targets: []
)
