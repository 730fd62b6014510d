import Compiler
import Manifests
import Netlink
import Ruleset
import ServiceGraph

/// One sync: compile the manifests, diff against what the kernel holds, commit the difference.
///
/// A partial sync compiles only the services that changed since our last commit (the
/// incremental compiler), trusting that nobody touched the table since: the generation guard
/// checks it, and a refused commit becomes a full sync. A full sync diffs the whole compiled
/// ruleset against a fresh kernel dump, so anything someone else changed is repaired. Bad input
/// never reaches the kernel: the last good ruleset stays.
public final class Synchronizer {
    public enum Kind: String, Sendable { case full, partial }

    public struct Report: Sendable {
        public var kind: Kind
        /// Operations committed (0 when the kernel already held the desired ruleset).
        public var operations: Int
        public var elementsAdded: Int
        public var elementsRemoved: Int
        /// The kernel held something else than our last commit: someone changed our table.
        public var repairedDrift: Bool
        /// UDP conntrack entries deleted because their endpoint went away.
        public var staleFlowsDeleted: Int
        /// Why stale flows could not be deleted, if they could not (they then expire on their own).
        public var conntrackError: String?
        /// Set when the input had errors; the last good ruleset was used.
        public var inputErrors: [Diagnostic]
        /// Warnings of a successful compile.
        public var warnings: [Diagnostic]
        public var services: Int
        public var duration: Duration
    }

    private let configuration: AgentConfiguration
    private let store: RulesetStore
    private let clock = ContinuousClock()
    /// The graph whose ruleset our last commit put in the kernel, and that commit's generation.
    private var committedGraph: ServiceGraph?
    public private(set) var appliedGeneration: UInt32?
    /// Tracks `committedGraph`, so that a partial sync compiles only what changed.
    private var incremental: IncrementalCompiler
    private var lastGoodGraph: ServiceGraph?
    /// Files parsed before: only those whose text changed are parsed again.
    private let manifestCache = ManifestCache()

    public init(configuration: AgentConfiguration, store: RulesetStore) {
        self.configuration = configuration
        self.store = store
        self.incremental = IncrementalCompiler(options: configuration.compilerOptions)
    }

    /// Syncs; throws only for kernel errors (the kernel is then left as it was).
    public func sync(_ requested: Kind) throws -> Report {
        let start = clock.now
        var inputErrors: [Diagnostic] = []
        var warnings: [Diagnostic] = []
        do {
            let build = try ServiceGraph.load(
                paths: [configuration.manifests], options: configuration.graphOptions, cache: manifestCache)
            warnings = build.diagnostics
            lastGoodGraph = build.graph
        } catch {
            inputErrors = error.diagnostics
        }
        // Without any good input yet, keep whatever the kernel has (a restart with a broken
        // folder must not flush the rules that still carry traffic).
        guard let graph = lastGoodGraph else {
            return Report(
                kind: requested, operations: 0, elementsAdded: 0, elementsRemoved: 0, repairedDrift: false,
                staleFlowsDeleted: 0, conntrackError: nil, inputErrors: inputErrors, warnings: warnings, services: 0,
                duration: clock.now - start)
        }

        var kind = committedGraph == nil ? .full : requested
        for attempt in 1...3 {
            let generation: UInt32
            let transaction: Transaction
            var drift = false
            if kind == .partial, let committed = committedGraph, let committedGeneration = appliedGeneration {
                generation = committedGeneration
                transaction =
                    incremental.update(to: graph)
                    ?? diff(current: committed.compile(options: configuration.compilerOptions),
                        desired: graph.compile(options: configuration.compilerOptions))
            } else {
                kind = .full
                generation = try store.generation()
                let current = try store.read(tableName: configuration.tableName)
                transaction = diff(current: current, desired: graph.compile(options: configuration.compilerOptions))
                if let committed = committedGraph, !transaction.isEmpty {
                    // The kernel differs from what we want; was it ours that changed, or someone's?
                    drift = committed == graph
                        || committed.compile(options: configuration.compilerOptions).canonical != current.canonical
                }
                incremental.reset(to: graph)
            }
            do {
                let newGeneration =
                    transaction.isEmpty ? generation : try store.commit(transaction, ifGenerationIs: generation)
                committedGraph = graph
                appliedGeneration = newGeneration
                // Only once the new rules are in: a flow deleted earlier could be re-created
                // through the old ones.
                let stale = transaction.staleUDPFlows()
                var forgotten = 0
                var conntrackError: String?
                do {
                    forgotten = stale.isEmpty ? 0 : try store.deleteStaleFlows(stale)
                } catch {
                    conntrackError = "\(error)"  // the rules are in; stale flows only expire later
                }
                let counts = transaction.elementCounts
                return Report(
                    kind: kind, operations: transaction.operations.count, elementsAdded: counts.added,
                    elementsRemoved: counts.removed, repairedDrift: drift,
                    staleFlowsDeleted: forgotten, conntrackError: conntrackError, inputErrors: inputErrors,
                    warnings: warnings, services: graph.services.count, duration: clock.now - start)
            } catch NetlinkError.generationChanged where attempt < 3 {
                kind = .full  // someone committed since: look at what the kernel holds now
            } catch {
                committedGraph = nil  // unknown state: the next sync reads the kernel
                throw error
            }
        }
        throw NetlinkError.generationChanged
    }
}

extension Transaction {
    var elementCounts: (added: Int, removed: Int) {
        operations.reduce(into: (0, 0)) { counts, operation in
            switch operation {
            case .addElements(_, _, let elements): counts.0 += elements.count
            case .deleteElements(_, _, let elements): counts.1 += elements.count
            default: break
            }
        }
    }
}
