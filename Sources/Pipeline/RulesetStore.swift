import Compiler
import Netlink
import Ruleset

/// Where our tables live: the kernel, or a model of it in tests. Mechanism only; the policy
/// (what to read, when to replace, how to retry) is the `Reconciler`'s.
public protocol RulesetStore: AnyObject {
    /// The ruleset generation: it moves with every committed transaction, anyone's.
    func generation() throws -> UInt32
    /// Our tables (every family). Throws `NetlinkError.unexpectedContent` when they hold
    /// something nfcompile did not write.
    func read(tableName: String) throws -> Ruleset
    /// Commits atomically; refuses with `NetlinkError.generationChanged` when the generation moved.
    func commit(_ transaction: Transaction, ifGenerationIs generation: UInt32?) throws -> UInt32
    /// Deletes the conntrack entries of stale UDP flows; returns how many.
    func deleteStaleFlows(_ flows: [StaleFlow]) throws -> Int
    /// Deletes the remembered clients of stale affinities; returns how many, and the generation
    /// of the commit that deleted them (nil when there was nothing to delete).
    func deleteStaleAffinities(_ affinities: [StaleAffinity]) throws -> (deleted: Int, generation: UInt32?)
}

/// The kernel over netlink. Not shared: one task (a command, the agent's sync loop) uses it.
public final class KernelRulesetStore: RulesetStore {
    private var connection: NetfilterConnection

    /// Connects to nf_tables in this network namespace, or in the named one (as `ip netns` names it).
    public init(networkNamespace: String? = nil) throws {
        connection = try NetfilterConnection(networkNamespace: networkNamespace)
    }

    public func generation() throws -> UInt32 { try connection.generation() }

    public func read(tableName: String) throws -> Ruleset { try connection.readRuleset(tableName: tableName) }

    public func commit(_ transaction: Transaction, ifGenerationIs generation: UInt32?) throws -> UInt32 {
        try connection.commit(transaction, ifGenerationIs: generation)
    }

    public func deleteStaleAffinities(_ affinities: [StaleAffinity]) throws -> (deleted: Int, generation: UInt32?) {
        var deleted = 0
        var generation: UInt32?
        let byMap = Dictionary(grouping: affinities) { [$0.table.family.rawValue, $0.table.name, $0.map.name] }
        for group in byMap.values {
            // An element is client . frontend → endpoint address . port.
            let stale = Set(group.map { $0.frontend + [.address($0.endpoint)] })
            let result = try connection.deleteElements(of: group[0].map, in: group[0].table) { element in
                guard case .values(let data)? = element.data, let endpoint = data.first else { return false }
                return stale.contains(Array(element.key.dropFirst()) + [endpoint])
            }
            deleted += result.deleted
            generation = result.generation ?? generation
        }
        return (deleted, generation)
    }

    public func deleteStaleFlows(_ flows: [StaleFlow]) throws -> Int {
        try connection.deleteConntrackEntries(
            matching: flows.map {
                ConntrackFilter(
                    destination: $0.frontend, port: $0.port, transportProtocol: 17, replySource: $0.endpoint,
                    keepingReplySources: $0.keeping)
            })
    }

    /// How the last commit went (encoding and kernel time), for benchmarks and logs.
    public var lastCommit: NetfilterConnection.CommitStatistics? { connection.lastCommit }
}
