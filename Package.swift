// swift-tools-version: 6.1
import PackageDescription

// Layers, bottom to top (DESIGN.md, "The pipeline"):
//   Addressing      IP addresses and prefixes, shared by every layer
//   Manifests       decode + validate Kubernetes manifests, with file:line:column diagnostics
//   ServiceGraph    the service/endpoint graph: label selection, address allocation, cross-object checks
//   Ruleset         the ruleset IR and its nft text renderer
//   Compiler        graph → IR, pure and deterministic
//   nfcompile       the thin command-line tool
let package = Package(
    name: "nfcompile",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "nfcompile", targets: ["nfcompile"])
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.0.0"),
    ],
    targets: [
        .target(name: "Addressing"),
        .target(name: "Manifests", dependencies: ["Addressing", "Yams"]),
        .target(name: "ServiceGraph", dependencies: ["Addressing", "Manifests"]),
        .target(name: "Ruleset", dependencies: ["Addressing"]),
        .target(name: "Compiler", dependencies: ["Addressing", "ServiceGraph", "Ruleset"]),
        .executableTarget(
            name: "nfcompile",
            dependencies: [
                "Manifests", "ServiceGraph", "Ruleset", "Compiler",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .testTarget(name: "AddressingTests", dependencies: ["Addressing"]),
        .testTarget(name: "ManifestsTests", dependencies: ["Manifests"]),
        .testTarget(name: "ServiceGraphTests", dependencies: ["ServiceGraph", "Manifests"]),
        .testTarget(name: "RulesetTests", dependencies: ["Ruleset"]),
        .testTarget(name: "CompilerTests", dependencies: ["Compiler", "ServiceGraph", "Manifests", "Ruleset", "Lab"]),
        .testTarget(name: "EndToEndTests", dependencies: ["nfcompile"]),
        // Kernel tier: real rules and traffic in throwaway network namespaces (needs root).
        .target(name: "Lab", path: "Tests/Lab"),
        .testTarget(name: "LabTests", dependencies: ["Lab", "Compiler", "Ruleset", "ServiceGraph", "Manifests"]),
    ],
    swiftLanguageModes: [.v6]
)
