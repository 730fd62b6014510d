import ArgumentParser
import Compiler
import Foundation
import Netlink
import Ruleset
import ServiceGraph

@main
struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "nfcompile-bench",
        abstract: "nfcompile at scale, side by side with kube-proxy's nftables rulesets, in one run.",
        subcommands: [
            Run.self, CompileOnce.self, ChildPeak.self, PrintKubectlList.self, PrintKubectlPods.self, LoadOnce.self,
            AgentState.self,
        ], defaultSubcommand: Run.self)
}

/// Compiles one synthetic cluster in a process of its own, so its peak memory is its own.
struct CompileOnce: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "compile-once", shouldDisplay: false)

    @Argument var services: Int
    @Argument var endpoints: Int

    func run() throws {
        let graph = SyntheticCluster.graph(services: services, endpoints: endpoints)
        let before = Measure.peakMemoryMiB
        let (ruleset, seconds) = Measure.seconds { graph.compile(options: SyntheticCluster.options) }
        let elements = ruleset.tables.reduce(0) { $0 + $1.sets.reduce(0) { $0 + $1.elements.count } }
        print(
            "{\"seconds\": \(seconds), \"graphMiB\": \(before), \"peakMiB\": \(Measure.peakMemoryMiB), \"elements\": \(elements)}"
        )
    }
}

struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "run", abstract: "Run the benchmark (as root).")

    @Option(help: "Cluster sizes as SERVICESxENDPOINTS, comma-separated.")
    var sizes = "1000x10,10000x10,30000x10,5000x50"

    @Option(
        help:
            "Largest cluster (services × endpoints) for the kube-proxy baselines: the <=1.35 shape needs minutes at 100,000."
    )
    var baselineLimit = 100_000

    @Option(help: "Connections per data-plane latency measurement.")
    var connections = 2000

    @Option(help: "Times each incremental sync and its inverse run; the figures are medians.")
    var syncRounds = 9

    @Option(help: "Where to write the machine-readable results.")
    var json = "bench-results.json"

    @Flag(help: "Skip the kube-proxy baselines.")
    var skipBaselines = false

    @Flag(help: "Skip the data-plane latency measurement.")
    var skipDataPlane = false

    @Flag(help: "Skip the input path (nfcompile itself on the cluster as kubectl prints it).")
    var skipInputPath = false

    @Flag(help: "Skip the agent against the test API server and on a folder of one-Service files.")
    var skipAgent = false

    @Option(help: "Object changes per agent measurement (EndpointSlice updates, file writes).")
    var agentUpdates = 200

    func run() throws {
        guard getuid() == 0 else { throw BenchError("the benchmark needs root (network namespaces, nf_tables)") }
        var report = Report()
        for size in try parseSizes() {
            log("== \(size.services) services × \(size.endpoints) endpoints")
            var row = Report.SizeResult(services: size.services, endpoints: size.endpoints)
            try measureCompile(&row)
            let graph = Syncs.prepare(SyntheticCluster.graph(services: size.services, endpoints: size.endpoints))
            let ruleset = graph.compile(options: SyntheticCluster.options)
            try measureApplyAndSyncs(graph: graph, ruleset: ruleset, into: &row)
            if !skipBaselines {
                try measureBaselines(graph: graph, ruleset: ruleset, into: &row)
            }
            report.sizes.append(row)
            if !skipInputPath {
                // The List is the plain synthetic cluster, without the variety `Syncs.prepare` adds.
                let plain = SyntheticCluster.graph(services: size.services, endpoints: size.endpoints)
                report.inputPath.append(
                    try InputPathBench.measure(
                        services: size.services, endpoints: size.endpoints,
                        expected: plain.compile(options: SyntheticCluster.options), log: log))
            }
            print(report.inputPathTable() + "\n\n" + report.sizeTable())
        }
        log("== incremental syncs at 100 services (the reference for the 1.5× target)")
        var small = Report.SizeResult(services: 100, endpoints: 10)
        let smallGraph = Syncs.prepare(SyntheticCluster.graph(services: 100, endpoints: 10))
        try measureApplyAndSyncs(
            graph: smallGraph, ruleset: smallGraph.compile(options: SyntheticCluster.options), into: &small)
        report.reference = small
        if !skipAgent {
            // The agent from its inputs, beside the same at 100 services (the 2× target's reference).
            let sizes =
                [(100, 10)] + (try parseSizes()).filter { $0.services <= 10_000 }.map { ($0.services, $0.endpoints) }
            for (services, endpoints) in sizes {
                log("== the agent at \(services) services × \(endpoints) endpoints")
                report.agent.append(
                    try runBlocking {
                        try await AgentBench.api(
                            services: services, endpoints: endpoints, updates: agentUpdates, log: log)
                    })
                report.agent.append(
                    try AgentBench.folder(services: services, endpoints: endpoints, updates: agentUpdates, log: log))
            }
        }
        if !skipDataPlane {
            report.dataPlane = try DataPlane.measure(connections: connections, log: log)
        }
        print(report.text())
        try report.json().write(toFile: json, atomically: true, encoding: .utf8)
        log("wrote \(json)")
    }

    private func parseSizes() throws -> [(services: Int, endpoints: Int)] {
        try sizes.split(separator: ",").map { item in
            let parts = item.split(separator: "x").compactMap { Int($0) }
            guard parts.count == 2 else { throw BenchError("size \"\(item)\" is not SERVICESxENDPOINTS") }
            return (parts[0], parts[1])
        }
    }

    private func measureCompile(_ row: inout Report.SizeResult) throws {
        let output = try Measure.run([CommandLine.arguments[0], "compile-once", "\(row.services)", "\(row.endpoints)"])
        let fields = try JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: Double] ?? [:]
        row.compileSeconds = fields["seconds"] ?? 0
        row.peakMemoryMiB = fields["peakMiB"] ?? 0
        row.graphMemoryMiB = fields["graphMiB"] ?? 0
        row.elements = Int(fields["elements"] ?? 0)
        log("compile: \(Report.ms(row.compileSeconds)), peak \(Int(row.peakMemoryMiB)) MiB")
    }

    /// Full apply into a fresh namespace, then every kind of incremental sync (`Syncs`), each
    /// measured from the changed service to the committed transaction.
    private func measureApplyAndSyncs(graph: ServiceGraph, ruleset: Ruleset, into row: inout Report.SizeResult) throws {
        let namespace = try ScratchNamespace()
        var kernel = try NetfilterConnection(networkNamespace: namespace.name)
        let (_, applySeconds) = try Measure.seconds {
            try kernel.commit(.replacingTables(named: "nfcompile", with: ruleset))
        }
        row.applySeconds = applySeconds
        row.applyKernelSeconds = kernel.lastCommit?.kernel.seconds ?? 0
        row.applyMessages = kernel.lastCommit?.messages ?? 0
        log(
            "apply over netlink: \(Report.ms(applySeconds)) (kernel \(Report.ms(row.applyKernelSeconds)), \(row.applyMessages) messages)"
        )

        let (syncs, final) = try Syncs.measure(
            graph: graph, endpoints: row.endpoints, kernel: &kernel, rounds: syncRounds, log: log)
        row.syncs = syncs
        var check = try NetfilterConnection(networkNamespace: namespace.name)
        let expected = final.compile(options: SyntheticCluster.options)
        var held = try check.readRuleset(tableName: "nfcompile")
        if held.canonical != expected.canonical {
            // A dump taken while the kernel still resizes a big set's hash table (deferred work the
            // real-time syncs held back) can miss elements; what the kernel holds shows once it is done.
            log(
                "the first read back differs (\(diff(current: held, desired: expected).operations.prefix(2).map(\.summary))); reading again"
            )
            sleep(2)
            held = try check.readRuleset(tableName: "nfcompile")
        }
        guard held.canonical == expected.canonical else {
            let difference = diff(current: held, desired: expected).operations.prefix(5).map(\.summary)
            throw BenchError("the kernel does not hold the ruleset the syncs committed: \(difference)")
        }
    }

    private func measureBaselines(graph: ServiceGraph, ruleset: Ruleset, into row: inout Report.SizeResult) throws {
        row.oursViaNft = try ScratchNamespace().timeNftLoad(ruleset.nftText())
        log("ours via nft -f: \(Report.ms(row.oursViaNft ?? 0))")
        let size = graph.services.reduce(0) { $0 + $1.ports.reduce(0) { $0 + $1.endpoints.count } }
        guard size <= baselineLimit else {
            log("kube-proxy baselines skipped: \(size) endpoints is over --baseline-limit \(baselineLimit)")
            return
        }
        for shape in [KubeProxyRuleset.Shape.inlineDNATMaps, .perEndpointChains] {
            let text = KubeProxyRuleset.text(for: graph, shape: shape, clusterCIDR: "10.244.0.0/14")
            let seconds = try ScratchNamespace().timeNftLoad(text)
            row.baselines[shape.rawValue] = seconds
            log("\(shape.rawValue) via nft -f: \(Report.ms(seconds))")
        }
    }

    private func log(_ line: String) {
        FileHandle.standardError.write(Data("bench: \(line)\n".utf8))
    }
}

/// Runs async work from this synchronous command, waiting for it.
func runBlocking<T: Sendable>(_ body: @escaping @Sendable () async throws -> T) throws -> T {
    let done = DispatchSemaphore(value: 0)
    nonisolated(unsafe) var result: Result<T, any Error>?
    Task {
        do { result = .success(try await body()) } catch { result = .failure(error) }
        done.signal()
    }
    done.wait()
    return try result!.get()
}
