import Compiler
import Netlink
import Pipeline
import Ruleset

/// The kernel's transaction semantics on the IR (`Ruleset.applying`), behind the reconciler's
/// store, for tests without a kernel; `tamper` plays another program editing the table, and
/// `foreignObjects` one that put into it what nfcompile does not write.
public final class ModelRulesetStore: RulesetStore {
    public private(set) var ruleset = Ruleset(tables: [])
    public private(set) var currentGeneration: UInt32 = 1
    public private(set) var commits = 0
    /// Every stale flow the agent asked to forget, in order.
    public private(set) var forgottenFlows: [StaleFlow] = []

    public init() {}

    public func generation() throws -> UInt32 { currentGeneration }

    /// Set: our table holds something nfcompile cannot read back (until a commit deletes the table).
    public var foreignObjects: String?

    public func read(tableName: String) throws -> Ruleset {
        if let foreignObjects { throw NetlinkError.unexpectedContent(foreignObjects) }
        return Ruleset(tables: ruleset.tables.filter { $0.name == tableName })
    }

    public func commit(_ transaction: Transaction, ifGenerationIs generation: UInt32?) throws -> UInt32 {
        if let generation, generation != currentGeneration { throw NetlinkError.generationChanged }
        ruleset = try ruleset.applying(transaction)
        if transaction.operations.contains(where: { if case .deleteTable = $0 { true } else { false } }) {
            foreignObjects = nil
        }
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

    /// Someone else adds to our table what nfcompile does not write (a rule, a set).
    public func addForeignObjects(_ description: String) {
        foreignObjects = description
        currentGeneration += 1
    }
}
