import Addressing
import Compiler
import Foundation
import KubernetesAPI
import Manifests
import Parallel
import ServiceGraph

/// The Kubernetes API as the agent's input: every Service and EndpointSlice the watch reports is
/// one source of the graph builder, replaced as its events come.
///
/// The API server has validated every object, so one that nfcompile still cannot use (a value it
/// does not support, an address it refuses) is left out with a warning, and the others go on:
/// unlike files, no object can hold up the whole node. A new version that cannot be used keeps the
/// last good one.
final class ClusterInput: AgentInput {
    private var builder: GraphBuilder
    /// Changes received since the last commit, the latest per object.
    private var pending: [String: ObjectChange] = [:]
    /// Services and EndpointSlices have listed once (kube-proxy syncs nothing before).
    private(set) var hasListed = false
    /// Objects left out or kept at their last good version, with why.
    private var leftOut: [String: [Diagnostic]] = [:]
    /// When the changes committed next were made (EndpointSlices' last-change-trigger-time).
    private var triggerTimes: [Date] = []
    /// This node's Node object, as last reported.
    private(set) var node: NodeFacts?

    /// What the compiler options wait for from the Node.
    private let fromNode: AgentConfiguration.FromNode
    private let nodeName: String?

    init(options: GraphOptions, fromNode: AgentConfiguration.FromNode = .init(), nodeName: String? = nil) {
        builder = GraphBuilder(options: options)
        self.fromNode = fromNode
        self.nodeName = nodeName
    }

    /// The options with the Node's pod ranges and addresses where they were asked for.
    func completing(_ options: CompilerOptions) -> CompilerOptions {
        var options = options
        guard let node else { return options }
        if fromNode.podCIDRs { options.localTraffic = .sourceNetworks(Self.nodePodCIDRs(node)) }
        if fromNode.addresses { options.nodeIPs = Self.nodeIPs(node) }
        return options
    }

    /// The first pod range of each family (kube-proxy uses the first).
    static func nodePodCIDRs(_ node: NodeFacts) -> [IPNetwork] {
        var seen: Set<IPFamily> = []
        return node.podCIDRs.compactMap(IPNetwork.init).filter { seen.insert($0.family).inserted }
    }

    static func nodeIPs(_ node: NodeFacts) -> [IPAddress] { node.hostIPs.compactMap(IPAddress.init) }

    /// Until the first lists are complete no sync can run, and the agent waits for the network:
    /// each page is decoded as it comes (on every core) and given to the graph builder, so the
    /// first sync finds that work done. Later changes wait for the commit, where an object that
    /// changed many times in between is decoded once.
    func receive(_ changes: [ObjectChange]) {
        let changes = changes.filter { $0.kind != .node }
        guard !hasListed else {
            for change in changes { pending[change.source] = change }
            return
        }
        decodeAndApply(changes)
    }

    func listed() { hasListed = true }

    func nodeChanged(_ facts: NodeFacts?) { node = facts }

    /// The trigger times of the changes the last commit delivered, once.
    func takeTriggerTimes() -> [Date] {
        defer { triggerTimes = [] }
        return triggerTimes
    }

    var notReady: Diagnostic? {
        guard hasListed else {
            return .error(
                at: nil, "waiting for the first lists of Services and EndpointSlices from the API server",
                fix: "check the connection to the API server (the log names the error); the kernel keeps its rules")
        }
        // kube-proxy waits for them too: a Node without a pod range yet is waited for.
        let waitsForPodCIDRs = fromNode.podCIDRs && (node.map(Self.nodePodCIDRs) ?? []).isEmpty
        let waitsForAddresses = fromNode.addresses && (node.map(Self.nodeIPs) ?? []).isEmpty
        if waitsForPodCIDRs || waitsForAddresses {
            let needs = [
                waitsForPodCIDRs ? "spec.podCIDRs (for --detect-local-mode NodeCIDR)" : nil,
                waitsForAddresses ? "an InternalIP or ExternalIP address (for --nodeport-addresses primary)" : nil,
            ].compactMap { $0 }
            return .error(
                at: nil,
                "waiting for \(needs.joined(separator: " and ")) of this node's Node object \(nodeName ?? "")\(node == nil ? " (not seen yet)" : "")",
                fix: "check --node-name; or give --node-cidr / --node-ip, and the Node is not needed for them")
        }
        return nil
    }

    func commit(_ work: Synchronizer.Work, first: Bool) throws(InputError) -> GraphChange {
        decodeAndApply(Array(pending.values))
        pending = [:]
        // Errors only some objects cause (an address nfcompile refuses) leave those objects out.
        for _ in 0..<3 {
            do {
                var change = try builder.commit()
                change.diagnostics = (change.diagnostics + leftOut.values.flatMap { $0 }).sortedByLocation()
                return change
            } catch {
                let culprits = Set(error.errors.compactMap(\.location?.file).filter { builder.contains(source: $0) })
                guard !culprits.isEmpty else { throw error }
                for source in culprits {
                    builder.replace(source, with: nil)
                    leftOut[source] = error.errors.filter { $0.location?.file == source }.map(Self.leftOutWarning)
                }
            }
        }
        throw InputError(leftOut.values.flatMap { $0 })
    }

    /// Decoded on every core, given to the builder in turn.
    private func decodeAndApply(_ changes: [ObjectChange]) {
        // One name per object, shared by the builder's key and the decoded values' locations.
        let decoded = changes.concurrentMap(minimumChunk: 16) { change in
            let source = change.source
            return (source, Result { () throws(InputError) in try change.manifests(named: source) })
        }
        for (change, (source, objects)) in zip(changes, decoded) { apply(change, source: source, decoded: objects) }
    }

    private func apply(_ change: ObjectChange, source: String, decoded: Result<ManifestSet?, InputError>) {
        do {
            guard let objects = try decoded.get() else {
                builder.replace(source, with: nil)
                leftOut[source] = nil
                return
            }
            builder.replace(source, with: objects)
            leftOut[source] = nil
            if let time = change.lastChangeTriggerTime { triggerTimes.append(time) }
        } catch {
            // Its last good version, if any, stays in the builder.
            let kept = builder.contains(source: source)
            leftOut[source] = error.errors.map { diagnostic in
                var warning = Self.leftOutWarning(diagnostic)
                if kept { warning.message += " (its last good version stays)" }
                return warning
            }
        }
    }

    private static func leftOutWarning(_ error: Diagnostic) -> Diagnostic {
        var warning = error
        warning.severity = .warning
        warning.message = "left out: " + error.message
        return warning
    }

    var graph: ServiceGraph { builder.graph }
    var serviceCount: Int { builder.serviceCount }
}
