// swift-tools-version: 6.2
// EdgeCore builds two ways from the same sources:
//   EDGECORE_EMBEDDED=1 swift build -c release ...  the shipped Embedded-Swift static library (no Swift
//                                                   runtime); `make` links libEdgeCore.so/.a from it.
//   swift build / swift test                        normal Swift, for the unit tests and tools.
import PackageDescription
import Foundation

let embedded = ProcessInfo.processInfo.environment["EDGECORE_EMBEDDED"] == "1"
// The libgpiod generation to build against (1: libgpiod 1.6, the default; 2: libgpiod 2.x). The Makefile
// sets it from pkg-config's version of libgpiod.
let gpiodV2 = ProcessInfo.processInfo.environment["EDGECORE_GPIOD"] == "2"

var coreSwiftSettings: [SwiftSetting] = [.unsafeFlags(["-Xcc", "-fPIC"])]
if gpiodV2 { coreSwiftSettings.append(.define("EDGECORE_GPIOD_V2")) }
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
                linkerSettings: [.linkedLibrary("modbus"), .linkedLibrary("yaml"), .linkedLibrary("gpiod"),
                                 .linkedLibrary("m")]),
        .target(name: "EdgeCore", dependencies: ["CShim"], swiftSettings: coreSwiftSettings),
        .testTarget(name: "EdgeCoreTests", dependencies: ["EdgeCore"]),
    ]
)
