import Compiler
import Glibc
import Netlink
import Ruleset
import ServiceGraph

/// Keeps our tables in the kernel equal to what the input asks for: the one policy behind
/// `nfcompile apply`, `nfcompile diff` and every sync of the agent.
///
/// A full sync reads our tables, commits the difference to the desired ruleset — or replaces the
/// tables whole when they hold something nfcompile did not write — guarded by the generation read
/// with them, and starts again when another program commits in between. Afterwards the reconciler
/// tracks the graph it committed (in the incremental compiler), so a change of a few services costs
/// what they touch: a partial sync compiles only them and commits behind the generation of our own
/// last commit. When anyone committed since, or the kernel refuses, it becomes a full sync, which
/// repairs whatever someone else changed and says so.
///
/// Not shared between tasks: one command or one agent sync loop owns it.
public final class Reconciler {
    public enum Kind: String, Sendable {
        /// Diffed against a fresh read of the kernel.
        case full
        /// Only the services that changed, against our last commit.
        case partial
    }

    /// Why a sync changed more than the input asked for.
    public enum Repair: Sendable, Equatable, CustomStringConvertible {
        /// Our tables held objects nfcompile does not write (a foreign rule, an unknown set): they
        /// were replaced whole.
        case foreignObjects(String)
        /// Someone changed our tables since our last commit (a table, element or rule deleted or added).
        case drift

        public var description: String {
            switch self {
            case .foreignObjects(let what):
                "replaced the table whole: it held something nfcompile did not write (\(what))"
            case .drift: "repaired a change someone else made to the table"
            }
        }
    }

    /// What a sync did.
    public struct Outcome: Sendable {
        public var kind: Kind
        /// Operations committed; 0 when the kernel already held the desired ruleset.
        public var operations: Int
        public var elementsAdded: Int
        public var elementsRemoved: Int
        /// The ruleset generation after the sync (our commit's, or the current one when nothing changed).
        public var generation: UInt32
        /// The tables were written whole (they did not exist, or held what nfcompile did not write).
        public var replacedWhole: Bool
        public var repair: Repair?
        /// UDP conntrack entries deleted because their endpoint went away.
        public var staleFlowsDeleted: Int
        /// Why stale flows could not be deleted, if they could not (they then expire on their own).
        public var conntrackError: String?
        /// Remembered clients (session affinity) deleted because their endpoint went away.
        public var affinitiesDeleted = 0
        /// The generation of the commit that deleted them, after the sync's own.
        public var affinityGeneration: UInt32?
        /// Why they could not be deleted, if they could not (they then expire on their own).
        public var affinityError: String?
    }

    /// What a full sync would commit now.
    public struct Plan: Sendable {
        public var transaction: Transaction
        /// The generation the tables were read at; the commit is guarded by it.
        public var generation: UInt32
        /// The transaction writes the tables whole.
        public var replacedWhole: Bool
        /// What nfcompile did not write, when our tables hold such a thing (the plan replaces them).
        public var foreignObjects: String?
        /// The tables as read; nil when they could not be read (foreign objects).
        var current: Ruleset?
    }

    public private(set) var options: CompilerOptions
    private let store: any RulesetStore
    /// Commits started again after another program committed in between, before giving up.
    private let attempts: Int
    /// The graph of our last commit, service by service (valid once `hasBaseline`).
    private var compiler: IncrementalCompiler
    private var hasBaseline = false
    /// The generation of our last commit while we know the kernel holds it; nil otherwise.
    private var committedGeneration: UInt32?
    /// How often a verification reads the kernel even when no one committed since us.
    private let deepVerificationPeriod: Duration
    private var lastFullSync: ContinuousClock.Instant?

    /// `deepVerificationPeriod`: see `sync(changing:removing:verify:)` (kube-proxy's nftables
    /// proxier rewrites everything once an hour, too).
    public init(
        store: any RulesetStore, options: CompilerOptions = CompilerOptions(), attempts: Int = 3,
        deepVerificationPeriod: Duration = .seconds(3600)
    ) {
        self.store = store
        self.options = options
        self.attempts = attempts
        self.deepVerificationPeriod = deepVerificationPeriod
        self.compiler = IncrementalCompiler(options: options)
    }

    public var tableName: String { options.tableName }

    /// Compiles with other options from now on (the node's zone changed with its Node object):
    /// the next sync compiles and diffs the whole table against the kernel.
    public func change(options newOptions: CompilerOptions) {
        guard newOptions != options, newOptions.tableName == options.tableName else { return }
        options = newOptions
        let graph = compiler.graph
        compiler = IncrementalCompiler(options: newOptions)
        if hasBaseline { compiler.reset(to: graph) }
        committedGeneration = nil
    }

    /// Whether a partial sync can run: a full sync committed and nothing failed since.
    public var isTracking: Bool { committedGeneration != nil }

    // MARK: One-shot (commands)

    /// What a full sync to `desired` would commit now.
    public func plan(_ desired: Ruleset) throws -> Plan {
        let generation = try store.generation()
        do {
            let current = try store.read(tableName: tableName)
            return Plan(
                transaction: diff(current: current, desired: desired), generation: generation,
                replacedWhole: current.tables.isEmpty, foreignObjects: nil, current: current)
        } catch NetlinkError.unexpectedContent(let what) {
            return Plan(
                transaction: .replacingTables(named: tableName, with: desired), generation: generation,
                replacedWhole: true, foreignObjects: what, current: nil)
        }
    }

    /// Makes the kernel hold `desired` with the smallest transaction (a full sync that tracks
    /// nothing afterwards: what `nfcompile apply` does). With `refusingToEmpty`, a `desired` that
    /// would empty a table that holds services is refused (`EmptyingRefused`), nothing applied.
    @discardableResult
    public func apply(_ desired: Ruleset, refusingToEmpty: Bool = false) throws -> Outcome {
        try commitFull(desired) { plan in
            if refusingToEmpty, let current = plan.current {
                let emptied = Self.elementsEmptied(from: current, by: desired)
                if emptied > 0 { throw EmptyingRefused(table: tableName, elements: emptied) }
            }
            return plan.foreignObjects.map(Repair.foreignObjects)
        }
    }

    /// An input without Services would remove every Service the table holds.
    public struct EmptyingRefused: Error, CustomStringConvertible {
        public var table: String
        /// Elements of the table's sets and maps that would go.
        public var elements: Int

        public var description: String {
            "the input has no Services, and table \(table) holds \(elements) elements of them: applying it would remove every Service; nothing was applied"
        }
    }

    /// Elements of `current` in sets that `desired` leaves empty: what an input without services
    /// would remove (sets of the node's own facts, such as its addresses, are in both).
    private static func elementsEmptied(from current: Ruleset, by desired: Ruleset) -> Int {
        var emptied = 0
        for table in current.tables {
            let wanted = desired.tables.first { $0.id == table.id }
            for set in table.sets where !set.elements.isEmpty {
                let kept = wanted?.sets.first { $0.name == set.name }?.elements.isEmpty == false
                if !kept { emptied += set.elements.count }
            }
        }
        return emptied
    }

    /// Removes our tables of every family, and nothing else.
    public func removeTables() throws {
        committedGeneration = nil
        let removal = Transaction.removingTables(named: tableName)
        try withRetries { _ = try store.commit(removal, ifGenerationIs: try store.generation()) }
    }

    // MARK: Tracking syncs (the agent)

    /// A full sync to `graph`: diffed against a fresh read of the kernel, repairing anything
    /// someone else changed. Afterwards the reconciler tracks `graph`.
    public func sync(to graph: ServiceGraph) throws -> Outcome {
        let tracked = hasBaseline && isTracking ? compiler.graph : nil
        // Follow the graph service by service: an unchanged graph (the periodic check) costs a
        // comparison, not a recompile. The state moves first: the full sync then gives it the
        // capacities of the kernel's sets.
        var compiled: Ruleset?
        if !hasBaseline {
            compiled = compiler.reset(to: graph)
        } else if tracked != graph {
            _ = compiler.update(to: graph)
        }
        var outcome = try fullSync(to: graph, compiled: compiled, check: tracked.map { .against($0) } ?? .none)
        if !hasBaseline {
            outcome = cleanFlowsAtStart(outcome, graph)
            hasBaseline = true
        }
        return outcome
    }

    /// A sync of a change known service by service: `changing` holds services added or modified,
    /// `removing` the IDs of services gone. Costs what the change touches: only those services are
    /// compiled, and the commit is guarded by the generation of our last one. With `verify` (the
    /// periodic check), it is a full sync instead: the whole table is diffed against a fresh read
    /// of the kernel, and whatever else differs is repaired — when anyone committed since our last
    /// commit. When no one did, the kernel still holds exactly that commit (nf_tables changes only by
    /// transactions, and each moves the generation), so reading 240,000 elements back would prove
    /// nothing: the check costs one generation request, and a full sync runs only once per
    /// `deepVerificationPeriod` (against a fault of our own). Needs a full sync (`sync(to:)`) first.
    public func sync(changing: [Service] = [], removing: [ServiceID] = [], verify: Bool = false) throws -> Outcome {
        precondition(hasBaseline, "a sync of changes needs a full sync first")
        let intended = compiler.update(changing: changing, removing: removing)
        guard let intended, let generation = committedGeneration else {
            // A whole family table comes or goes, a set outgrows its capacity, or the kernel's
            // state is unknown: diff it all.
            return try fullSync(to: compiler.graph, check: .none)
        }
        if verify {
            let deepCheckDue = lastFullSync.map { .now - $0 >= deepVerificationPeriod } ?? true
            if try deepCheckDue || store.generation() != generation {
                return try fullSync(to: compiler.graph, check: .intended(intended))
            }
        }
        if intended.isEmpty { return Outcome(kind: .partial, unchanged: generation) }
        do {
            let committed = try store.commit(intended, ifGenerationIs: generation)
            let outcome = finish(
                intended, kind: .partial, generation: committed, replacedWhole: false, repair: nil, serving: changing)
            committedGeneration = Self.trackedGeneration(after: outcome)
            return outcome
        } catch NetlinkError.generationChanged {
            // Someone committed since our last commit (to any table): look at what the kernel holds.
            return try fullSync(to: compiler.graph, check: .intended(intended))
        } catch NetlinkError.refused {
            // The kernel lacks what we change, or has what we add: someone changed our table.
            committedGeneration = nil
            return try fullSync(to: compiler.graph, check: .assumeDrift)
        } catch {
            committedGeneration = nil
            throw error
        }
    }

    // MARK: Full syncs

    /// How a full sync tells a repair from the change it was asked for.
    private enum DriftCheck {
        /// The kernel should hold this graph's ruleset (our last commit).
        case against(ServiceGraph)
        /// The kernel should differ from the desired ruleset by exactly this transaction.
        case intended(Transaction)
        /// Any difference is a repair.
        case assumeDrift
        /// Nothing is known about what the kernel should hold.
        case none
    }

    /// `compiled`: `graph`'s ruleset, when it is at hand.
    private func fullSync(to graph: ServiceGraph, compiled: Ruleset? = nil, check: DriftCheck) throws -> Outcome {
        committedGeneration = nil
        lastFullSync = .now
        let desired = compiled ?? graph.compile(options: options)
        var capacities = desired.capacities
        var outcome = try commitFull(desired, serving: graph.services) { plan in
            capacities = (plan.current ?? Ruleset(tables: [])).capacities(after: plan.transaction)
            if let foreign = plan.foreignObjects { return .foreignObjects(foreign) }
            guard !plan.transaction.isEmpty, let current = plan.current else { return nil }
            switch check {
            case .against(let committed):
                // Our last commit was `committed`'s ruleset: does the kernel still hold exactly that?
                let isRepair =
                    committed == graph || committed.compile(options: options).canonical != current.canonical
                return isRepair ? .drift : nil
            case .intended(let transaction):
                return plan.transaction.effect != transaction.effect ? .drift : nil
            case .assumeDrift:
                return .drift
            case .none:
                return nil
            }
        }
        outcome.kind = .full
        committedGeneration = Self.trackedGeneration(after: outcome)
        compiler.adopt(capacities)
        return outcome
    }

    /// The generation our tables are known to be at after a sync: its commit's, or that of the
    /// stale affinities' deletion right after it (it touches only the packet path's sets) when no
    /// other commit came between. Left at the sync's own, the next partial sync would find the
    /// generation moved and read the whole table back.
    private static func trackedGeneration(after outcome: Outcome) -> UInt32 {
        guard let affinities = outcome.affinityGeneration, affinities == outcome.generation &+ 1 else {
            return outcome.generation
        }
        return affinities
    }

    /// Plans and commits, starting again when another program commits in between.
    private func commitFull(
        _ desired: Ruleset, serving: [Service] = [], repair: (Plan) throws -> Repair?
    ) throws -> Outcome {
        try withRetries {
            let plan = try plan(desired)
            let repair = try repair(plan)
            guard !plan.transaction.isEmpty else { return Outcome(kind: .full, unchanged: plan.generation) }
            do {
                let committed = try store.commit(plan.transaction, ifGenerationIs: plan.generation)
                return finish(
                    plan.transaction, kind: .full, generation: committed, replacedWhole: plan.replacedWhole,
                    repair: repair, serving: serving)
            } catch NetlinkError.refused(let refusals) where Self.isMisread(refusals) {
                throw ReadAgain(refused: refusals)
            }
        }
    }

    /// Refusals that only say an element is there already or is not there.
    private static func isMisread(_ refusals: [NetlinkError.Refusal]) -> Bool {
        !refusals.isEmpty && refusals.allSatisfy { $0.error == .fileExists || $0.error == .noSuchFileOrDirectory }
    }

    /// The kernel has an element we did not read, or lacks one we did: a dump of a set whose
    /// hash table is being resized can miss elements. Read again, a moment later.
    private struct ReadAgain: Error {
        var refused: [NetlinkError.Refusal]
    }

    /// Runs `body` again when another program committed in between, or when what it read was
    /// incomplete; gives up after `attempts` of each.
    private func withRetries<T>(_ body: () throws -> T) throws -> T {
        var commitsRaced = 1
        var misreads = 0
        while true {
            do {
                return try body()
            } catch NetlinkError.generationChanged where commitsRaced < attempts {
                commitsRaced += 1
            } catch let again as ReadAgain {
                misreads += 1
                guard misreads < attempts else { throw NetlinkError.refused(again.refused) }
                usleep(UInt32(20_000 * misreads))
            }
        }
    }

    /// The outcome of a committed transaction, once its stale UDP flows are gone. Only after the
    /// commit: a flow deleted earlier could be re-created through the old rules. Flows to
    /// endpoints that still serve their frontend in `serving` (terminating ones that left the
    /// buckets, as kube-proxy keeps them) are not stale.
    private func finish(
        _ transaction: Transaction, kind: Kind, generation: UInt32, replacedWhole: Bool, repair: Repair?,
        serving: [Service] = []
    ) -> Outcome {
        let stale = transaction.staleUDPFlows().keepingServing(in: serving)
        var deleted = 0
        var conntrackError: String?
        do {
            deleted = stale.isEmpty ? 0 : try store.deleteStaleFlows(stale)
        } catch {
            conntrackError = "\(error)"  // the rules are in; stale flows only expire later
        }
        let counts = transaction.elementCounts
        var outcome = Outcome(
            kind: kind, operations: transaction.operations.count, elementsAdded: counts.added,
            elementsRemoved: counts.removed, generation: generation, replacedWhole: replacedWhole, repair: repair,
            staleFlowsDeleted: deleted, conntrackError: conntrackError)
        // A table written whole has no remembered client left to be stale.
        let staleAffinities = replacedWhole ? [] : transaction.staleAffinities()
        if !staleAffinities.isEmpty {
            do {
                (outcome.affinitiesDeleted, outcome.affinityGeneration) = try store.deleteStaleAffinities(
                    staleAffinities)
            } catch {
                outcome.affinityError = "\(error)"
            }
        }
        return outcome
    }
}

extension Reconciler {
    /// At start, what an earlier run (or kube-proxy before us) left in conntrack is unknown: every
    /// UDP flow to a frontend of `graph` not answered by one of its serving endpoints is deleted,
    /// the others stay (a restart flushes no healthy flow).
    fileprivate func cleanFlowsAtStart(_ outcome: Outcome, _ graph: ServiceGraph) -> Outcome {
        let guards = graph.services.flatMap { $0.udpFlowGuards() }
        guard !guards.isEmpty else { return outcome }
        var outcome = outcome
        do {
            outcome.staleFlowsDeleted += try store.deleteStaleFlows(guards)
        } catch {
            outcome.conntrackError = "\(error)"
        }
        return outcome
    }
}

extension Reconciler.Outcome {
    /// Nothing committed.
    init(kind: Reconciler.Kind, unchanged generation: UInt32) {
        self.init(
            kind: kind, operations: 0, elementsAdded: 0, elementsRemoved: 0, generation: generation,
            replacedWhole: false, repair: nil, staleFlowsDeleted: 0, conntrackError: nil)
    }
}
