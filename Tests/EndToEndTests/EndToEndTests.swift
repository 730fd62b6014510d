import Foundation
import Lab
import Testing

/// Runs the built `nfcompile` binary as a user would and checks its output and exit status.
@Suite struct EndToEndTests {
    struct Outcome {
        var status: Int32
        var output: String
        var errors: String
    }

    /// The binary sits next to the test bundle in the build folder.
    static let binary: URL = {
        var directory = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        while !FileManager.default.fileExists(atPath: directory.appendingPathComponent("nfcompile").path),
            directory.path != "/"
        {
            directory.deleteLastPathComponent()
        }
        return directory.appendingPathComponent("nfcompile")
    }()

    func run(_ arguments: [String], input: String? = nil) throws -> Outcome {
        let process = Process()
        process.executableURL = Self.binary
        process.arguments = arguments
        process.currentDirectoryURL = Repository.root
        let output = Pipe()
        let errors = Pipe()
        let stdin = Pipe()
        process.standardOutput = output
        process.standardError = errors
        process.standardInput = stdin
        try process.run()
        stdin.fileHandleForWriting.write(Data((input ?? "").utf8))
        try stdin.fileHandleForWriting.close()
        let errorText = errors.fileHandleForReading.readDataToEndOfFile()
        let outputText = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Outcome(
            status: process.terminationStatus, output: String(decoding: outputText, as: UTF8.self),
            errors: String(decoding: errorText, as: UTF8.self))
    }

    @Test func dryRunPrintsTheGoldenRuleset() throws {
        let outcome = try run(["--dry-run", "rules/three-replicas"])
        #expect(outcome.status == 0, "\(outcome.errors)")
        let golden = try String(contentsOf: Repository.rules.appendingPathComponent("three-replicas/ruleset.nft"), encoding: .utf8)
        #expect(outcome.output == golden)
    }

    @Test func readsStandardInput() throws {
        let manifest = try String(
            contentsOf: Repository.rules.appendingPathComponent("three-replicas/deployment-3-replicas-and-service.yaml"),
            encoding: .utf8)
        let outcome = try run(["--dry-run", "-"], input: manifest)
        #expect(outcome.status == 0, "\(outcome.errors)")
        #expect(outcome.output.contains("goto lb-3"))
    }

    static let seedFiles: [String] = {
        guard let seed = try? Repository.sharedData("seed") else { return [] }
        return ((try? FileManager.default.contentsOfDirectory(atPath: seed.path)) ?? []).sorted()
    }()

    @Test func seedDataIsThere() throws {
        _ = try Repository.sharedData("seed")
        #expect(Self.seedFiles.count == 14)
    }

    /// The tutorial's manifests as published are tab-indented: each is refused with its file,
    /// line and a fix, nothing on stdout, and a non-zero status.
    @Test(arguments: seedFiles)
    func seedFileAsPublishedIsRejected(_ file: String) throws {
        let path = try Repository.sharedData("seed/\(file)").path
        let outcome = try run(["--dry-run", path])
        #expect(outcome.status == 1)
        #expect(outcome.output.isEmpty, "no ruleset for bad input")
        #expect(outcome.errors.contains("\(file):"), "names the file: \(outcome.errors)")
        #expect(outcome.errors.range(of: #":\d+:\d+: error:"#, options: .regularExpression) != nil, "line and column: \(outcome.errors)")
        #expect(outcome.errors.contains("fix:"), "says what to do: \(outcome.errors)")
    }

    @Test func unknownFieldGetsADidYouMean() throws {
        let outcome = try run(["--dry-run", "-"], input: """
            apiVersion: v1
            kind: Service
            metadata:
              name: mysql
            spec:
              seletor:
                app: mysql
              ports:
                - port: 3306
            """)
        #expect(outcome.status == 1)
        #expect(outcome.errors.contains("<stdin>:6:3"), "\(outcome.errors)")
        #expect(outcome.errors.contains("spec.seletor") && outcome.errors.contains("selector"), "\(outcome.errors)")
    }

    @Test func applyingIsRefusedWithoutDryRunUntilNetlinkExists() throws {
        let outcome = try run(["rules/three-replicas"])
        #expect(outcome.status != 0)
        #expect(outcome.errors.contains("--dry-run"))
    }

    @Test func badOptionValuesAreUsageErrors() throws {
        let outcome = try run(["--dry-run", "--service-cidr", "10.96.0.1/12", "rules/three-replicas"])
        #expect(outcome.status == 64, "ArgumentParser's usage-error status")
        #expect(outcome.output.isEmpty)
    }

    @Test func optionsChangeTheRuleset() throws {
        let outcome = try run([
            "--dry-run", "--table", "kp", "--node-ip", "192.0.2.10", "--cluster-cidr", "10.200.0.0/16",
            "rules/petclinic-nodeport",
        ])
        #expect(outcome.status == 0, "\(outcome.errors)")
        #expect(outcome.output.contains("table ip kp {"))
        #expect(outcome.output.contains("ip daddr @nodeport-ips"))
        #expect(outcome.output.contains("ip saddr != 10.200.0.0/16"))
    }
}
