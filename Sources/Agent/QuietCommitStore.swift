import Compiler
import Netlink
import Pipeline
import Ruleset
import Synchronization

/// The agent's store: large commits go in while the agent's own event subscription is paused.
///
/// As long as anyone listens to nf_tables events, the kernel builds a notification for every
/// element a transaction adds; for a first sync of 230,000 elements that costs about as much as
/// the commit itself (measured: 1.6 s → 2.0 s with a listener). Paused, a commit by someone else
/// in the same moment would go unannounced: the generation after our commit tells, and the agent
/// then verifies the table as if the event had come.
final class QuietCommitStore: RulesetStore {
    /// Below this many elements the notifications cost less than pausing.
    static let threshold = 1000

    private let store: any RulesetStore
    private let subscription: GenerationEvents.Subscription
    /// Set when a foreign commit may have happened while we did not listen.
    let missedForeignCommit = Atomic<Bool>(false)

    init(_ store: any RulesetStore, subscription: GenerationEvents.Subscription) {
        self.store = store
        self.subscription = subscription
    }

    func generation() throws -> UInt32 { try store.generation() }

    func read(tableName: String) throws -> Ruleset { try store.read(tableName: tableName) }

    func commit(_ transaction: Transaction, ifGenerationIs generation: UInt32?) throws -> UInt32 {
        let counts = transaction.elementCounts
        guard counts.added + counts.removed >= Self.threshold else {
            return try store.commit(transaction, ifGenerationIs: generation)
        }
        let committed = try subscription.withoutEvents { try store.commit(transaction, ifGenerationIs: generation) }
        if try store.generation() != committed { missedForeignCommit.store(true, ordering: .relaxed) }
        return committed
    }

    func deleteStaleFlows(_ flows: [StaleFlow]) throws -> Int { try store.deleteStaleFlows(flows) }

    func deleteStaleAffinities(_ affinities: [StaleAffinity]) throws -> (deleted: Int, generation: UInt32?) {
        try store.deleteStaleAffinities(affinities)
    }
}
