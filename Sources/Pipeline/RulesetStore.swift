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
