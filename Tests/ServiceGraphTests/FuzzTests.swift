import Foundation
import Manifests
import PropertyBased
import ServiceGraph
import Testing

/// Mutated manifests (the fixtures and the examples, in YAML and as JSON) through the decoder
/// and the graph builder: whatever the bytes, a result or diagnostics, never a crash or a hang.
/// A bounded run in every test run; the seed varies, so CI explores new inputs each time.
@Suite struct FuzzTests {
    static let corpus: [(name: String, text: String)] = {
        let tests = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        let rules = tests.deletingLastPathComponent().appendingPathComponent("rules")
        var files: [URL] = []
        for folder in [tests.appendingPathComponent("Fixtures/real"), tests.appendingPathComponent("Fixtures/seed")] {
            files += (try? FileManager.default.contentsOfDirectory(at: folder, includingPropertiesForKeys: nil)) ?? []
        }
        for scenario in (try? FileManager.default.contentsOfDirectory(at: rules, includingPropertiesForKeys: nil)) ?? []
        {
            files +=
                ((try? FileManager.default.contentsOfDirectory(at: scenario, includingPropertiesForKeys: nil)) ?? [])
                .filter { $0.pathExtension == "yaml" }
        }
        return files.sorted { $0.path < $1.path }.compactMap { url in
            (try? String(contentsOf: url, encoding: .utf8)).map { (url.lastPathComponent, $0) }
        } + [("list.json", Self.jsonList)]
    }()

    /// A kubectl-style List in JSON, so the JSON path is mutated too.
    static let jsonList = """
        {"apiVersion": "v1", "kind": "List", "items": [
          {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": "default"},
           "spec": {"type": "NodePort", "clusterIP": "10.96.0.20", "selector": {"app": "web"},
                    "ports": [{"name": "http", "port": 80, "targetPort": 8080, "nodePort": 30080, "protocol": "TCP"}]}},
          {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
           "metadata": {"name": "web-1", "namespace": "default", "labels": {"kubernetes.io/service-name": "web"}},
           "addressType": "IPv4", "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
           "endpoints": [{"addresses": ["10.244.1.5"], "conditions": {"ready": true}, "nodeName": "n1"}]}
        ]}
        """

    /// One mutation of a text, chosen by the genes: flip, insert, delete or duplicate bytes,
    /// lines and numbers, the usual ways of breaking YAML and JSON.
    static func mutate(_ text: String, _ genes: [Int]) -> String {
        var bytes = Array(text.utf8)
        let tokens: [[UInt8]] = [
            "\t", ":", "- ", "{", "}", "[", "]", "\"", "'", "&a", "*a", "---\n", "\n", "  ", "#",
            "99999999999999999999", "-1", "0x1F", "null", "~", "!!binary", "\u{0}", "é", "\u{FEFF}", "<<: *a",
            "2147483647", "::1", "nodePort: 22", "replicas: 100000000",
        ].map { Array($0.utf8) }
        for (step, gene) in genes.enumerated() {
            guard !bytes.isEmpty else { break }
            let position = (gene &* 7919 &+ step &* 104729) % bytes.count
            switch gene % 5 {
            case 0: bytes[position] ^= UInt8(truncatingIfNeeded: gene >> 3 | 1)
            case 1: bytes.insert(contentsOf: tokens[(gene / 5) % tokens.count], at: position)
            case 2: bytes.removeSubrange(position..<min(bytes.count, position + 1 + gene % 17))
            case 3:
                let end = min(bytes.count, position + 1 + gene % 64)
                bytes.insert(contentsOf: bytes[position..<end], at: end)
            default:
                let line = bytes[position...].firstIndex(of: 10).map { $0 + 1 } ?? bytes.count
                bytes.insert(contentsOf: Array(repeating: UInt8(32), count: gene % 9), at: min(line, bytes.count))
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    @Test func mutatedManifestsNeverCrashTheDecoderOrTheGraph() async {
        let input = Gen.int(in: 0...10_000).array(of: 1...8)
        await propertyCheck(count: 4000, input: Gen.int(in: 0...1000), input) { pick, genes in
            let (name, text) = Self.corpus[pick % Self.corpus.count]
            let mutated = Self.mutate(text, genes)
            do throws(InputError) {
                let set = try ManifestLoader.decode(mutated, file: name)
                let build = try ServiceGraph.build(from: set)
                _ = build.graph.services.count
            } catch {
                #expect(!error.errors.isEmpty, "a refusal says why")
                #expect(error.errors.allSatisfy { $0.fix != nil || $0.location != nil }, "\(error)")
            }
        }
    }
}
