import Agent
import ArgumentParser
import Compiler
import Foundation
import Manifests
import Netlink
import Ruleset
import ServiceGraph

/// What a user runs, from the input file: the release `nfcompile` on the cluster as kubectl prints
/// it (`KubectlList`), as separate processes, timed and with their peak memory.
enum InputPathBench {
    struct Result: Codable {
        var services: Int
        var endpoints: Int
        var fileMiB = 0.0
        /// `nfcompile --dry-run FILE > /dev/null`.
        var dryRun = ChildRun()
        /// `nfcompile apply FILE` into an empty network namespace.
        var apply = ChildRun()
        /// `nfcompile apply FILE` again, onto the table it made: the whole table read back and
        /// found unchanged (what the agent's start on a node it already programmed does too).
        var reapply = ChildRun()
        /// `nfcompile agent --manifests DIR`: from its start to the first sync's log line.
        var agentFirstSyncSeconds = 0.0
        /// The first sync as the agent logs it (durationMs).
        var agentSyncSeconds = 0.0
        /// VmRSS and VmHWM of the agent after its first sync.
        var agentResidentMiB = 0.0
        var agentPeakMiB = 0.0
    }

    static let runs = 3

    /// Measures one size; `expected` is the ruleset the List must compile to.
    static func measure(services: Int, endpoints: Int, expected: Ruleset, log: (String) -> Void) throws -> Result {
        var result = Result(services: services, endpoints: endpoints)
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent(
            "nfcbench-input-\(getpid())-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let file = folder.appendingPathComponent("cluster.json").path
        let text = KubectlList.json(services: services, endpoints: endpoints)
        try text.write(toFile: file, atomically: false, encoding: .utf8)
        result.fileMiB = Double(text.utf8.count) / 1_048_576

        let nfcompile = nfcompileBinary
        let cluster = SyntheticCluster.options.clusterCIDRs.flatMap { ["--cluster-cidr", $0.description] }
        let printed = try Measure.run([nfcompile, "--dry-run"] + cluster + [file])
        guard printed == expected.nftText() else {
            let base = FileManager.default.temporaryDirectory.appendingPathComponent(
                "nfcbench-mismatch-\(services)x\(endpoints)")
            try? printed.write(toFile: base.path + ".printed.nft", atomically: true, encoding: .utf8)
            try? expected.nftText().write(toFile: base.path + ".expected.nft", atomically: true, encoding: .utf8)
            throw BenchError(
                "nfcompile --dry-run of the kubectl List does not print the synthetic cluster's ruleset (compare \(base.path).printed.nft and .expected.nft)"
            )
        }

        result.dryRun = try ChildRun.median(runs: runs) {
            try ChildRun.measure([nfcompile, "--dry-run"] + cluster + [file])
        }
        log(
            "input \(String(format: "%.1f", result.fileMiB)) MiB: dry-run \(Report.ms(result.dryRun.seconds)), peak \(Int(result.dryRun.peakMiB)) MiB"
        )

        var reapplies: [ChildRun] = []
        result.apply = try ChildRun.median(runs: runs) {
            let namespace = try ScratchNamespace()
            let apply = ["ip", "netns", "exec", namespace.name, nfcompile, "apply"] + cluster + [file]
            let run = try ChildRun.measure(apply)
            var kernel = try NetfilterConnection(networkNamespace: namespace.name)
            guard try kernel.readRuleset(tableName: "nfcompile").canonical == expected.canonical else {
                throw BenchError("after nfcompile apply, the kernel does not hold the synthetic cluster's ruleset")
            }
            let generation = try kernel.generation()
            reapplies.append(try ChildRun.measure(apply))
            guard try kernel.generation() == generation else {
                throw BenchError("nfcompile apply of the same file committed a change")
            }
            return run
        }
        result.reapply = try ChildRun.median(runs: reapplies.count) { reapplies.removeFirst() }
        log(
            "apply: \(Report.ms(result.apply.seconds)), peak \(Int(result.apply.peakMiB)) MiB; again onto its table: \(Report.ms(result.reapply.seconds)), peak \(Int(result.reapply.peakMiB)) MiB"
        )

        try measureAgent(folder: folder.path, cluster: cluster, into: &result)
        log(
            "agent: first sync after \(Report.ms(result.agentFirstSyncSeconds)) (sync \(Report.ms(result.agentSyncSeconds))), resident \(Int(result.agentResidentMiB)) MiB, peak \(Int(result.agentPeakMiB)) MiB"
        )
        return result
    }

    /// The release `nfcompile` beside this benchmark's binary (scripts/bench builds both).
    static var nfcompileBinary: String {
        URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("nfcompile")
            .path
    }

    private static func measureAgent(folder: String, cluster: [String], into result: inout Result) throws {
        let namespace = try ScratchNamespace()
        try Measure.run(["ip", "-n", namespace.name, "link", "set", "lo", "up"])
        let logFile = URL(fileURLWithPath: folder + ".agent.log")
        FileManager.default.createFile(atPath: logFile.path, contents: nil)
        defer { try? FileManager.default.removeItem(at: logFile) }
        let agent = Process()
        agent.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        // `ip netns exec` execs the agent in its own process, so the pid is the agent's.
        agent.arguments =
            ["ip", "netns", "exec", namespace.name, nfcompileBinary, "agent", "--manifests", folder] + cluster
        agent.standardOutput = try FileHandle(forWritingTo: logFile)
        agent.standardError = try FileHandle(forWritingTo: logFile)
        agent.standardInput = FileHandle.nullDevice
        let clock = ContinuousClock()
        let start = clock.now
        try agent.run()
        defer {
            agent.terminate()
            agent.waitUntilExit()
        }
        var syncLine: Substring?
        while syncLine == nil {
            guard agent.isRunning else {
                throw BenchError(
                    "the agent stopped before its first sync: \((try? String(contentsOf: logFile, encoding: .utf8)) ?? "")"
                )
            }
            guard clock.now - start < .seconds(300) else { throw BenchError("the agent made no sync in 300 s") }
            let log = (try? String(contentsOf: logFile, encoding: .utf8)) ?? ""
            syncLine = log.split(separator: "\n").first { $0.contains("] sync") }
            if syncLine == nil { usleep(2_000) }
        }
        result.agentFirstSyncSeconds = (clock.now - start).seconds
        if let line = syncLine, let range = line.range(of: "durationMs=") {
            result.agentSyncSeconds =
                (Double(line[range.upperBound...].prefix { $0.isNumber || $0 == "." }) ?? 0) / 1000
        }
        let status = try String(contentsOfFile: "/proc/\(agent.processIdentifier)/status", encoding: .utf8)
        func mebibytes(_ field: String) -> Double {
            let line = status.split(separator: "\n").first { $0.hasPrefix(field) } ?? ""
            return (line.split(separator: " ").compactMap { Double($0) }.first ?? 0) / 1024
        }
        result.agentResidentMiB = mebibytes("VmRSS:")
        result.agentPeakMiB = mebibytes("VmHWM:")
    }
}

/// One run of a program: wall time and peak resident memory.
struct ChildRun: Codable {
    var seconds = 0.0
    var peakMiB = 0.0
    /// The spawning process's own peak, below which `peakMiB` says nothing (see `ChildPeak`).
    var floorMiB = 0.0

    /// Runs `arguments` through `nfcompile-bench child-peak`, which reports the program's own peak.
    static func measure(_ arguments: [String]) throws -> ChildRun {
        let output = try Measure.run([CommandLine.arguments[0], "child-peak"] + arguments)
        return try JSONDecoder().decode(ChildRun.self, from: Data(output.utf8))
    }

    /// The run of median time among `runs`.
    static func median(runs: Int, _ body: () throws -> ChildRun) throws -> ChildRun {
        var results: [ChildRun] = []
        for _ in 0..<runs { results.append(try body()) }
        return results.sorted { $0.seconds < $1.seconds }[results.count / 2]
    }
}

/// `nfcompile-bench child-peak PROGRAM ARGUMENT…`: runs the program (standard output to /dev/null)
/// and prints its wall time and peak resident memory as JSON.
///
/// The peak is the child's `ru_maxrss` from wait4. Linux starts a child's maxrss at the resident
/// size of the process that spawned it (it is carried over exec, see `Measure.peakMemoryMiB`), so
/// the benchmark, hundreds of MiB by then, cannot spawn the program itself: this small process does,
/// and the floor it adds (its own VmHWM, a few MiB) is printed beside the figure.
struct ChildPeak: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "child-peak", shouldDisplay: false)

    @Argument(parsing: .captureForPassthrough) var command: [String]

    func run() throws {
        guard let program = command.first else { throw ValidationError("child-peak needs a program to run") }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
        // strdup'd copies: posix_spawn wants mutable C strings that outlive the call.
        let arguments: [UnsafeMutablePointer<CChar>?] = command.map { strdup($0) } + [nil]
        defer { for argument in arguments { free(argument) } }
        let floor = Measure.peakMemoryMiB
        let clock = ContinuousClock()
        let start = clock.now
        var pid: pid_t = 0
        let spawned = posix_spawnp(&pid, program, &actions, nil, arguments, environ)
        guard spawned == 0 else { throw BenchError("cannot run \(program): \(String(cString: strerror(spawned)))") }
        var status: Int32 = 0
        var usage = rusage()
        while wait4(pid, &status, 0, &usage) < 0, errno == EINTR {}
        let seconds = (clock.now - start).seconds
        // WIFEXITED and WEXITSTATUS are macros Swift does not import.
        guard status & 0x7F == 0, (status >> 8) & 0xFF == 0 else {
            throw BenchError("\(command.joined(separator: " ")) failed (wait status \(status))")
        }
        print("{\"seconds\": \(seconds), \"peakMiB\": \(Double(usage.ru_maxrss) / 1024), \"floorMiB\": \(floor)}")
    }
}

extension Report {
    /// The end-to-end figures: what a user waits for, from the file, beside kube-proxy's ruleset
    /// for the same graph through `nft -f` (measured in the same run, when not over the baseline limit).
    func inputPathTable() -> String {
        var lines = [
            "| services × endpoints | kubectl JSON | --dry-run > /dev/null | apply (empty netns) | apply again (unchanged) | kube-proxy ≥1.36 via nft -f | agent: first sync | agent resident after it |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for row in inputPath {
            let baseline = sizes.first { $0.services == row.services && $0.endpoints == row.endpoints }?
                .baselines[KubeProxyRuleset.Shape.inlineDNATMaps.rawValue]
            let ratio =
                baseline.map { "\(Self.ms($0)) (\(String(format: "%.0f", $0 / row.apply.seconds))× ours)" } ?? "—"
            lines.append(
                "| \(row.services) × \(row.endpoints) | \(String(format: "%.1f", row.fileMiB)) MiB | \(Self.ms(row.dryRun.seconds)), \(Int(row.dryRun.peakMiB)) MiB peak | \(Self.ms(row.apply.seconds)), \(Int(row.apply.peakMiB)) MiB peak | \(Self.ms(row.reapply.seconds)), \(Int(row.reapply.peakMiB)) MiB peak | \(ratio) | \(Self.ms(row.agentFirstSyncSeconds)) (sync \(Self.ms(row.agentSyncSeconds))) | \(Int(row.agentResidentMiB)) MiB (peak \(Int(row.agentPeakMiB)) MiB) |"
            )
        }
        return lines.joined(separator: "\n")
    }
}

/// `nfcompile-bench kubectl-list SERVICES ENDPOINTS`: prints the List the input path is measured on,
/// for profiling nfcompile by hand.
struct PrintKubectlList: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "kubectl-list", shouldDisplay: false)

    @Argument var services: Int
    @Argument var endpoints: Int

    func run() {
        print(KubectlList.json(services: services, endpoints: endpoints), terminator: "")
    }
}

/// `nfcompile-bench kubectl-pods SERVICES PODS`: Services selecting PODS Pods each, as kubectl prints them.
struct PrintKubectlPods: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "kubectl-pods", shouldDisplay: false)

    @Argument var services: Int
    @Argument var podsPerService: Int

    func run() {
        print(KubectlList.podsJSON(services: services, podsPerService: podsPerService), terminator: "")
    }
}

/// `nfcompile-bench load-once FILE`: the input path alone, in a process of its own: decode, then build
/// the graph; prints each stage's seconds and the peak memory after each (the breakdown of the
/// end-to-end figures).
struct LoadOnce: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "load-once", shouldDisplay: false)

    @Argument var file: String

    func run() throws {
        let start = Measure.peakMemoryMiB
        let (manifests, decodeSeconds) = try Measure.seconds { try ManifestLoader.load(paths: [file]) }
        let decodePeak = Measure.peakMemoryMiB
        let (build, buildSeconds) = try Measure.seconds { try ServiceGraph.build(from: manifests) }
        let (_, compileSeconds) = Measure.seconds { build.graph.compile(options: SyntheticCluster.options) }
        print(
            "{\"startMiB\": \(start), \"decodeSeconds\": \(decodeSeconds), \"decodePeakMiB\": \(decodePeak), \"buildSeconds\": \(buildSeconds), \"compileSeconds\": \(compileSeconds), \"peakMiB\": \(Measure.peakMemoryMiB), \"services\": \(build.graph.services.count)}"
        )
    }
}

/// `nfcompile-bench agent-state FILE`: what the agent keeps after its first sync, stage by stage,
/// as resident memory once freed pages are given back, and the part of it that is not code: the
/// decoded objects, the graph builder, the incremental compiler; with each stage's seconds. For
/// finding where the agent's memory (and its first sync's time) goes.
struct AgentState: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "agent-state", shouldDisplay: false)

    @Argument var file: String

    func run() throws {
        // As the agent runs: one malloc arena, and freed pages given back before each reading, so
        // that each stage shows what is live.
        ProcessMemory.useOneArena()
        let clock = ContinuousClock()
        var stageStart = clock.now
        func measured(_ stage: String) -> (String, Double, Double, Double) {
            let seconds = (clock.now - stageStart).seconds
            ProcessMemory.returnFreedPages()
            defer { stageStart = clock.now }
            return (stage, Measure.residentMiB, Measure.anonymousMiB, seconds)
        }
        var stages = [measured("start")]
        var builder = GraphBuilder()
        do {
            let manifests = try ManifestLoader.load(paths: [file])
            stages.append(measured("decoded objects"))
            builder.replace(file, with: manifests)
        }
        _ = try builder.commit()
        stages.append(measured("graph builder (objects released)"))
        var compiler = IncrementalCompiler(options: SyntheticCluster.options)
        compiler.reset(to: builder.graph)
        stages.append(measured("incremental compiler"))
        let ruleset = builder.graph.compile(options: SyntheticCluster.options)
        stages.append(measured("a compiled ruleset besides (transient in a sync)"))
        _ = ruleset.tables.count
        _ = compiler.options
        print("resident   of it anonymous   seconds")
        for (stage, resident, anonymous, seconds) in stages {
            print(String(format: "%8.1f MiB %8.1f MiB %8.3f s  %@", resident, anonymous, seconds, stage))
        }
    }
}
