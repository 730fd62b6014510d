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

    static var binary: URL { Repository.binary }

    func run(_ arguments: [String], input: String? = nil) throws -> Outcome {
        try runCommand([Self.binary.path] + arguments, input: input)
    }

    func runCommand(_ command: [String], input: String? = nil) throws -> Outcome {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = command
        process.currentDirectoryURL = Repository.root
        let output = Pipe()
        let errors = Pipe()
        let stdin = Pipe()
        process.standardOutput = output
        process.standardError = errors
        process.standardInput = stdin
        defer {
            try? output.fileHandleForReading.close()
            try? errors.fileHandleForReading.close()
        }
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
        let golden = try String(
            contentsOf: Repository.rules.appendingPathComponent("three-replicas/ruleset.nft"), encoding: .utf8)
        #expect(outcome.output == golden)
    }

    @Test func readsStandardInput() throws {
        let manifest = try String(
            contentsOf: Repository.rules.appendingPathComponent(
                "three-replicas/deployment-3-replicas-and-service.yaml"),
            encoding: .utf8)
        let outcome = try run(["--dry-run", "-"], input: manifest)
        #expect(outcome.status == 0, "\(outcome.errors)")
        #expect(outcome.output.contains("goto lb-3"))
    }

    static let seedFiles: [String] = {
        guard let seed = try? Repository.fixture("seed") else { return [] }
        return ((try? FileManager.default.contentsOfDirectory(atPath: seed.path)) ?? []).sorted()
    }()

    @Test func seedDataIsThere() throws {
        _ = try Repository.fixture("seed")
        #expect(Self.seedFiles.count == 14)
    }

    /// The tutorial's manifests as published are tab-indented: each is refused with its file,
    /// line and a fix, nothing on stdout, and a non-zero status.
    @Test(arguments: seedFiles)
    func seedFileAsPublishedIsRejected(_ file: String) throws {
        let path = try Repository.fixture("seed/\(file)").path
        let outcome = try run(["--dry-run", path])
        #expect(outcome.status == 1)
        #expect(outcome.output.isEmpty, "no ruleset for bad input")
        #expect(outcome.errors.contains("\(file):"), "names the file: \(outcome.errors)")
        #expect(
            outcome.errors.range(of: #":\d+:\d+: error:"#, options: .regularExpression) != nil,
            "line and column: \(outcome.errors)")
        #expect(outcome.errors.contains("fix:"), "says what to do: \(outcome.errors)")
    }

    @Test func unknownFieldGetsADidYouMean() throws {
        let outcome = try run(
            ["--dry-run", "-"],
            input: """
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

    /// apply, show and flush over netlink, run as a user would, inside a throwaway namespace.
    @Test func applyShowFlushInANetworkNamespace() throws {
        let lab = try NetworkLab()
        defer { lab.tearDown() }
        let inNode = ["ip", "netns", "exec", lab.nodeNamespace, Self.binary.path]
        let applied = try runCommand(inNode + ["apply", "rules/petclinic-mysql"])
        #expect(applied.status == 0, "\(applied.errors)")
        #expect(applied.errors.contains("applied table nfcompile: 2 services"))

        let shown = try runCommand(inNode + ["show"])
        let dryRun = try run(["--dry-run", "rules/petclinic-mysql"])
        // The dry run starts with the two lines that make `nft -f` replace the table.
        let table = dryRun.output.split(separator: "\n", maxSplits: 2, omittingEmptySubsequences: false)[2]
        #expect(shown.status == 0 && shown.output == String(table), "show prints what --dry-run printed")

        let flushed = try runCommand(inNode + ["flush"])
        #expect(flushed.status == 0)
        #expect(try lab.node("nft", "list", "tables").isEmpty)
        let again = try runCommand(inNode + ["show"])
        #expect(again.status == 1 && again.errors.contains("no table named nfcompile"))
    }

    @Test func withoutPrivilegesTheErrorSaysSoAndSuggestsDryRun() throws {
        let lab = try NetworkLab()
        defer { lab.tearDown() }
        let outcome = try runCommand([
            "ip", "netns", "exec", lab.nodeNamespace, "setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
            Self.binary.path, "apply", "rules/petclinic-mysql",
        ])
        #expect(outcome.status == 1)
        #expect(
            outcome.errors.contains("permission denied") && outcome.errors.contains("--dry-run"), "\(outcome.errors)")
    }

    @Test func badInputAppliesNothing() throws {
        let lab = try NetworkLab()
        defer { lab.tearDown() }
        let inNode = ["ip", "netns", "exec", lab.nodeNamespace, Self.binary.path]
        #expect(try runCommand(inNode + ["apply", "rules/three-replicas"]).status == 0)
        let before = try lab.node("nft", "list", "ruleset")
        let seed = try Repository.fixture("seed/08-mysql-clusterip-service.yaml").path
        let outcome = try runCommand(inNode + ["apply", seed])
        #expect(outcome.status == 1 && outcome.errors.contains("nothing was compiled or applied"))
        #expect(try lab.node("nft", "list", "ruleset") == before, "the kernel keeps its last good ruleset")
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

    /// A 0-byte file (a failed `kubectl get … > file`) is refused, not applied as "no Services".
    @Test func anEmptyInputIsRefusedAndAppliesNothing() throws {
        let lab = try NetworkLab()
        defer { lab.tearDown() }
        let inNode = ["ip", "netns", "exec", lab.nodeNamespace, Self.binary.path]
        #expect(try runCommand(inNode + ["apply", "rules/three-replicas"]).status == 0)
        let before = try lab.node("nft", "list", "ruleset")
        let empty = FileManager.default.temporaryDirectory.appendingPathComponent("nfcompile-empty-\(UUID()).yaml")
        try Data().write(to: empty)
        defer { try? FileManager.default.removeItem(at: empty) }
        let outcome = try runCommand(inNode + ["apply", empty.path])
        #expect(outcome.status == 1 && outcome.errors.contains("holds no Kubernetes objects"), "\(outcome.errors)")
        #expect(try run(["--dry-run", "-"], input: "").status == 1)
        #expect(try lab.node("nft", "list", "ruleset") == before)
    }

    /// An input with objects but no Service would remove every Service: only on request.
    @Test func removingEveryServiceNeedsAnExplicitFlag() throws {
        let lab = try NetworkLab()
        defer { lab.tearDown() }
        let inNode = ["ip", "netns", "exec", lab.nodeNamespace, Self.binary.path]
        #expect(try runCommand(inNode + ["apply", "rules/three-replicas"]).status == 0)
        let before = try lab.node("nft", "list", "ruleset")
        let podsOnly = """
            apiVersion: v1
            kind: Pod
            metadata:
              name: lonely
            spec:
              containers:
                - name: app
                  image: example/app:1
            """
        let refused = try runCommand(inNode + ["apply", "-"], input: podsOnly)
        #expect(refused.status == 1 && refused.errors.contains("--allow-no-services"), "\(refused.errors)")
        #expect(try lab.node("nft", "list", "ruleset") == before)
        let allowed = try runCommand(inNode + ["apply", "--allow-no-services", "-"], input: podsOnly)
        #expect(allowed.status == 0, "\(allowed.errors)")
        #expect(try lab.node("nft", "list", "ruleset") != before)
    }

    @Test func aNodePortThatWouldHijackSSHIsRefusedAtItsLine() throws {
        let manifest = """
            apiVersion: v1
            kind: Service
            metadata:
              name: ssh
            spec:
              type: NodePort
              selector:
                app: ssh
              ports:
                - port: 22
                  nodePort: 22
            """
        let outcome = try run(["--dry-run", "-"], input: manifest)
        #expect(outcome.status == 1 && outcome.output.isEmpty)
        #expect(outcome.errors.contains("<stdin>:11:") && outcome.errors.contains("30000-32767"), "\(outcome.errors)")
        let wider = try run(["--dry-run", "--service-node-port-range", "20-32767", "-"], input: manifest)
        #expect(wider.status == 0, "\(wider.errors)")
    }

    @Test func skippedFolderEntriesAreNamedInAWarning() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("nfcompile-skipped-\(UUID())")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        try FileManager.default.copyItem(
            at: Repository.rules.appendingPathComponent("three-replicas/deployment-3-replicas-and-service.yaml"),
            to: folder.appendingPathComponent("app.yaml"))
        try FileManager.default.createSymbolicLink(
            atPath: folder.appendingPathComponent("gone.yaml").path, withDestinationPath: "/nonexistent.yaml")
        try FileManager.default.createSymbolicLink(
            atPath: folder.appendingPathComponent("loop").path, withDestinationPath: ".")
        let outcome = try run(["--dry-run", folder.path])
        #expect(outcome.status == 0, "\(outcome.errors)")
        #expect(outcome.errors.contains("gone.yaml") && outcome.errors.contains("does not exist"), "\(outcome.errors)")
        #expect(outcome.errors.contains("loop") && outcome.errors.contains("read already"), "\(outcome.errors)")
    }
}
