import Agent
import Compiler
import Foundation
import Lab
import Netlink
import Pipeline
import Ruleset
import TestSupport
import Testing

/// The sync logic against a model of the kernel: no namespaces, no timing.
@Suite struct SynchronizerTests {
    /// A manifests folder with the three-replicas scenario, removed afterwards.
    final class Folder {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("nfcompile-sync-\(UUID())")

        init(scenario: String = "three-replicas") throws {
            try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
            for file in try FileManager.default.contentsOfDirectory(
                at: Repository.rules.appendingPathComponent(scenario), includingPropertiesForKeys: nil)
            where file.pathExtension == "yaml" {
                try FileManager.default.copyItem(at: file, to: url.appendingPathComponent(file.lastPathComponent))
            }
        }

        deinit { try? FileManager.default.removeItem(at: url) }

        /// Writes a file; returns its path, as the watcher reports it.
        @discardableResult
        func write(_ name: String, _ text: String) throws -> String {
            try text.write(to: url.appendingPathComponent(name), atomically: true, encoding: .utf8)
            return url.appendingPathComponent(name).path
        }

        func remove(_ name: String) throws -> String {
            try FileManager.default.removeItem(at: url.appendingPathComponent(name))
            return url.appendingPathComponent(name).path
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

    /// A Service whose two endpoints are hinted for zone-1 and zone-2.
    static let zoned = """
        apiVersion: v1
        kind: Service
        metadata: {name: zoned}
        spec:
          trafficDistribution: PreferClose
          ports: [{name: http, port: 80, targetPort: 8080}]
        ---
        apiVersion: discovery.k8s.io/v1
        kind: EndpointSlice
        metadata:
          name: zoned-1
          labels: {kubernetes.io/service-name: zoned}
        addressType: IPv4
        ports: [{name: http, port: 8080, protocol: TCP}]
        endpoints:
          - addresses: [10.244.7.1]
            zone: zone-1
            hints: {forZones: [{name: zone-1}]}
          - addresses: [10.244.7.2]
            zone: zone-2
            hints: {forZones: [{name: zone-2}]}
        """

    @Test func aZoneChangeCompilesTheWholeTableAgain() throws {
        let folder = try Folder()
        try folder.write("zoned.yaml", Self.zoned)
        let store = ModelRulesetStore()
        let synchronizer = Synchronizer(configuration: AgentConfiguration(manifests: folder.url.path), store: store)
        _ = try synchronizer.sync(.full)
        #expect(synchronizer.nodeZoneChanged("zone-1"))
        #expect(!synchronizer.nodeZoneChanged("zone-1"), "the same zone again changes nothing")
        let report = try synchronizer.sync(Synchronizer.Work())
        #expect(report.kind == .full, "\(report)")
        let inZone = try CompiledInput(paths: [folder.url.path], compilerOptions: CompilerOptions(zone: "zone-1"))
        #expect(try store.read(tableName: "nfcompile").canonical == inZone.ruleset.canonical)
        #expect(inZone.ruleset.canonical != (try folder.desired().canonical), "the zone chose other endpoints")
        let afterwards = try synchronizer.sync(Synchronizer.Work())
        #expect(afterwards.kind == .partial && afterwards.operations == 0)
    }

    @Test func firstSyncWritesTheTableAndASecondChangesNothing() throws {
        let folder = try Folder()
        let store = ModelRulesetStore()
        let synchronizer = Synchronizer(configuration: AgentConfiguration(manifests: folder.url.path), store: store)
        let first = try synchronizer.sync(Synchronizer.Work())
        #expect(first.kind == .full, "the first sync reads the kernel")
        #expect(first.operations > 0)
        #expect(try store.read(tableName: "nfcompile").canonical == folder.desired().canonical)
        let second = try synchronizer.sync(Synchronizer.Work())
        #expect(second.operations == 0)
        #expect(store.commits == 1)
    }

    @Test func aNewPodIsAPartialSyncOfAFewElements() throws {
        let folder = try Folder()
        let store = ModelRulesetStore()
        let synchronizer = Synchronizer(configuration: AgentConfiguration(manifests: folder.url.path), store: store)
        _ = try synchronizer.sync(.full)
        let extra = try folder.write("extra.yaml", Self.extraPod)
        let report = try synchronizer.sync(Synchronizer.Work(paths: [extra]))
        #expect(report.kind == .partial)
        // The service goes from 3 to 4 buckets, a count nothing else uses: a new bucket map
        // endpoints-4, bit set bucket-bit-4 and leaf chain lb-4 (its rule), the dispatch chain lb
        // rewritten (flush, 5 rules: the local-policy detour, two masquerade markings, the
        // affinity lookup and the goto); the frontend leaves bucket-bit-1 and -2 and joins -4, its 3
        // buckets move to 4 in the new map, one hairpin element; and lb-3, endpoints-3 and the
        // two bit sets, used by nothing any more, removed.
        #expect(report.operations <= 21, "\(report)")
        #expect((report.outcome?.elementsAdded ?? 0) <= 6 && (report.outcome?.elementsRemoved ?? 0) <= 5, "\(report)")
        #expect(try store.read(tableName: "nfcompile").canonical == folder.desired().canonical)
    }

    @Test func badInputKeepsTheLastGoodRulesetInTheKernel() throws {
        let folder = try Folder()
        let store = ModelRulesetStore()
        let synchronizer = Synchronizer(configuration: AgentConfiguration(manifests: folder.url.path), store: store)
        _ = try synchronizer.sync(.full)
        let good = try store.read(tableName: "nfcompile")
        let broken = try folder.write(
            "broken.yaml", "apiVersion: v1\nkind: Service\nmetadata:\n  name: x\nspec:\n  seletor: {}\n")
        let report = try synchronizer.sync(Synchronizer.Work(paths: [broken]))
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
        #expect(report.outcome?.repair == .drift)
        #expect(report.outcome?.elementsAdded == 1 && report.operations == 1)
        #expect(try store.read(tableName: "nfcompile").canonical == folder.desired().canonical)
        store.tamper { $0.tables.removeAll() }
        #expect(try synchronizer.sync(.full).outcome?.repair == .drift)
        #expect(try store.read(tableName: "nfcompile").canonical == folder.desired().canonical)
    }

    @Test func aPartialSyncAfterAForeignCommitFallsBackToAFullOne() throws {
        let folder = try Folder()
        let store = ModelRulesetStore()
        let synchronizer = Synchronizer(configuration: AgentConfiguration(manifests: folder.url.path), store: store)
        _ = try synchronizer.sync(.full)
        store.tamper { $0.tables.removeAll() }  // the generation moves
        let extra = try folder.write("extra.yaml", Self.extraPod)
        let report = try synchronizer.sync(Synchronizer.Work(paths: [extra]))
        #expect(report.kind == .full, "the generation guard refused the partial commit")
        #expect(report.outcome?.repair == .drift, "the deleted table is a repair, beside the new pod")
        #expect(try store.read(tableName: "nfcompile").canonical == folder.desired().canonical)
    }

    @Test func aKnownFileThatBreaksKeepsItsObjectsWhileOthersMoveOn() throws {
        let folder = try Folder()
        let store = ModelRulesetStore()
        let synchronizer = Synchronizer(configuration: AgentConfiguration(manifests: folder.url.path), store: store)
        _ = try synchronizer.sync(.full)
        let good = try store.read(tableName: "nfcompile")
        let service = try folder.write(
            "deployment-3-replicas-and-service.yaml", "apiVersion: v1\nkind: Service\n\tbroken")
        let extra = try folder.write("extra.yaml", Self.extraPod)
        let report = try synchronizer.sync(Synchronizer.Work(paths: [service, extra]))
        #expect(report.inputErrors.isEmpty)
        #expect(
            report.warnings.contains { $0.message.contains("last good objects stay") && $0.location?.file == service })
        #expect(report.operations > 0, "the new pod went in")
        #expect(try store.read(tableName: "nfcompile") != good)
        #expect(try store.read(tableName: "nfcompile").canonical.nftText().contains("petclinic-extra"))
    }

    @Test func aTruncatedFileKeepsItsObjects() throws {
        let folder = try Folder()
        let store = ModelRulesetStore()
        let synchronizer = Synchronizer(configuration: AgentConfiguration(manifests: folder.url.path), store: store)
        _ = try synchronizer.sync(.full)
        let good = try store.read(tableName: "nfcompile")
        let file = try folder.write("deployment-3-replicas-and-service.yaml", "")
        let report = try synchronizer.sync(Synchronizer.Work(paths: [file]))
        #expect(report.operations == 0 && report.inputErrors.isEmpty)
        #expect(report.warnings.contains { $0.message.contains("empty") })
        #expect(try store.read(tableName: "nfcompile") == good)
    }

    @Test func deletingAFileRemovesItsServicesButNotTheLastOne() throws {
        let folder = try Folder(scenario: "petclinic-mysql")
        let store = ModelRulesetStore()
        let synchronizer = Synchronizer(configuration: AgentConfiguration(manifests: folder.url.path), store: store)
        _ = try synchronizer.sync(.full)
        let files = try FileManager.default.contentsOfDirectory(atPath: folder.url.path).sorted()
        let removed = try folder.remove(files[0])
        let report = try synchronizer.sync(Synchronizer.Work(paths: [removed]))
        #expect(report.operations > 0 && report.inputErrors.isEmpty)
        #expect(try store.read(tableName: "nfcompile").canonical == folder.desired().canonical)
        // Emptying the folder entirely is refused: the rules stay until `nfcompile flush`.
        let kept = try store.read(tableName: "nfcompile")
        let rest = try files.dropFirst().map { try folder.remove($0) }
        let emptied = try synchronizer.sync(Synchronizer.Work(paths: Set(rest)))
        #expect(emptied.inputErrors.contains { $0.message.contains("holds no Kubernetes objects") })
        #expect(try store.read(tableName: "nfcompile") == kept)
    }

    @Test func theFolderGoneKeepsTheRulesAndItsReturnIsRead() throws {
        let folder = try Folder()
        let store = ModelRulesetStore()
        let synchronizer = Synchronizer(configuration: AgentConfiguration(manifests: folder.url.path), store: store)
        _ = try synchronizer.sync(.full)
        let good = try store.read(tableName: "nfcompile")
        let saved = folder.url.deletingLastPathComponent().appendingPathComponent("saved-\(UUID())")
        try FileManager.default.moveItem(at: folder.url, to: saved)
        defer { try? FileManager.default.removeItem(at: saved) }
        let gone = try synchronizer.sync(Synchronizer.Work(rescan: true))
        #expect(gone.inputErrors.contains { $0.message.contains("is gone") })
        #expect(try store.read(tableName: "nfcompile") == good)
        try FileManager.default.copyItem(at: saved, to: folder.url)
        try folder.write("extra.yaml", Self.extraPod)
        let back = try synchronizer.sync(Synchronizer.Work(rescan: true))
        #expect(back.inputErrors.isEmpty && back.operations > 0)
        #expect(try store.read(tableName: "nfcompile").canonical == folder.desired().canonical)
    }

    @Test func aBrokenFileDeletedStopsBlocking() throws {
        let folder = try Folder()
        let store = ModelRulesetStore()
        let synchronizer = Synchronizer(configuration: AgentConfiguration(manifests: folder.url.path), store: store)
        _ = try synchronizer.sync(.full)
        let broken = try folder.write("broken.yaml", "\tkind: Pod\n")
        #expect(try !synchronizer.sync(Synchronizer.Work(paths: [broken])).inputErrors.isEmpty)
        let removed = try folder.remove("broken.yaml")
        #expect(try synchronizer.sync(Synchronizer.Work(paths: [removed])).inputErrors.isEmpty)
        try folder.write("broken.yaml", "\tkind: Pod\n")
        #expect(try !synchronizer.sync(.full).inputErrors.isEmpty)
        _ = try folder.remove("broken.yaml")
        #expect(try synchronizer.sync(.full).inputErrors.isEmpty, "a rescan forgets a file that is gone")
    }
}
