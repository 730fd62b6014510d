import Foundation
import Testing

@testable import Manifests

/// The agent reloads its folder on every change; the cache parses only what changed.
@Suite struct ManifestCacheTests {
    static func pod(_ name: String) -> String {
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: \(name)\nspec:\n  containers:\n    - name: c\n      image: i\n"
    }

    @Test func changedFilesAreParsedAgainAndRemovedOnesForgotten() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("nfcompile-cache-\(UUID())")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let a = folder.appendingPathComponent("a.yaml")
        let b = folder.appendingPathComponent("b.yaml")
        try Self.pod("a").write(to: a, atomically: true, encoding: .utf8)
        try Self.pod("b").write(to: b, atomically: true, encoding: .utf8)
        let cache = ManifestCache()

        let first = try ManifestLoader.load(paths: [folder.path], cache: cache)
        #expect(first.pods.map(\.meta.name).sorted() == ["a", "b"])
        #expect(cache.entries.count == 2)

        try Self.pod("a2").write(to: a, atomically: true, encoding: .utf8)
        let second = try ManifestLoader.load(paths: [folder.path], cache: cache)
        #expect(second.pods.map(\.meta.name).sorted() == ["a2", "b"], "the edit is seen")
        #expect(second == (try ManifestLoader.load(paths: [folder.path])), "cached and fresh loads agree")

        try "\tbroken: [".write(to: b, atomically: true, encoding: .utf8)
        #expect(throws: InputError.self) { try ManifestLoader.load(paths: [folder.path], cache: cache) }

        try FileManager.default.removeItem(at: b)
        let third = try ManifestLoader.load(paths: [folder.path], cache: cache)
        #expect(third.pods.map(\.meta.name) == ["a2"])
        #expect(
            cache.entries.keys.map { URL(fileURLWithPath: $0).lastPathComponent } == ["a.yaml"],
            "a deleted file is forgotten")
    }
}
