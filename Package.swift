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

// Test build only (make abi-growth-test): every growing struct of edgecore.h gains a trailing field, as in
// a later version, to prove that programs built against this version's header keep working.
let grownStructs = ProcessInfo.processInfo.environment["EDGECORE_TEST_GROWN"] == "1"

var coreSwiftSettings: [SwiftSetting] = [.unsafeFlags(["-Xcc", "-fPIC"])]
var shimCSettings: [CSetting] = [.unsafeFlags(["-fPIC"])]
if gpiodV2 { coreSwiftSettings.append(.define("EDGECORE_GPIOD_V2")) }
if grownStructs {
    coreSwiftSettings.append(.unsafeFlags(["-Xcc", "-DEDGECORE_TEST_GROWN_STRUCTS"]))
    shimCSettings.append(.define("EDGECORE_TEST_GROWN_STRUCTS"))
}
var products: [Product] = []
if embedded {
    coreSwiftSettings += [
        .enableExperimentalFeature("Embedded"),
        .unsafeFlags(["-wmo", "-Osize", "-Xfrontend", "-function-sections"]),
    ]
    products.append(.library(name: "EdgeCoreEmbedded", type: .static, targets: ["EdgeCore"]))
} else {
    // A normal-Swift shared library with the header's functions, for running the C tests under a sanitizer
    // (make tsan-test: swift build --sanitize=thread --product SanitizedEdgeCore). Not shipped: it needs the Swift runtime.
    products.append(.library(name: "SanitizedEdgeCore", type: .dynamic, targets: ["EdgeCore"]))
}

let package = Package(
    name: "EdgeCore",
    products: products,
    targets: [
        .target(name: "CShim", cSettings: shimCSettings,
                linkerSettings: [.linkedLibrary("modbus"), .linkedLibrary("yaml"), .linkedLibrary("gpiod"),
                                 .linkedLibrary("m")]),
        .target(name: "EdgeCore", dependencies: ["CShim"], swiftSettings: coreSwiftSettings),
        .testTarget(name: "EdgeCoreTests", dependencies: ["EdgeCore"]),
    ]
)
