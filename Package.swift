// swift-tools-version: 6.1
import PackageDescription

// Layers, bottom to top (DESIGN.md, "The pipeline"):
//   Addressing      IP addresses and prefixes, shared by every layer
//   Parallel        pure work spread over the cores (graph assembly, compilation)
//   Manifests       decode + validate Kubernetes manifests, with file:line:column diagnostics
//   ServiceGraph    the service/endpoint graph: label selection, address allocation, cross-object checks
//   Ruleset         the ruleset IR and its nft text renderer
//   Compiler        graph → IR, pure and deterministic
//   Netlink         IR ⇄ kernel over netlink (libnftnl + libmnl): the only module that touches C
//   Pipeline        input → graph → ruleset, and the reconciler: kernel ⇄ desired, for apply, diff and the agent
//   KubernetesAPI   the Kubernetes API as input: kubeconfig/in-cluster credentials, informers, events
//   Agent           the node agent: watch manifests and the kernel, sync by diff, health and metrics
//   nfcompile       the thin command-line tool
let package = Package(
    name: "nfcompile",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "nfcompile", targets: ["nfcompile"]),
        .executable(name: "nfcompile-bench", targets: ["nfcompile-bench"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.0.0"),
        .package(url: "https://github.com/apple/swift-system", from: "1.4.0"),
        .package(url: "https://github.com/x-sheep/swift-property-based", from: "2.0.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.6.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.0.0"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
    ],
    targets: [
        .target(name: "Addressing"),
        .target(name: "Parallel"),
        .target(name: "Manifests", dependencies: ["Addressing", "Parallel", "Yams"]),
        .target(name: "ServiceGraph", dependencies: ["Addressing", "Manifests", "Parallel"]),
        .target(name: "Ruleset", dependencies: ["Addressing"]),
        .target(name: "Compiler", dependencies: ["Addressing", "ServiceGraph", "Ruleset", "Parallel"]),
        // C libraries from Debian (libmnl-dev, libnftnl-dev); only the Netlink module touches them.
        .systemLibrary(name: "CMnl", pkgConfig: "libmnl", providers: [.apt(["libmnl-dev"])]),
        .systemLibrary(name: "CNftnl", pkgConfig: "libnftnl", providers: [.apt(["libnftnl-dev"])]),
        .target(
            name: "Netlink",
            dependencies: [
                "Addressing", "Ruleset", "CMnl", "CNftnl",
                .product(name: "SystemPackage", package: "swift-system"),
            ]),
        .target(name: "Pipeline", dependencies: ["Compiler", "Netlink", "Ruleset", "ServiceGraph", "Manifests"]),
        // HTTP and TLS come from async-http-client on swift-nio-ssl; nothing here speaks HTTP by hand.
        .target(
            name: "KubernetesAPI",
            dependencies: [
                "Manifests", "Yams",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ]),
        .target(
            name: "Agent",
            dependencies: [
                "Pipeline", "Compiler", "Netlink", "Ruleset", "ServiceGraph", "Manifests", "KubernetesAPI", "Parallel",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ]),
        .executableTarget(
            name: "nfcompile",
            dependencies: [
                "Manifests", "ServiceGraph", "Ruleset", "Compiler", "Netlink", "Pipeline", "Agent", "KubernetesAPI",
                "Parallel", .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        // The benchmark (scripts/bench): synthetic clusters, kube-proxy baselines, the lab's data plane.
        .executableTarget(
            name: "nfcompile-bench",
            dependencies: [
                "Agent", "Compiler", "Pipeline", "Netlink", "Ruleset", "ServiceGraph", "Addressing", "Manifests", "Lab",
                "APIServer",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]),
        .testTarget(name: "AddressingTests", dependencies: ["Addressing"]),
        .testTarget(name: "ParallelTests", dependencies: ["Parallel"]),
        .testTarget(name: "ManifestsTests", dependencies: ["Manifests"]),
        .testTarget(
            name: "ServiceGraphTests",
            dependencies: [
                "ServiceGraph", "Manifests", .product(name: "PropertyBased", package: "swift-property-based"),
            ]),
        .testTarget(name: "RulesetTests", dependencies: ["Ruleset"]),
        .testTarget(
            name: "CompilerTests",
            dependencies: ["Compiler", "Pipeline", "ServiceGraph", "Manifests", "Ruleset", "Lab"]),
        .testTarget(name: "EndToEndTests", dependencies: ["nfcompile", "Lab"]),
        // Kernel tier: real rules and traffic in throwaway network namespaces (needs root).
        .target(name: "Lab", dependencies: ["Netlink", "Ruleset", "Compiler", "Pipeline"], path: "Tests/Lab"),
        // A model of the kernel's transaction semantics behind the reconciler's store, for tests without a kernel.
        .target(
            name: "TestSupport",
            dependencies: [
                "Pipeline", "Netlink", "Ruleset", "Compiler", .product(name: "SystemPackage", package: "swift-system"),
            ], path: "Tests/TestSupport"),
        .testTarget(
            name: "LabTests", dependencies: ["Lab", "Compiler", "Pipeline", "Ruleset", "ServiceGraph", "Manifests"]),
        .testTarget(
            name: "DiffTests",
            dependencies: [
                "Ruleset", "Compiler", "Pipeline", "ServiceGraph", "Netlink", "Lab", "Addressing", "Manifests",
                .product(name: "PropertyBased", package: "swift-property-based"),
            ]),
        .testTarget(
            name: "AgentTests",
            dependencies: [
                "Agent", "Pipeline", "TestSupport", "APIServer", "Addressing", "nfcompile", "Lab", "Compiler",
                "Ruleset", "Netlink", "ServiceGraph", "Manifests",
            ]),
        .testTarget(
            name: "PipelineTests",
            dependencies: [
                "Pipeline", "TestSupport", "Lab", "Compiler", "Netlink", "Ruleset", "ServiceGraph", "Addressing",
            ]),
        // A Kubernetes API server for tests and the bench: the real wire protocol over TLS, on loopback.
        .target(
            name: "APIServer",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ],
            path: "Tests/APIServer"),
        .testTarget(
            name: "KubernetesAPITests", dependencies: ["KubernetesAPI", "APIServer", "Manifests", "Lab", "Yams"]),
        .testTarget(
            name: "NetlinkTests",
            dependencies: ["Netlink", "CNftnl", "CMnl", "Lab", "Compiler", "Pipeline", "Ruleset", "Addressing"]),
    ],
    swiftLanguageModes: [.v6]
)
