import Compiler
import Foundation
import Manifests
import Pipeline
import ServiceGraph

/// One sync of the agent: read what changed in the input (a manifests folder, or the Kubernetes
/// API), turn it into changed services (the graph builder), and hand them to the reconciler,
/// which commits the difference.
///
/// A partial sync reads only the files that changed and compiles only the services they touch. A
/// full sync (`verify`: the periodic check, a foreign commit) reads the folder whole and diffs the
/// whole table against a fresh kernel dump, repairing whatever someone else changed. Bad input
/// never reaches the kernel: the last good rules stay.
public final class Synchronizer {
    /// What to do in one sync.
    public struct Work: Sendable {
        /// Files and folders to read again.
        public var paths: Set<String> = []
        /// Read the whole folder again (events were lost, the folder came back).
        public var rescan = false
        /// Diff against a fresh kernel dump, repairing drift.
        public var verify = false

        public init(paths: Set<String> = [], rescan: Bool = false, verify: Bool = false) {
            self.paths = paths
            self.rescan = rescan
            self.verify = verify
        }

        /// A full sync: the folder read whole, the table verified against the kernel.
        public static let full = Work(rescan: true, verify: true)
    }

    public struct Report: Sendable {
        /// What the reconciler did; nil when nothing was synced (no good input yet, or the folder is gone).
        public var outcome: Reconciler.Outcome?
        /// Set when the input had errors; the last good rules stay.
        public var inputErrors: [Diagnostic]
        /// Warnings of the input as it is now.
        public var warnings: [Diagnostic]
        public var services: Int
        public var duration: Duration
        /// The services this sync committed: every one (the first sync), or those that changed;
        /// nil when nothing was committed from the input. For what follows the graph besides the
        /// kernel (the health-check node ports).
        public var change: ServiceChange?

        public var kind: Reconciler.Kind { outcome?.kind ?? .partial }
        public var operations: Int { outcome?.operations ?? 0 }
    }

    /// What a sync changed in the graph.
    public enum ServiceChange: Sendable {
        case all([Service])
        case some(changing: [Service], removing: [ServiceID])
    }

    private let configuration: AgentConfiguration
    private let input: any AgentInput
    private let store: any RulesetStore
    /// Made at the first sync, once the input can complete the options (the Node's facts).
    private var reconciler: Reconciler?
    /// The zone the Node gave before the first sync, if it gave one.
    private var nodeZone: String??
    private let clock = ContinuousClock()
    private var hasSynced = false

    /// A synchronizer of the configuration's manifests folder.
    public convenience init(configuration: AgentConfiguration, store: any RulesetStore) {
        precondition(configuration.manifests != nil, "without a folder, the input comes from the API server")
        self.init(
            configuration: configuration, store: store,
            input: FolderInput(root: configuration.manifests ?? "", options: configuration.graphOptions))
    }

    init(configuration: AgentConfiguration, store: any RulesetStore, input: any AgentInput) {
        self.configuration = configuration
        self.input = input
        self.store = store
    }

    /// This node's zone, as its Node object's `topology.kubernetes.io/zone` label says: when it
    /// changes, the next sync compiles the whole table again (zone hints choose other endpoints).
    /// Before the first sync it is kept for the options the reconciler starts with. Returns
    /// whether it changed.
    @discardableResult
    public func nodeZoneChanged(_ zone: String?) -> Bool {
        guard let reconciler else {
            let changed = (nodeZone ?? configuration.compilerOptions.zone) != zone
            nodeZone = .some(zone)
            return changed
        }
        guard reconciler.options.zone != zone else { return false }
        var options = reconciler.options
        options.zone = zone
        reconciler.change(options: options)
        return true
    }

    /// The options the rules are compiled with: the configuration's, completed by the input at
    /// the first sync; nil before it.
    public var compilerOptions: CompilerOptions? { reconciler?.options }

    /// Whether a sync has committed (or found the kernel right) at least once.
    public var isSynced: Bool { hasSynced }

    /// Syncs; throws only for kernel errors (the kernel is then left as it was).
    public func sync(_ work: Work) throws -> Report {
        let start = clock.now
        var report = try syncTimed(work)
        report.duration = clock.now - start
        return report
    }

    private func syncTimed(_ work: Work) throws -> Report {
        var report = Report(outcome: nil, inputErrors: [], warnings: [], services: 0, duration: .zero)
        if let reason = input.notReady {
            report.inputErrors = [reason]
            return try verifyOnly(work, report)
        }
        let change: GraphChange
        do {
            change = try input.commit(work, first: !hasSynced)
        } catch {
            report.inputErrors = error.errors
            report.warnings = error.diagnostics.filter { $0.severity == .warning }
            return try verifyOnly(work, report)
        }
        report.warnings = change.diagnostics.filter { $0.severity == .warning }
        if hasSynced, let reconciler {
            report.outcome = try reconciler.sync(
                changing: change.changed, removing: change.removed, verify: work.verify)
            report.change = .some(changing: change.changed, removing: change.removed)
        } else {
            var options = input.completing(configuration.compilerOptions)
            if let nodeZone { options.zone = nodeZone }
            let reconciler = self.reconciler ?? Reconciler(store: store, options: options)
            self.reconciler = reconciler
            report.outcome = try reconciler.sync(to: input.graph)
            report.change = .all(input.graph.services)
            hasSynced = true
        }
        report.services = input.serviceCount
        return report
    }

    /// With bad input, a full sync still repairs the table to the last good graph.
    private func verifyOnly(_ work: Work, _ report: Report) throws -> Report {
        var report = report
        if work.verify, hasSynced, let reconciler { report.outcome = try reconciler.sync(verify: true) }
        report.services = input.serviceCount
        return report
    }
}
