import Foundation

/// The results: a table for people, JSON for machines, with the machine they ran on.
struct Report: Codable {
    struct Sync: Codable {
        var change: String
        var seconds: Double
        var operations: Int
        var kernelSeconds: Double
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
        var cpu = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8))?
            .split(separator: "\n").first { $0.hasPrefix("model name") }
            .map { String($0.split(separator: ":", maxSplits: 1).last ?? "").trimmingCharacters(in: .whitespaces) } ?? "?"
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
            func sync(_ index: Int) -> String {
                row.syncs.count > index ? "\(Self.ms(row.syncs[index].seconds)) (\(row.syncs[index].operations) ops)" : "—"
            }
            func ratio(_ key: String) -> String {
                guard let seconds = row.baselines[key] else { return "—" }
                return "\(Self.ms(seconds)) (\(String(format: "%.0f", seconds / row.applySeconds))×)"
            }
            lines.append(
                "| \(row.services) × \(row.endpoints) | \(row.elements) | \(Self.ms(row.compileSeconds)) | \(Int(row.peakMemoryMiB)) MiB | \(Self.ms(row.applySeconds)) (\(Self.ms(row.applyKernelSeconds))) | \(sync(0)) | \(sync(1)) | \(sync(2)) | \(row.oursViaNft.map(Self.ms) ?? "—") | \(ratio(KubeProxyRuleset.Shape.inlineDNATMaps.rawValue)) | \(ratio(KubeProxyRuleset.Shape.perEndpointChains.rawValue)) |"
            )
        }
        return lines.joined(separator: "\n")
    }

    func text() -> String {
        var text = "nfcompile benchmark — \(machine.cpu), \(machine.cores) cores, \(String(format: "%.0f", machine.memoryGiB)) GiB, kernel \(machine.kernel), \(machine.nft)\n\n"
        text += inputPathTable() + "\n\n" + sizeTable() + "\n\n"
        text += "Ratios are to our full apply over netlink. Syncs: changed services → incremental compile → committed (kernel share in the JSON).\n"
        if let reference, let big = sizes.first(where: { $0.services == 10_000 }) {
            for (small, large) in zip(reference.syncs, big.syncs) {
                text += "\(small.change): \(Self.ms(large.seconds)) at 10,000 services vs \(Self.ms(small.seconds)) at 100 (\(String(format: "%.1f", large.seconds / small.seconds))×)\n"
            }
        }
        for result in dataPlane {
            text += "data plane, \(result.services) services: connect p50 \(Int(result.p50Microseconds)) µs, p99 \(Int(result.p99Microseconds)) µs over \(result.connections) connections\n"
        }
        return text
    }

    func json() throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return String(decoding: try encoder.encode(self), as: UTF8.self)
    }
}
