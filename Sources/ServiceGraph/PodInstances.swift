import Addressing
import Manifests

/// Which object a pod instance comes from: a Pod, or a workload whose replicas it is one of.
struct PodOwner: Hashable, Comparable {
    enum Kind: Int, Comparable {
        case pod, workload
        static func < (a: Kind, b: Kind) -> Bool { a.rawValue < b.rawValue }
    }

    var kind: Kind
    /// The workload's kind for replicas ("Deployment", …); empty for a Pod.
    var workloadKind: String
    var namespace: String
    var name: String

    static func < (a: PodOwner, b: PodOwner) -> Bool {
        (a.kind, a.workloadKind, a.namespace, a.name) < (b.kind, b.workloadKind, b.namespace, b.name)
    }
}

/// One pod as the graph sees it: a Pod manifest, or one replica of a workload's template.
/// Instances are ordered by namespace and name (Pods before replicas of the same name), the
/// order in which pod addresses are allocated.
struct PodInstance: Equatable {
    struct Key: Hashable, Comparable {
        var namespace: String
        var name: String
        var owner: PodOwner

        static func < (a: Key, b: Key) -> Bool { (a.namespace, a.name, a.owner) < (b.namespace, b.name, b.owner) }
    }

    var key: Key
    var template: PodTemplate
    /// Addresses the manifest gives (`status.podIPs`); empty when one is to be allocated.
    var explicitAddresses: [IPAddress]
    var isReady: Bool
    var isTerminating: Bool
    var weight: Int
    var location: SourceLocation

    var labels: [String: String] { template.labels }
}

/// Pod instances by namespace and label, so that a selector costs what it matches, not every pod.
struct PodIndex {
    private(set) var instances: [PodInstance.Key: PodInstance] = [:]
    private var byLabel: [String: [String: Set<PodInstance.Key>]] = [:]  // namespace → "key=value" → pods

    subscript(key: PodInstance.Key) -> PodInstance? { instances[key] }

    mutating func insert(_ instance: PodInstance) {
        remove(instance.key)
        instances[instance.key] = instance
        for (label, value) in instance.labels {
            byLabel[instance.key.namespace, default: [:]][Self.pair(label, value), default: []].insert(instance.key)
        }
    }

    mutating func remove(_ key: PodInstance.Key) {
        guard let old = instances.removeValue(forKey: key) else { return }
        for (label, value) in old.labels {
            let pair = Self.pair(label, value)
            byLabel[key.namespace]?[pair]?.remove(key)
            if byLabel[key.namespace]?[pair]?.isEmpty == true { byLabel[key.namespace]?[pair] = nil }
        }
    }

    /// The instances a selector picks in a namespace, sorted; none for an empty selector.
    func selected(by selector: [String: String], in namespace: String) -> [PodInstance] {
        guard !selector.isEmpty, let labels = byLabel[namespace] else { return [] }
        let candidates = selector.map { labels[Self.pair($0.key, $0.value)] ?? [] }.min { $0.count < $1.count } ?? []
        return candidates.sorted().compactMap { instances[$0] }.filter { Self.matches(selector, $0.labels) }
    }

    static func matches(_ selector: [String: String], _ labels: [String: String]) -> Bool {
        !selector.isEmpty && selector.allSatisfy { labels[$0.key] == $0.value }
    }

    static func pair(_ key: String, _ value: String) -> String { "\(key)=\(value)" }
}

/// Services by the label pairs of their selectors: which Services may select a pod with given labels.
struct SelectorIndex {
    private var byPair: [String: [String: Set<ServiceID>]] = [:]  // namespace → "key=value" → services

    mutating func insert(_ id: ServiceID, selector: [String: String]) {
        for (key, value) in selector {
            byPair[id.namespace, default: [:]][PodIndex.pair(key, value), default: []].insert(id)
        }
    }

    mutating func remove(_ id: ServiceID, selector: [String: String]) {
        for (key, value) in selector {
            let pair = PodIndex.pair(key, value)
            byPair[id.namespace]?[pair]?.remove(id)
            if byPair[id.namespace]?[pair]?.isEmpty == true { byPair[id.namespace]?[pair] = nil }
        }
    }

    /// Services that have at least one of these labels in their selector (a superset of those
    /// whose selector matches; the caller checks the whole selector).
    func candidates(namespace: String, labels: [String: String]) -> Set<ServiceID> {
        guard let pairs = byPair[namespace] else { return [] }
        var result: Set<ServiceID> = []
        for (key, value) in labels { result.formUnion(pairs[PodIndex.pair(key, value)] ?? []) }
        return result
    }
}
