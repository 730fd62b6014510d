import Foundation

/// The results: a table for people, JSON for machines, with the machine they ran on.
struct Report: Codable {
    struct Sync: Codable {
        var change: String
        /// Medians: end to end, and its parts (incremental compile, netlink encoding, kernel).
        var seconds: Double
        var operations: Int
        var kernelSeconds: Double
        var compileSeconds = 0.0
        var encodingSeconds = 0.0
    }

    struct SizeResult: Codable {
        var services: Int
        var endpoints: Int
        var elements = 0
        var compileSeconds = 0.0
        var peakMemoryMiB = 0.0
        var graphMemoryMiB = 0.0
        var applySeconds = 0.0
        var applyKernelSeconds = 0.0
        var applyMessages = 0
        var syncs: [Sync] = []
        var oursViaNft: Double?
        var baselines: [String: Double] = [:]
    }

    var agent: [AgentBench.Result] = []

    var machine = Machine()
    var sizes: [SizeResult] = []
    var inputPath: [InputPathBench.Result] = []
    var reference: SizeResult?
    var dataPlane: [DataPlane.Result] = []

    struct Machine: Codable {
        var kernel = (try? Measure.run(["uname", "-r"]).trimmingCharacters(in: .whitespacesAndNewlines)) ?? "?"
        var nft = (try? Measure.run(["nft", "--version"]).trimmingCharacters(in: .whitespacesAndNewlines)) ?? "?"
        var cores = ProcessInfo.processInfo.activeProcessorCount
        var memoryGiB = Double(ProcessInfo.processInfo.physicalMemory) / 1_073_741_824
        var cpu =
            (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8))?
            .split(separator: "\n").first { $0.hasPrefix("model name") }
            .map { String($0.split(separator: ":", maxSplits: 1).last ?? "").trimmingCharacters(in: .whitespaces) }
            ?? "?"
        var date = ISO8601DateFormatter().string(from: Date())
    }

    static func ms(_ seconds: Double) -> String {
        seconds >= 1 ? String(format: "%.2f s", seconds) : String(format: "%.2f ms", seconds * 1000)
    }

    func sizeTable() -> String {
        var lines = [
            "| services × endpoints | map elements | compile | peak RSS | apply (kernel) | +1 endpoint | −1 endpoint | +1 service | ours via nft -f | kube-proxy ≥1.36 | kube-proxy ≤1.35 |",
            "|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for row in sizes {
            func sync(_ name: String) -> String {
                row.syncs.first { $0.change == name }.map { "\(Self.ms($0.seconds)) (\($0.operations) ops)" } ?? "—"
            }
            func ratio(_ key: String) -> String {
                guard let seconds = row.baselines[key] else { return "—" }
                return "\(Self.ms(seconds)) (\(String(format: "%.0f", seconds / row.applySeconds))×)"
            }
            lines.append(
                "| \(row.services) × \(row.endpoints) | \(row.elements) | \(Self.ms(row.compileSeconds)) | \(Int(row.peakMemoryMiB)) MiB | \(Self.ms(row.applySeconds)) (\(Self.ms(row.applyKernelSeconds))) | \(sync("endpoint added")) | \(sync("endpoint removed")) | \(sync("service added")) | \(row.oursViaNft.map(Self.ms) ?? "—") | \(ratio(KubeProxyRuleset.Shape.inlineDNATMaps.rawValue)) | \(ratio(KubeProxyRuleset.Shape.perEndpointChains.rawValue)) |"
            )
        }
        return lines.joined(separator: "\n")
    }

    func text() -> String {
        var text =
            "nfcompile benchmark — \(machine.cpu), \(machine.cores) cores, \(String(format: "%.0f", machine.memoryGiB)) GiB, kernel \(machine.kernel), \(machine.nft)\n\n"
        text += inputPathTable() + "\n\n" + sizeTable() + "\n\n"
        text += "Ratios are to our full apply over netlink.\n\n"
        text += syncTable() + "\n\n"
        if !agent.isEmpty { text += agentTable() + "\n\n" }
        text += dataPlaneTable() + "\n"
        return text
    }

    /// Every sync kind at every size, end to end (kernel share), and the largest size's ratio to
    /// the 100-service reference.
    /// The agent from its inputs: start and memory, and one object change to its commit.
    func agentTable() -> String {
        var lines = [
            "| agent input | services × endpoints | first sync after start | resident after it | after the updates | one change → commit, p50 | p99 |",
            "|---|---|---|---|---|---|---|",
        ]
        for result in agent {
            let input = result.input == "api" ? "API server (test)" : "folder, a file per Service"
            lines.append(
                "| \(input) | \(result.services) × \(result.endpoints) | \(Self.ms(result.firstSyncSeconds)) | \(Int(result.residentMiB)) MiB | \(Int(result.residentAfterUpdatesMiB)) MiB (\(result.updates)) | \(Self.ms(result.updateP50Seconds)) | \(Self.ms(result.updateP99Seconds)) |"
            )
        }
        return lines.joined(separator: "\n")
    }

    func syncTable() -> String {
        let rows = (reference.map { [$0] } ?? []) + sizes.filter { $0.endpoints == reference?.endpoints ?? 10 }
        guard let largest = rows.max(by: { $0.services < $1.services }) else { return "" }
        var lines = [
            "| sync (median of each) | " + rows.map { "\($0.services) services" }.joined(separator: " | ")
                + " | \(largest.services) vs \(reference?.services ?? 0): end to end | kernel |",
            "|---|" + rows.map { _ in "---|" }.joined() + "---|---|",
        ]
        for (index, sync) in (reference ?? largest).syncs.enumerated() {
            let cells = rows.map { row in
                row.syncs.count > index
                    ? "\(Self.ms(row.syncs[index].seconds)) (\(Self.ms(row.syncs[index].kernelSeconds)))" : "—"
            }
            var ratios = "— | —"
            if let reference, largest.syncs.count > index, reference.syncs.count > index {
                let big = largest.syncs[index]
                let small = reference.syncs[index]
                ratios = String(
                    format: "%.2f× | %.2f×", big.seconds / small.seconds, big.kernelSeconds / small.kernelSeconds)
            }
            lines.append(
                "| \(sync.change), \(sync.operations) ops | " + cells.joined(separator: " | ") + " | \(ratios) |")
        }
        return lines.joined(separator: "\n")
    }

    func dataPlaneTable() -> String {
        guard !dataPlane.isEmpty else { return "" }
        var lines = [
            "| connection setup through a ClusterIP | services | bucket counts | p50 | p99 | connections |",
            "|---|---|---|---|---|---|",
        ]
        for result in dataPlane {
            lines.append(
                "| \(result.label) | \(result.services) | \(result.bucketCounts) | \(String(format: "%.1f", result.p50Microseconds)) µs | \(String(format: "%.1f", result.p99Microseconds)) µs | \(result.connections) |"
            )
        }
        return lines.joined(separator: "\n")
    }

    func json() throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return String(decoding: try encoder.encode(self), as: UTF8.self)
    }
}
