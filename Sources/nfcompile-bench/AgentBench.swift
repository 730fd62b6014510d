import APIServer
import Foundation
import Lab
import Netlink

/// The agent as a node runs it, measured from its input: started against the test API server
/// (LIST of both kinds to the first commit, resident memory after it), then EndpointSlice updates
/// from the moment the server takes them to the agent's commit (the kernel's NEWGEN event); and
/// the same with a folder of one-Service files, from a file written to the commit.
enum AgentBench {
    struct Result: Codable {
        var input: String
        var services: Int
        var endpoints: Int
        /// From the agent's start to its first sync's log line.
        var firstSyncSeconds = 0.0
        var residentMiB = 0.0
        /// After the updates (each a partial sync).
        var residentAfterUpdatesMiB = 0.0
        var updates = 0
        var updateP50Seconds = 0.0
        var updateP99Seconds = 0.0
    }

    static let token = "bench-token"
    static let user = "system:serviceaccount:kube-system:nfcompile"

    static func service(_ index: Int) -> String {
        let ip = SyntheticCluster.clusterIP(index).description
        return """
            {"apiVersion": "v1", "kind": "Service",
             "metadata": {"name": "svc-\(index)", "namespace": "bench", "uid": "u\(index)"},
             "spec": {"type": "ClusterIP", "clusterIP": "\(ip)", "clusterIPs": ["\(ip)"], "ipFamilies": ["IPv4"],
                      "ipFamilyPolicy": "SingleStack", "selector": {"app": "svc-\(index)"}, "sessionAffinity": "None",
                      "ports": [{"name": "http", "port": 80, "protocol": "TCP", "targetPort": 8080}]},
             "status": {"loadBalancer": {}}}
            """
    }

    /// Service `index`'s slice with `endpoints` endpoints; `variant` moves its last endpoint.
    static func slice(_ index: Int, endpoints: Int, variant: Int = 0) -> String {
        let items = (0..<endpoints).map { slot in
            let address = SyntheticCluster.podAddress(index * endpoints + slot).description
            let moved =
                slot == endpoints - 1 && variant % 2 == 1 ? "10.255.\(index / 250 % 250).\(index % 250 + 1)" : address
            return """
                {"addresses": ["\(moved)"], "conditions": {"ready": true, "serving": true, "terminating": false},
                 "nodeName": "node-\(slot % 3)", "targetRef": {"kind": "Pod", "namespace": "bench", "name": "pod-\(index)-\(slot)"}}
                """
        }
        return """
            {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", "addressType": "IPv4",
             "metadata": {"name": "svc-\(index)-x", "namespace": "bench", "labels": {"kubernetes.io/service-name": "svc-\(index)"},
                          "annotations": {"endpoints.kubernetes.io/last-change-trigger-time": "2026-12-01T10:00:00Z"}},
             "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}], "endpoints": [\(items.joined(separator: ","))]}
            """
    }

    /// The agent against the test API server holding `services` Services and their slices.
    static func api(services: Int, endpoints: Int, updates: Int, log: (String) -> Void) async throws -> Result {
        let server = try TestAPIServer(users: .init(tokens: [token: user], authorized: [user]))
        for index in 0..<services {
            try server.apply(service(index))
            try server.apply(slice(index, endpoints: endpoints))
        }
        try await server.start()
        defer { Task { await server.stop() } }
        let lab = try NetworkLab()
        defer { lab.tearDown() }
        try lab.forwardHostPort(server.port, toNodePort: 6443)
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("nfcbench-api-\(getpid())")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let kubeconfig = folder.appendingPathComponent("kubeconfig").path
        try """
        apiVersion: v1
        kind: Config
        clusters: [{name: c, cluster: {server: "https://127.0.0.1:6443", certificate-authority: \(server.certificateAuthority.certificatePath)}}]
        users: [{name: u, user: {token: \(token)}}]
        contexts: [{name: c, context: {cluster: c, user: u}}]
        current-context: c
        """.write(toFile: kubeconfig, atomically: true, encoding: .utf8)
        var result = Result(input: "api", services: services, endpoints: endpoints)
        let agent = try BenchAgent(lab: lab, arguments: ["--kubeconfig", kubeconfig, "--node-name", "node-0"])
        result.firstSyncSeconds = try agent.firstSync()
        result.residentMiB = agent.residentMiB
        let latencies = try measureUpdates(updates, lab: lab) { round in
            try server.apply(slice(round % services, endpoints: endpoints, variant: round / services + 1))
        }
        result.updates = latencies.count
        result.residentAfterUpdatesMiB = agent.residentMiB
        result.updateP50Seconds = Measure.percentile(latencies, 0.5)
        result.updateP99Seconds = Measure.percentile(latencies, 0.99)
        log(
            "agent on the API server, \(services) × \(endpoints): first sync \(Report.ms(result.firstSyncSeconds)), resident \(Int(result.residentMiB)) MiB (\(Int(result.residentAfterUpdatesMiB)) MiB after \(result.updates) updates), update p50 \(Report.ms(result.updateP50Seconds)), p99 \(Report.ms(result.updateP99Seconds))"
        )
        return result
    }

    /// The agent on a folder of one file per Service (its Service and EndpointSlice).
    static func folder(services: Int, endpoints: Int, updates: Int, log: (String) -> Void) throws -> Result {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("nfcbench-files-\(getpid())")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        func write(_ index: Int, variant: Int) throws {
            let text =
                "{\"apiVersion\": \"v1\", \"kind\": \"List\", \"items\": [\(service(index)), \(slice(index, endpoints: endpoints, variant: variant))]}\n"
            // Written beside and renamed, as editors and kubectl do: the watcher sees one complete file.
            let path = folder.appendingPathComponent("svc-\(index).json").path
            try text.write(toFile: path + ".tmp", atomically: false, encoding: .utf8)
            guard rename(path + ".tmp", path) == 0 else { throw BenchError("rename \(path)") }
        }
        for index in 0..<services { try write(index, variant: 0) }
        let lab = try NetworkLab()
        defer { lab.tearDown() }
        var result = Result(input: "folder", services: services, endpoints: endpoints)
        let agent = try BenchAgent(
            lab: lab, arguments: ["--manifests", folder.path, "--cluster-cidr", "10.244.0.0/14"])
        result.firstSyncSeconds = try agent.firstSync()
        result.residentMiB = agent.residentMiB
        let latencies = try measureUpdates(updates, lab: lab) { round in
            try write(round % services, variant: round / services + 1)
        }
        result.updates = latencies.count
        result.residentAfterUpdatesMiB = agent.residentMiB
        result.updateP50Seconds = Measure.percentile(latencies, 0.5)
        result.updateP99Seconds = Measure.percentile(latencies, 0.99)
        log(
            "agent on \(services) files × \(endpoints): first sync \(Report.ms(result.firstSyncSeconds)), resident \(Int(result.residentMiB)) MiB (\(Int(result.residentAfterUpdatesMiB)) MiB after \(result.updates) updates), update p50 \(Report.ms(result.updateP50Seconds)), p99 \(Report.ms(result.updateP99Seconds))"
        )
        return result
    }

    /// Each change, from just before it is made to the kernel's announcement of the agent's commit.
    private static func measureUpdates(_ count: Int, lab: NetworkLab, change: (Int) throws -> Void) throws -> [Double] {
        let commits = try CommitWatch(networkNamespace: lab.nodeNamespace)
        var latencies: [Double] = []
        for round in 0..<count {
            usleep(20_000)  // apart, so that each change is its own sync (min-sync-period is 1 ms)
            commits.reset()
            let start = ContinuousClock.now
            try change(round)
            guard let committed = commits.next(timeout: .seconds(10)) else {
                throw BenchError("no commit within 10 s of change \(round)")
            }
            latencies.append((committed - start).seconds)
        }
        return latencies
    }
}

/// The release agent in a lab's node, syncing as fast as it may.
private final class BenchAgent {
    let process = Process()
    let logFile: URL

    init(lab: NetworkLab, arguments: [String]) throws {
        logFile = FileManager.default.temporaryDirectory.appendingPathComponent("nfcbench-agent-\(UUID()).log")
        FileManager.default.createFile(atPath: logFile.path, contents: nil)
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments =
            [
                "ip", "netns", "exec", lab.nodeNamespace, InputPathBench.nfcompileBinary, "agent", "--min-sync-period",
                "1ms",
                "--sync-period", "1h", "--healthz-bind-address", "", "--metrics-bind-address", "",
            ] + arguments
        process.standardOutput = try FileHandle(forWritingTo: logFile)
        process.standardError = try FileHandle(forWritingTo: logFile)
        process.standardInput = FileHandle.nullDevice
        try process.run()
    }

    deinit {
        process.terminate()
        process.waitUntilExit()
        try? FileManager.default.removeItem(at: logFile)
    }

    var log: String { (try? String(contentsOf: logFile, encoding: .utf8)) ?? "" }

    /// Seconds from the start to the first sync that committed.
    func firstSync() throws -> Double {
        let clock = ContinuousClock()
        let start = clock.now
        while !log.split(separator: "\n").contains(where: { $0.contains("] sync") && !$0.contains("operations=0") }) {
            guard process.isRunning else { throw BenchError("the agent stopped: \(log)") }
            guard clock.now - start < .seconds(300) else { throw BenchError("no sync in 300 s: \(log)") }
            usleep(2_000)
        }
        return (clock.now - start).seconds
    }

    var residentMiB: Double {
        let status = (try? String(contentsOfFile: "/proc/\(process.processIdentifier)/status", encoding: .utf8)) ?? ""
        let line = status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") } ?? ""
        return (line.split(separator: " ").compactMap { Double($0) }.first ?? 0) / 1024
    }
}

/// The kernel's NEWGEN events of a namespace, as they come, for timing commits.
private final class CommitWatch: @unchecked Sendable {
    // Why `@unchecked Sendable`: the only shared state is behind the lock.
    private let lock = NSCondition()
    private var committed: ContinuousClock.Instant?
    private let task: Task<Void, Never>

    init(networkNamespace: String) throws {
        let events = try GenerationEvents.stream(networkNamespace: networkNamespace)
        let box = Box()
        task = Task.detached {
            for await event in events {
                guard case .committed = event else { continue }
                box.watch?.signal(at: .now)
            }
        }
        box.watch = self
    }

    private final class Box: @unchecked Sendable {
        // Why `@unchecked Sendable`: written once, before the first event can arrive.
        weak var watch: CommitWatch?
    }

    deinit { task.cancel() }

    func signal(at instant: ContinuousClock.Instant) {
        lock.lock()
        committed = instant
        lock.broadcast()
        lock.unlock()
    }

    func reset() {
        lock.lock()
        committed = nil
        lock.unlock()
    }

    func next(timeout: Duration) -> ContinuousClock.Instant? {
        let deadline = Date().addingTimeInterval(timeout.seconds)
        lock.lock()
        defer { lock.unlock() }
        while committed == nil, lock.wait(until: deadline) {}
        return committed
    }
}
