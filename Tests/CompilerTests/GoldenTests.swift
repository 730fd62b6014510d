import Compiler
import Foundation
import Lab
import Manifests
import Pipeline
import Ruleset
import Testing

/// Every scenario in rules/ compiles to the ruleset checked in beside it (`ruleset.nft`), and
/// nft accepts it. Re-record on purpose with NFCOMPILE_RECORD=1, then review the diff like code.
@Suite struct GoldenTests {
    static let scenarios = (try? Repository.scenarios().map(\.lastPathComponent)) ?? []

    @Test func thereAreScenarios() {
        #expect(Self.scenarios.count >= 7, "rules/ should hold the seed scenarios")
    }

    @Test(arguments: scenarios)
    func scenarioMatchesGolden(_ name: String) throws {
        let directory = Repository.rules.appendingPathComponent(name)
        let text = try CompiledInput(paths: [directory.path]).ruleset.nftText()
        let golden = directory.appendingPathComponent("ruleset.nft")
        if Repository.isRecording {
            try text.write(to: golden, atomically: true, encoding: .utf8)
        }
        let expected = try String(contentsOf: golden, encoding: .utf8)
        #expect(
            text == expected, "rules/\(name)/ruleset.nft is out of date: review, then re-record with NFCOMPILE_RECORD=1"
        )
        try NftCheck.validate(expected)
    }

    @Test(arguments: scenarios)
    func fileOrderDoesNotMatter(_ name: String) throws {
        let directory = Repository.rules.appendingPathComponent(name)
        let files = try FileManager.default.contentsOfDirectory(atPath: directory.path)
            .filter { $0.hasSuffix(".yaml") }.sorted().map { directory.appendingPathComponent($0).path }
        let forward = try CompiledInput(paths: files).ruleset.nftText()
        let backward = try CompiledInput(paths: files.reversed()).ruleset.nftText()
        let again = try CompiledInput(paths: files).ruleset.nftText()
        #expect(forward == backward)
        #expect(forward == again)
    }

    @Test(arguments: ["real/bookinfo.yaml", "real/microservices-demo.yaml"])
    func publishedSampleApplicationsCompile(_ path: String) throws {
        let compiled = try CompiledInput(paths: [try Repository.fixture(path).path])
        #expect(compiled.graph.services.count >= 4)
        #expect(
            compiled.graph.services.allSatisfy { $0.ports.allSatisfy { !$0.endpoints.isEmpty } },
            "every Service of the sample selects a Deployment")
        try NftCheck.validate(compiled.ruleset.nftText())
    }
}
