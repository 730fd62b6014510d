import Pipeline
import Agent
import Compiler
import Foundation
import Lab
import Netlink
import Ruleset
import Testing

/// The sync logic against a model of the kernel: no namespaces, no timing.
@Suite struct SynchronizerTests {
    /// A manifests folder with the three-replicas scenario, removed afterwards.
    final class Folder {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("nfcompile-sync-\(UUID())")

        init(scenario: String = "three-replicas") throws {
            try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
            for file in try FileManager.default.contentsOfDirectory(at: Repository.rules.appendingPathComponent(scenario), includingPropertiesForKeys: nil)
            where file.pathExtension == "yaml" {
                try FileManager.default.copyItem(at: file, to: url.appendingPathComponent(file.lastPathComponent))
            }
        }

        deinit { try? FileManager.default.removeItem(at: url) }

        func write(_ name: String, _ text: String) throws {
            try text.write(to: url.appendingPathComponent(name), atomically: true, encoding: .utf8)
        }

        func desired() throws -> Ruleset { try CompiledInput(paths: [url.path]).ruleset }
    }

    static let extraPod = """
        apiVersion: v1
        kind: Pod
        metadata:
          name: petclinic-extra
          labels:
            app: petclinic
        spec:
          containers:
            - name: petclinic
              image: spring2go/spring-petclinic:1.0.1.RELEASE
        """

    @Test func firstSyncWritesTheTableAndASecondChangesNothing() throws {
        let folder = try Folder()
        let store = ModelRulesetStore()
        let synchronizer = Synchronizer(configuration: AgentConfiguration(manifests: folder.url.path), store: store)
        let first = try synchronizer.sync(.partial)
        #expect(first.kind == .full, "the first sync reads the kernel")
        #expect(first.operations > 0)
        #expect(try store.read(tableName: "nfcompile").canonical == folder.desired().canonical)
        let second = try synchronizer.sync(.partial)
        #expect(second.operations == 0)
        #expect(store.commits == 1)
    }

    @Test func aNewPodIsAPartialSyncOfAFewElements() throws {
        let folder = try Folder()
        let store = ModelRulesetStore()
        let synchronizer = Synchronizer(configuration: AgentConfiguration(manifests: folder.url.path), store: store)
        _ = try synchronizer.sync(.full)
        try folder.write("extra.yaml", Self.extraPod)
        let report = try synchronizer.sync(.partial)
        #expect(report.kind == .partial)
        // The service goes from 3 to 4 buckets, a count nothing else uses: a new bucket map
        // endpoints-4, bit set bucket-bit-4 and leaf chain lb-4 (its rule), the dispatch chain lb
        // rewritten (flush, 2 rules); the frontend leaves bucket-bit-1 and -2 and joins -4, its 3
        // buckets move to 4 in the new map, one hairpin element; and lb-3, endpoints-3 and the
        // two bit sets, used by nothing any more, removed.
        #expect(report.operations <= 18, "\(report)")
        #expect(report.elementsAdded <= 6 && report.elementsRemoved <= 5, "\(report)")
        #expect(try store.read(tableName: "nfcompile").canonical == folder.desired().canonical)
    }

    @Test func badInputKeepsTheLastGoodRulesetInTheKernel() throws {
        let folder = try Folder()
        let store = ModelRulesetStore()
        let synchronizer = Synchronizer(configuration: AgentConfiguration(manifests: folder.url.path), store: store)
        _ = try synchronizer.sync(.full)
        let good = try store.read(tableName: "nfcompile")
        try folder.write("broken.yaml", "apiVersion: v1\nkind: Service\nmetadata:\n  name: x\nspec:\n  seletor: {}\n")
        let report = try synchronizer.sync(.partial)
        #expect(report.inputErrors.contains { $0.message.contains("spec.seletor") })
        #expect(report.operations == 0)
        #expect(try store.read(tableName: "nfcompile") == good)
        #expect(store.commits == 1)
    }

    @Test func aRestartWithBrokenInputDoesNotTouchTheKernel() throws {
        let folder = try Folder()
        let store = ModelRulesetStore()
        _ = try Synchronizer(configuration: AgentConfiguration(manifests: folder.url.path), store: store).sync(.full)
        try folder.write("broken.yaml", "\tkind: Pod\n")
        let restarted = Synchronizer(configuration: AgentConfiguration(manifests: folder.url.path), store: store)
        let report = try restarted.sync(.full)
        #expect(!report.inputErrors.isEmpty && report.operations == 0)
        #expect(store.commits == 1)
    }

    @Test func aRestartChangesNothing() throws {
        let folder = try Folder()
        let store = ModelRulesetStore()
        _ = try Synchronizer(configuration: AgentConfiguration(manifests: folder.url.path), store: store).sync(.full)
        let restarted = Synchronizer(configuration: AgentConfiguration(manifests: folder.url.path), store: store)
        #expect(try restarted.sync(.full).operations == 0)
        #expect(store.commits == 1)
    }

    @Test func aFullSyncRepairsWhatSomeoneElseDeleted() throws {
        let folder = try Folder()
        let store = ModelRulesetStore()
        let synchronizer = Synchronizer(configuration: AgentConfiguration(manifests: folder.url.path), store: store)
        _ = try synchronizer.sync(.full)
        store.tamper { ruleset in
            let set = ruleset.tables[0].sets.firstIndex { $0.name == "endpoints-3" }!
            ruleset.tables[0].sets[set].elements.removeFirst()
        }
        let report = try synchronizer.sync(.full)
        #expect(report.repairedDrift)
        #expect(report.elementsAdded == 1 && report.operations == 1)
        #expect(try store.read(tableName: "nfcompile").canonical == folder.desired().canonical)
        store.tamper { $0.tables.removeAll() }
        #expect(try synchronizer.sync(.full).repairedDrift)
        #expect(try store.read(tableName: "nfcompile").canonical == folder.desired().canonical)
    }

    @Test func aPartialSyncAfterAForeignCommitFallsBackToAFullOne() throws {
        let folder = try Folder()
        let store = ModelRulesetStore()
        let synchronizer = Synchronizer(configuration: AgentConfiguration(manifests: folder.url.path), store: store)
        _ = try synchronizer.sync(.full)
        store.tamper { $0.tables.removeAll() }  // the generation moves
        try folder.write("extra.yaml", Self.extraPod)
        let report = try synchronizer.sync(.partial)
        #expect(report.kind == .full, "the generation guard refused the partial commit")
        #expect(try store.read(tableName: "nfcompile").canonical == folder.desired().canonical)
    }
}
