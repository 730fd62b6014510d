import Compiler
import Netlink
import Pipeline
import Ruleset
import SystemPackage

/// The kernel's transaction semantics on the IR (`Ruleset.applying`), behind the reconciler's
/// store, for tests without a kernel; `tamper` plays another program editing the table, and
/// `foreignObjects` one that put into it what nfcompile does not write.
public final class ModelRulesetStore: RulesetStore {
    public private(set) var ruleset = Ruleset(tables: [])
    public private(set) var currentGeneration: UInt32 = 1
    public private(set) var commits = 0
    /// Reads of the table (dumps of the kernel's).
    public private(set) var reads = 0
    /// Every stale flow the agent asked to forget, in order.
    public private(set) var forgottenFlows: [StaleFlow] = []
    /// Stale affinities the reconciler asked to delete.
    public private(set) var staleAffinities: [StaleAffinity] = []

    public init() {}

    public func generation() throws -> UInt32 { currentGeneration }

    /// Set: our table holds something nfcompile cannot read back (until a commit deletes the table).
    public var foreignObjects: String?

    /// Set: the next reads miss the first element of every set, as a dump of a set being resized
    /// can (then read correctly again).
    public var incompleteReads = 0

    public func read(tableName: String) throws -> Ruleset {
        reads += 1
        if let foreignObjects { throw NetlinkError.unexpectedContent(foreignObjects) }
        var tables = ruleset.tables.filter { $0.name == tableName }
        if incompleteReads > 0 {
            incompleteReads -= 1
            for t in tables.indices {
                for s in tables[t].sets.indices where !tables[t].sets[s].elements.isEmpty {
                    tables[t].sets[s].elements.removeFirst()
                }
            }
        }
        return Ruleset(tables: tables)
    }

    public func commit(_ transaction: Transaction, ifGenerationIs generation: UInt32?) throws -> UInt32 {
        if let generation, generation != currentGeneration { throw NetlinkError.generationChanged }
        do {
            ruleset = try ruleset.applying(transaction)
        } catch {
            // As the kernel answers: an errno per refused operation.
            let code: Errno =
                switch error.reason {
                case "element exists": .fileExists
                case "busy": .resourceBusy
                case let reason where reason.hasPrefix("no such"): .noSuchFileOrDirectory
                default: .invalidArgument
                }
            throw NetlinkError.refused([NetlinkError.Refusal(operation: error.operation, error: code)])
        }
        if transaction.operations.contains(where: { if case .deleteTable = $0 { true } else { false } }) {
            foreignObjects = nil
        }
        currentGeneration += 1
        commits += 1
        return currentGeneration
    }

    /// Remembered clients live in the packet path's sets, which the model does not hold; the
    /// deletion is a commit of its own, as in the kernel.
    public func deleteStaleAffinities(_ affinities: [StaleAffinity]) throws -> (deleted: Int, generation: UInt32?) {
        staleAffinities += affinities
        guard !affinities.isEmpty else { return (0, nil) }
        currentGeneration += 1
        return (affinities.count, currentGeneration)
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
