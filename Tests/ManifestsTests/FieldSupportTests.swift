import Foundation
import Testing

@testable import Manifests

/// No field is dropped without a word: every field of the Service and EndpointSlice schemas is
/// listed as honoured or as irrelevant to a node proxy, and the README's table lists them all.
@Suite struct FieldSupportTests {
    /// Every leaf of a schema, as dotted paths with `[]` for list items; maps and `.any` are leaves.
    static func leaves(_ schema: Schema, _ path: String = "") -> [String] {
        switch schema {
        case .object(let fields, _):
            return fields.entries.flatMap { leaves($0.schema, path.isEmpty ? $0.name : "\(path).\($0.name)") }
        case .array(let items):
            return leaves(items, path + "[]")
        default:
            return [path]
        }
    }

    @Test(arguments: [
        ("Service", Schema.service, FieldSupport.service),
        ("EndpointSlice", Schema.endpointSlice, FieldSupport.endpointSlice),
    ])
    func everyFieldIsHonouredOrIrrelevant(_ kind: String, _ schema: Schema, _ list: [FieldSupport]) {
        let unlisted = Self.leaves(schema).filter { FieldSupport.entry(for: $0, in: list) == nil }
        #expect(unlisted.isEmpty, "\(kind) fields neither honoured nor listed as irrelevant: \(unlisted)")
        let stale = list.filter { entry in
            !Self.leaves(schema).contains { FieldSupport.entry(for: $0, in: [entry]) != nil }
        }
        #expect(stale.isEmpty, "\(kind) entries for fields the schema does not have: \(stale.map(\.path))")
    }

    @Test func theReadmeListsEveryField() throws {
        // This file is Tests/ManifestsTests/FieldSupportTests.swift.
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        let readme = try String(contentsOf: root.appendingPathComponent("README.md"), encoding: .utf8)
        for entry in FieldSupport.service + FieldSupport.endpointSlice
        where entry.path != "apiVersion" && entry.path != "kind" {
            #expect(readme.contains("`\(entry.path)`"), "README's field table lacks \(entry.path)")
        }
    }
}
