import Compiler
import Netlink
import Ruleset

/// Where the agent keeps its ruleset: the kernel, or a model of it in tests.
public protocol RulesetStore: AnyObject {
    func generation() throws -> UInt32
    func read(tableName: String) throws -> Ruleset
    /// Commits atomically; refuses with `NetlinkError.generationChanged` when the generation moved.
    func commit(_ transaction: Transaction, ifGenerationIs generation: UInt32?) throws -> UInt32
    /// Deletes the conntrack entries of stale UDP flows; returns how many.
    func deleteStaleFlows(_ flows: [StaleFlow]) throws -> Int
}

/// The kernel over netlink. Not shared: the agent's sync loop is its only user.
public final class KernelRulesetStore: RulesetStore {
    private var connection: NetfilterConnection

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
                ConntrackFilter(destination: $0.frontend, port: $0.port, transportProtocol: 17, replySource: $0.endpoint)
            })
    }
}

/// The kernel's transaction semantics on the IR (`Ruleset.applying`), for tests of the agent
/// without a kernel; `tamper` plays another program editing the table.
public final class ModelRulesetStore: RulesetStore {
    public private(set) var ruleset = Ruleset(tables: [])
    public private(set) var currentGeneration: UInt32 = 1
    public private(set) var commits = 0
    /// Every stale flow the agent asked to forget, in order.
    public private(set) var forgottenFlows: [StaleFlow] = []

    public init() {}

    public func generation() throws -> UInt32 { currentGeneration }

    public func read(tableName: String) throws -> Ruleset {
        Ruleset(tables: ruleset.tables.filter { $0.name == tableName })
    }

    public func commit(_ transaction: Transaction, ifGenerationIs generation: UInt32?) throws -> UInt32 {
        if let generation, generation != currentGeneration { throw NetlinkError.generationChanged }
        ruleset = try ruleset.applying(transaction)
        currentGeneration += 1
        commits += 1
        return currentGeneration
    }

    public func deleteStaleFlows(_ flows: [StaleFlow]) throws -> Int {
        forgottenFlows += flows
        return flows.count
    }

    /// Someone else's change, committed as its own transaction.
    public func tamper(_ change: (inout Ruleset) -> Void) {
        change(&ruleset)
        currentGeneration += 1
    }
}
