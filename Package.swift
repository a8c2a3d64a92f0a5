// swift-tools-version: 6.2
// EdgeCore builds two ways from the same sources:
//   EDGECORE_EMBEDDED=1 swift build -c release ...  the shipped Embedded-Swift static library (no Swift
//                                                   runtime); `make` links libEdgeCore.so/.a from it.
//   swift build / swift test                        normal Swift, for the unit tests and tools.
import PackageDescription
import Foundation

let embedded = ProcessInfo.processInfo.environment["EDGECORE_EMBEDDED"] == "1"

var coreSwiftSettings: [SwiftSetting] = [.unsafeFlags(["-Xcc", "-fPIC"])]
var products: [Product] = []
if embedded {
    coreSwiftSettings += [
        .enableExperimentalFeature("Embedded"),
        .unsafeFlags(["-wmo", "-Osize", "-Xfrontend", "-function-sections"]),
    ]
    products.append(.library(name: "EdgeCoreEmbedded", type: .static, targets: ["EdgeCore"]))
}

let package = Package(
    name: "EdgeCore",
    products: products,
    targets: [
        .target(name: "CShim", cSettings: [.unsafeFlags(["-fPIC"])],
                linkerSettings: [.linkedLibrary("modbus"), .linkedLibrary("yaml"), .linkedLibrary("m")]),
        .target(name: "EdgeCore", dependencies: ["CShim"], swiftSettings: coreSwiftSettings),
        .testTarget(name: "EdgeCoreTests", dependencies: ["EdgeCore"]),
    ]
)
