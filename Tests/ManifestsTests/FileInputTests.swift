import Foundation
import Testing

@testable import Manifests

/// A file is read a piece at a time; wherever a piece ends, the result is that of the whole text.
@Suite struct FileInputTests {
    static let list = #"""
        {"apiVersion": "v1", "items": [
          {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "annotations": {"a": "caf\u00e9 \ud83d\ude00 \"q\" ☕ \\ \/"},
           "labels": {}}, "spec": {"ports": [{"name": "http", "port": 80, "targetPort": 8080}, {"name": "dns", "port": 53, "protocol": "UDP"}],
           "selector": {"app": "web"}, "publishNotReadyAddresses": true, "clusterIP": "10.96.0.10"}, "status": {"loadBalancer": {}, "conditions": []}},
          {"addressType": "IPv4", "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
           "metadata": {"name": "web-abcde", "labels": {"kubernetes.io/service-name": "web"}},
           "endpoints": [{"addresses": ["10.244.0.5"], "conditions": {"ready": true, "serving": false, "terminating": null}, "zone": "z\u00f4ne \ud83d\ude00 \"q\" ☕ \\ \/"}],
           "ports": [{"name": "http", "port": 8080}]}
        ], "kind": "List", "metadata": {"resourceVersion": ""}}
        """#

    func decode(_ text: String, step: Int) throws -> (ManifestSet, [Diagnostic]) {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("nfcompile-pieces-\(UUID()).json")
        try text.write(to: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: file) }
        let (set, diagnostics, digest) = ManifestLoader.decodeFile(file.path, step: step)
        #expect(digest == ContentDigest(text))
        let memory = ManifestLoader.decodeCollecting(text, file: file.path)
        #expect(set == memory.0, "step \(step)")
        #expect(diagnostics == memory.1, "step \(step)")
        return (set, diagnostics)
    }

    @Test("pieces of 1 to 97 bytes read the same List as the whole text", arguments: [1, 2, 3, 5, 8, 13, 31, 64, 97])
    func pieces(step: Int) throws {
        let (set, diagnostics) = try decode(Self.list, step: step)
        #expect(diagnostics.isEmpty)
        // Read, then not kept: an annotation's escapes and characters are read all the same.
        #expect(set.services.first?.meta.annotations == [:])
        #expect(set.endpointSlices.first?.endpoints.first?.zone == "zône 😀 \"q\" ☕ \\ /")
    }

    @Test("errors found in pieces are those of the whole text", arguments: [1, 4, 16])
    func errors(step: Int) throws {
        for broken in [
            Self.list.replacingOccurrences(of: "\"port\": 53,", with: "\"port\": 53,,"),
            Self.list.replacingOccurrences(of: "true, \"clusterIP\"", with: "tru, \"clusterIP\""),
            Self.list.replacingOccurrences(of: "\"prot", with: "\"pro"),
            Self.list.replacingOccurrences(of: "\\u00e9", with: "\\u00eZ"),
            String(Self.list.dropLast(3)),
            "  " + Self.list.replacingOccurrences(of: "\"port\": 80", with: "\"port\": 8e0"),
        ] {
            let (_, diagnostics) = try decode(broken, step: step)
            #expect(!diagnostics.isEmpty)
        }
    }

    @Test("an object that is not a List but has items is read again from the file")
    func itemsOfAnotherKind() throws {
        let text =
            #"{"apiVersion": "v1", "items": [{"a": 1}, {"b": 2}], "kind": "Service", "metadata": {"name": "web"}, "spec": {"ports": [{"port": 80}]}}"#
        let (_, diagnostics) = try decode(text, step: 3)
        #expect(diagnostics.map(\.message) == ["unknown field \"items\""])
    }
}
