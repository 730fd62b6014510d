import Foundation
import Testing

@testable import Manifests

/// A large List's items are decoded on a second thread, a batch at a time: whatever the batches,
/// the objects and the diagnostics are those of decoding every item on the reader's thread.
@Suite struct ListItemDecoderTests {
    /// 3,000 Services with mistakes spread over them (unknown fields, ports out of range, a null
    /// item, a kind nfcompile skips, a misspelt kind), so that diagnostics come from many batches.
    static let list: String = {
        var text = JSONFileTests.bigList(services: 3_000)
        for index in stride(from: 5, to: 3_000, by: 97) {
            text = text.replacingOccurrences(
                of: "\"name\": \"svc-\(index)\", ", with: "\"name\": \"svc-\(index)\", \"nmespace\": \"x\", ")
        }
        text = text.replacingOccurrences(
            of: "\"port\": \(80 + 42), \"targetPort\"", with: "\"port\": 70000, \"targetPort\"")
        text = text.replacingOccurrences(of: "[\n{\"apiVersion\"", with: "[\nnull,\n{\"apiVersion\"")
        text = text.replacingOccurrences(
            of: "\n], \"kind\": \"List\"",
            with:
                ",\n{\"apiVersion\": \"v1\", \"kind\": \"ConfigMap\", \"metadata\": {\"name\": \"c\"}},\n{\"apiVersion\": \"v1\", \"kind\": \"service\"}\n], \"kind\": \"List\""
        )
        return text
    }()

    func decode(_ text: String, batchNodes: Int) -> (set: ManifestSet, diagnostics: [Diagnostic], readable: Bool) {
        Array(text.utf8).withUnsafeBufferPointer {
            JSONInput.decode($0, source: SourceFile(name: "list.json"), itemBatchNodes: batchNodes)
        }
    }

    @Test(
        "batches of any size give the objects and diagnostics of decoding on one thread",
        arguments: [1, 64, 5_000, 1 << 15])
    func batchesAgree(batchNodes: Int) {
        let oneThread = decode(Self.list, batchNodes: .max)
        #expect(oneThread.set.services.count == 3_000)
        #expect(oneThread.diagnostics.count > 60)
        #expect(Set(oneThread.diagnostics.map(\.message)).contains("items[0]: empty list item"))
        #expect(oneThread.diagnostics.contains { $0.message.contains("70000") })
        #expect(oneThread.diagnostics.contains { $0.message.contains("unknown kind \"service\"") })
        let batched = decode(Self.list, batchNodes: batchNodes)
        #expect(batched.readable)
        #expect(batched.set == oneThread.set)
        #expect(batched.diagnostics == oneThread.diagnostics)
    }

    @Test("a syntax error late in a large List is the one diagnostic, however many batches were decoded before it")
    func syntaxErrorAfterBatches() {
        let broken = Self.list.replacingOccurrences(of: "\"name\": \"svc-2990\"", with: "\"name\" \"svc-2990\"")
        for batchNodes in [64, Int.max] {
            let decoded = decode(broken, batchNodes: batchNodes)
            #expect(!decoded.readable)
            #expect(decoded.set == ManifestSet())
            #expect(
                decoded.diagnostics.map(\.message) == [
                    "JSON syntax error: expected \":\" after the field name \"name\", found a string"
                ])
        }
    }
}
