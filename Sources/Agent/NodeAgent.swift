import Foundation
import Glibc
import KubernetesAPI
import Logging
import Manifests
import Netlink
import Pipeline
import Ruleset
import ServiceLifecycle
import Synchronization

/// The node agent: keeps the kernel's table equal to what the API server (or a manifests
/// folder) says.
///
/// Syncs are triggered by watch events or file changes (partial sync, coalesced to at most one
/// per `minSyncPeriod`), by foreign commits the kernel announces and by the `syncPeriod` timer
/// (full sync: verify against a kernel dump, repair drift). SIGTERM/SIGINT end the loop; the
/// rules stay in the kernel, so a restart interrupts no traffic.
public actor NodeAgent: Service {
    private let configuration: AgentConfiguration
    private let synchronizer: Synchronizer
    private let logger: Logger
    private let kernelEvents: AsyncStream<GenerationEvents.Event>?
    private let quietStore: QuietCommitStore?
    /// The API's objects, when the input is the API server; nil for a folder.
    private let cluster: (watch: ClusterWatch, input: ClusterInput)?
    public nonisolated let health: HealthState
    public nonisolated let metrics: AgentMetrics
    /// The health-check node ports of LoadBalancer Services with `externalTrafficPolicy: Local`.
    private let serviceHealth: ServiceHealthServers

    /// What the next sync has to do, gathered from the watchers and the timer.
    private struct Pending {
        var work = Synchronizer.Work()
        var since: Date?
        /// When the last event came: bursts (an `rm -rf`, an editor's save) settle before a sync.
        var lastEvent = ContinuousClock.now

        var isEmpty: Bool { since == nil }
    }

    /// How long the folder must be quiet before a sync, and how long at most to wait for that:
    /// a burst's events come within microseconds of each other.
    private static let settle = Duration.milliseconds(2)
    private static let settleLimit = Duration.seconds(1)

    private let pending = Mutex(Pending())
    /// Generations of our own recent commits: their kernel events are not foreign changes.
    private var ownGenerations: [UInt32] = []
    private var loggedWarnings: Set<Diagnostic> = []
    private var loggedErrors: Set<Diagnostic> = []
    /// The Node changed what the options were completed with: the agent stops, with an error.
    private var nodeChangedOptions = false

    /// The Node changed pod ranges or addresses that the rules were compiled with.
    public struct NodeChangedOptions: Error, CustomStringConvertible {
        public var description: String { "this node's pod ranges or addresses changed: restart to use them" }
    }

    /// An agent of the configuration's input: for the API server, `clusterWatch` is its watch
    /// (made by the caller, which reports a configuration that cannot work before starting).
    public init(
        configuration: AgentConfiguration, store: any RulesetStore,
        kernelEvents: GenerationEvents.Subscription?, clusterWatch: ClusterWatch? = nil, logger: Logger
    ) {
        self.configuration = configuration
        let quiet = kernelEvents.map { QuietCommitStore(store, subscription: $0) }
        self.quietStore = quiet
        let input: any AgentInput
        if let clusterWatch {
            let clusterInput = ClusterInput(
                options: configuration.graphOptions, fromNode: configuration.fromNode,
                nodeName: configuration.compilerOptions.nodeName)
            cluster = (clusterWatch, clusterInput)
            input = clusterInput
        } else {
            cluster = nil
            input = FolderInput(root: configuration.manifests ?? ".", options: configuration.graphOptions)
        }
        self.synchronizer = Synchronizer(configuration: configuration, store: quiet ?? store, input: input)
        self.kernelEvents = kernelEvents?.events
        self.logger = logger
        self.health = HealthState(syncPeriod: configuration.syncPeriod)
        self.metrics = AgentMetrics()
        self.serviceHealth = ServiceHealthServers(
            health: health, node: configuration.compilerOptions.nodeName, logger: logger)
    }

    /// The HTTP services this agent's configuration asks for (health on 10256, metrics on 10249).
    public nonisolated var statusServices: [any Service] {
        var services: [any Service] = []
        if let address = configuration.healthzAddress {
            services.append(StatusServer(address: address, health: health, metrics: metrics, routes: [.health]))
        }
        if let address = configuration.metricsAddress {
            services.append(StatusServer(address: address, health: health, metrics: metrics, routes: [.metrics]))
        }
        return services
    }

    public func run() async throws {
        do {
            try await runLoops()
        } catch {
            await serviceHealth.closeAll()
            throw error
        }
        await serviceHealth.closeAll()
        logger.info("agent stopped; the rules stay in the kernel")
        if nodeChangedOptions { throw NodeChangedOptions() }
    }

    private func runLoops() async throws {
        let (wakeups, wake) = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))
        let fileChanges = try configuration.manifests.map(ManifestWatcher.changes(in:))
        try await withGracefulShutdownHandler {
            try await withThrowingTaskGroup(of: Void.self) { group in
                if let fileChanges {
                    group.addTask { [self] in
                        for await change in fileChanges {
                            self.queue(wake) { work in
                                work.paths.formUnion(change.paths)
                                work.rescan = work.rescan || change.rescan || change.folderGone
                            }
                        }
                    }
                }
                if let watch = cluster?.watch {
                    group.addTask { [self] in
                        for await event in watch.events() { await self.clusterEvent(event, wake) }
                    }
                }
                if let kernelEvents {
                    group.addTask { [self] in
                        for await event in kernelEvents { await self.kernelEvent(event, wake) }
                    }
                }
                group.addTask { [self] in
                    while !Task.isCancelled {
                        try await Task.sleep(for: configuration.syncPeriod)
                        self.queue(wake) { $0 = .full }
                    }
                }
                // The sync loop runs here and ends when shutdown closes the wake-ups (a watcher
                // that stops must not stop the agent); then the watchers and the timer stop.
                do {
                    try await syncLoop(wakeups, wake)
                } catch is CancellationError {}
                group.cancelAll()
            }
        } onGracefulShutdown: {
            wake.finish()
        }
    }

    /// What the API server's watch reports: objects go to the input at once, a sync is queued.
    private func clusterEvent(_ event: ClusterEvent, _ wake: AsyncStream<Void>.Continuation) {
        guard let cluster else { return }
        switch event {
        case .changed(let changes):
            cluster.input.receive(changes)
            metrics.recordWatch(changes)
            queue(wake) { _ in }
        case .initialListComplete:
            logger.info("Services and EndpointSlices listed; the first sync follows")
            cluster.input.listed()
            queue(wake) { $0.rescan = true }
        case .node(let facts):
            cluster.input.nodeChanged(facts)
            if let facts, synchronizer.nodeZoneChanged(facts.zone) {
                logger.info("this node's zone is \(facts.zone ?? "unset"): the whole table is compiled again")
                queue(wake) { $0.verify = true }
            }
            let wasEligible = health.isNodeEligible
            health.nodeChanged(facts)
            if wasEligible != health.isNodeEligible {
                logger.info(
                    health.isNodeEligible
                        ? "this node is eligible again: /healthz follows the syncs"
                        : "this node is being deleted or drained: /healthz answers 503 (nodeEligible false)")
            }
            if facts == nil, let name = configuration.compilerOptions.nodeName {
                logger.warning("this node's Node object \(name) does not exist (or was deleted)")
            }
            if !configuration.fromNode.isEmpty, facts != nil, let used = synchronizer.compilerOptions,
                cluster.input.completing(used) != used
            {
                // Options shape rules and are fixed at start; kube-proxy exits here to be restarted.
                logger.critical(
                    "this node's pod ranges or addresses changed; they shape the rules: exiting, to be restarted with them"
                )
                nodeChangedOptions = true
                wake.finish()
            } else if !configuration.fromNode.isEmpty, synchronizer.compilerOptions == nil {
                queue(wake) { _ in }  // the first sync may have waited for it
            }
        case .connection(let connection):
            metrics.recordConnection(connection)
            switch connection {
            case .failing(let kind, let error, let retryIn):
                logger.error(
                    "watching \(kind.resource) failed: \(error); retrying in \(retryIn); the kernel keeps its rules")
            case .recovered(let kind):
                logger.info("watching \(kind.resource) again")
            case .relisting(let kind, let reason):
                logger.info("listing \(kind.resource) again: \(reason)")
            }
        }
    }

    private func syncLoop(_ wakeups: AsyncStream<Void>, _ wake: AsyncStream<Void>.Continuation) async throws {
        syncNow(.full)
        checkMissedEvents(wake)
        var lastSync = ContinuousClock.now
        for await _ in wakeups {
            // Coalesce bursts: at most one sync per minSyncPeriod, once the folder is quiet.
            try await Task.sleep(until: lastSync + configuration.minSyncPeriod)
            if cluster == nil { try await settle() }  // files come in bursts; watch events do not
            lastSync = ContinuousClock.now
            let taken = pending.withLock { state in
                defer { state = Pending() }
                return state
            }
            guard !taken.isEmpty else { continue }
            syncNow(taken.work, queuedSince: taken.since)
            checkMissedEvents(wake)
        }
    }

    /// Someone may have committed while a large commit of ours went in unannounced: verify.
    private func checkMissedEvents(_ wake: AsyncStream<Void>.Continuation) {
        if quietStore?.missedForeignCommit.exchange(false, ordering: .relaxed) == true {
            queue(wake) { $0.verify = true }
        }
    }

    /// Waits until no event came for `settle`, at most `settleLimit`: a sync must not see half of
    /// a burst (a folder being deleted file by file, an editor's write-and-rename).
    private func settle() async throws {
        let deadline = ContinuousClock.now + Self.settleLimit
        while true {
            let quietSince = pending.withLock { $0.lastEvent }
            let now = ContinuousClock.now
            guard now - quietSince < Self.settle, now < deadline else { return }
            try await Task.sleep(until: min(quietSince + Self.settle, deadline))
        }
    }

    private nonisolated func queue(_ wake: AsyncStream<Void>.Continuation, _ add: (inout Synchronizer.Work) -> Void) {
        let now = Date()
        pending.withLock { state in
            add(&state.work)
            state.lastEvent = .now
            if state.since == nil { state.since = now }
        }
        health.queued(at: now)
        metrics.lastQueuedTimestamp.set(now.timeIntervalSince1970)
        metrics.changesPending.set(Double(1))
        wake.yield()
    }

    private func kernelEvent(_ event: GenerationEvents.Event, _ wake: AsyncStream<Void>.Continuation) {
        switch event {
        case .committed(let generation) where ownGenerations.contains(generation):
            return
        case .committed(let generation):
            logger.debug("foreign nf_tables commit", metadata: ["generation": "\(generation)"])
            queue(wake) { $0.verify = true }
        case .eventsLost:
            queue(wake) { $0.verify = true }
        }
    }

    private func syncNow(_ work: Synchronizer.Work, queuedSince: Date? = nil) {
        do {
            let report = try synchronizer.sync(work)
            if let outcome = report.outcome {
                let generations = [outcome.generation] + (outcome.affinityGeneration.map { [$0] } ?? [])
                ownGenerations = Array((ownGenerations + generations).suffix(16))
            }
            metrics.record(report, queuedSince: queuedSince, triggeredAt: cluster?.input.takeTriggerTimes() ?? [])
            metrics.changesPending.set(Double(0))
            if synchronizer.isSynced { health.synced() }
            if let change = report.change {
                serviceHealth.follow(change)
                metrics.follow(
                    change, node: configuration.compilerOptions.nodeName, zone: synchronizer.compilerOptions?.zone)
                if cluster == nil, case .some(let changing, let removing) = change {
                    metrics.serviceChanges.increment(by: Int64(changing.count + removing.count))
                }
            }
            // A full sync's transient structures (the whole compiled table, its batch) are freed
            // but glibc keeps the pages: give them back, or the agent stays at its peak for good.
            // Before the sync's log line, which tells watchers (and the benchmark) it is over.
            if report.kind == .full { ProcessMemory.returnFreedPages() }
            log(report)
        } catch {
            metrics.syncFailures.increment()
            logger.error("sync failed; the kernel keeps its rules", metadata: ["error": "\(error)"])
        }
    }

    private func log(_ report: Synchronizer.Report) {
        // Each error and warning once, when it appears, not at every sync (the sync line counts them).
        let errors = Set(report.inputErrors.filter { $0.severity == .error })
        for diagnostic in report.inputErrors where diagnostic.severity == .error && !loggedErrors.contains(diagnostic) {
            logger.error("bad input, last good rules kept: \(diagnostic.description)")
        }
        loggedErrors = errors
        let warnings = Set(report.warnings)
        for diagnostic in report.warnings where !loggedWarnings.contains(diagnostic) {
            logger.warning("\(diagnostic.description)")
        }
        loggedWarnings = warnings
        guard let outcome = report.outcome else { return }
        if let error = outcome.conntrackError {
            logger.warning("could not delete stale UDP conntrack entries: \(error)")
        }
        if let error = outcome.affinityError {
            logger.warning("could not forget the session affinity of removed endpoints: \(error)")
        }
        if let repair = outcome.repair {
            logger.warning("table \(configuration.tableName): \(repair)")
        }
        let milliseconds =
            Double(report.duration.components.attoseconds) / 1e15 + Double(report.duration.components.seconds) * 1000
        logger.info(
            "sync",
            metadata: [
                "kind": "\(report.kind.rawValue)", "services": "\(report.services)",
                "operations": "\(outcome.operations)", "added": "\(outcome.elementsAdded)",
                "removed": "\(outcome.elementsRemoved)", "repaired": "\(outcome.repair != nil)",
                "staleFlows": "\(outcome.staleFlowsDeleted)",
                "inputErrors": "\(report.inputErrors.filter { $0.severity == .error }.count)",
                "durationMs": "\(String(format: "%.2f", milliseconds))",
            ])
    }
}
