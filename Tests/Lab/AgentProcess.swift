import Foundation
import Netlink
import Ruleset

/// `nfcompile agent` running in a lab's node namespace, with its log captured, for tests that
/// kill, restart and watch it as an operator would.
public final class AgentProcess: @unchecked Sendable {
    public let logFile: URL
    private let process = Process()

    /// Starts the agent on `manifests` in `lab`'s node (or, without, on the API server that the
    /// arguments name); extra arguments are appended.
    public init(lab: NetworkLab, manifests: URL?, arguments: [String] = []) throws {
        logFile = FileManager.default.temporaryDirectory.appendingPathComponent("nfcompile-agent-\(UUID()).log")
        FileManager.default.createFile(atPath: logFile.path, contents: nil)
        let log = try FileHandle(forWritingTo: logFile)
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments =
            ["ip", "netns", "exec", lab.nodeNamespace, Repository.binary.path, "agent"]
            + (manifests.map { ["--manifests", $0.path] } ?? [])
            + [
                "--min-sync-period", "100ms", "--sync-period", "2s", "--healthz-bind-address", "127.0.0.1:10256",
                "--metrics-bind-address", "127.0.0.1:10249",
            ] + arguments
        process.standardOutput = log
        process.standardError = log
        process.standardInput = FileHandle.nullDevice
        try process.run()
    }

    deinit { stop(signal: SIGKILL) }

    public var log: String { (try? String(contentsOf: logFile, encoding: .utf8)) ?? "" }

    /// Lines of the log that report a sync.
    public var syncLines: [String] { log.split(separator: "\n").map(String.init).filter { $0.contains("] sync") } }

    public var isRunning: Bool { process.isRunning }

    /// Sends `signal` and waits for the process to end; returns its exit status.
    @discardableResult
    public func stop(signal: Int32 = SIGTERM) -> Int32 {
        guard process.isRunning else { return process.terminationStatus }
        kill(process.processIdentifier, signal)
        process.waitUntilExit()
        return process.terminationStatus
    }

    /// Waits up to `seconds` (stretched by the lab's slowdown) for `condition`; false on timeout.
    public func wait(seconds: Double = 10, until condition: () throws -> Bool) rethrows -> Bool {
        let deadline = Date().addingTimeInterval(seconds * NetworkLab.slowdown)
        while Date() < deadline {
            if try condition() { return true }
            usleep(50_000)
        }
        return try condition()
    }
}

extension NetworkLab {
    /// Our tables as the node's kernel holds them (read over netlink).
    public func kernelRuleset(tableName: String = "nfcompile") throws -> Ruleset {
        var kernel = try NetfilterConnection(networkNamespace: nodeNamespace)
        return try kernel.readRuleset(tableName: tableName)
    }

    /// A plain HTTP GET inside the node namespace (the agent's health and metrics endpoints).
    public func httpGet(_ path: String, port: Int) throws -> String {
        let seconds = Int(2 * NetworkLab.slowdown)
        return try Shell.run(
            // -t: how long socat waits for the answer once its input has ended (0.5 s by default).
            [
                "ip", "netns", "exec", nodeNamespace, "socat", "-T", "\(seconds)", "-t", "\(seconds)", "-",
                "TCP:127.0.0.1:\(port)",
            ],
            input: "GET \(path) HTTP/1.0\r\n\r\n")
    }
}
