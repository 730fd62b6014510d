import Foundation
import Logging
import Netlink
import Ruleset
import ServiceLifecycle
import Synchronization

/// The node agent: keeps the kernel's table equal to what the manifests folder says.
///
/// Syncs are triggered by file changes (partial sync, coalesced to at most one per
/// `minSyncPeriod`), by foreign commits the kernel announces and by the `syncPeriod` timer
/// (full sync: verify against a kernel dump, repair drift). SIGTERM/SIGINT end the loop; the
/// rules stay in the kernel, so a restart interrupts no traffic.
public actor NodeAgent: Service {
    private let configuration: AgentConfiguration
    private let synchronizer: Synchronizer
    private let logger: Logger
    private let kernelEvents: AsyncStream<GenerationEvents.Event>?
    public nonisolated let health: HealthState
    public nonisolated let metrics: AgentMetrics

    private struct Pending {
        var partial = false
        var full = false
        var since: Date?
    }

    private let pending = Mutex(Pending())
    /// Generations of our own recent commits: their kernel events are not foreign changes.
    private var ownGenerations: [UInt32] = []

    public init(
        configuration: AgentConfiguration, store: RulesetStore,
        kernelEvents: AsyncStream<GenerationEvents.Event>?, logger: Logger
    ) {
        self.configuration = configuration
        self.synchronizer = Synchronizer(configuration: configuration, store: store)
        self.kernelEvents = kernelEvents
        self.logger = logger
        self.health = HealthState(syncPeriod: configuration.syncPeriod)
        self.metrics = AgentMetrics()
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
        let (wakeups, wake) = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))
        let fileChanges = try ManifestWatcher.changes(in: configuration.manifests)
        try await withGracefulShutdownHandler {
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { [self] in
                    for await _ in fileChanges { self.queue(full: false, wake) }
                }
                if let kernelEvents {
                    group.addTask { [self] in
                        for await event in kernelEvents { await self.kernelEvent(event, wake) }
                    }
                }
                group.addTask { [self] in
                    while !Task.isCancelled {
                        try await Task.sleep(for: configuration.syncPeriod)
                        self.queue(full: true, wake)
                    }
                }
                // The sync loop runs here and ends when shutdown closes the wake-ups (a watcher
                // that stops must not stop the agent); then the watchers and the timer stop.
                do {
                    try await syncLoop(wakeups)
                } catch is CancellationError {}
                group.cancelAll()
            }
        } onGracefulShutdown: {
            wake.finish()
        }
        logger.info("agent stopped; the rules stay in the kernel")
    }

    private func syncLoop(_ wakeups: AsyncStream<Void>) async throws {
        syncNow(.full)
        var lastSync = ContinuousClock.now
        for await _ in wakeups {
            // Coalesce bursts: at most one sync per minSyncPeriod.
            try await Task.sleep(until: lastSync + configuration.minSyncPeriod)
            lastSync = ContinuousClock.now
            let work = pending.withLock { state in
                defer { state = Pending() }
                return state
            }
            guard work.full || work.partial else { continue }
            syncNow(work.full ? .full : .partial, queuedSince: work.since)
        }
    }

    private nonisolated func queue(full: Bool, _ wake: AsyncStream<Void>.Continuation) {
        let now = Date()
        pending.withLock { state in
            if full { state.full = true } else { state.partial = true }
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
            queue(full: true, wake)
        case .eventsLost:
            queue(full: true, wake)
        }
    }

    private func syncNow(_ kind: Synchronizer.Kind, queuedSince: Date? = nil) {
        do {
            let report = try synchronizer.sync(kind)
            if let generation = synchronizer.appliedGeneration {
                ownGenerations = Array((ownGenerations + [generation]).suffix(16))
            }
            metrics.record(report, queuedSince: queuedSince)
            metrics.changesPending.set(Double(0))
            health.synced()
            log(report)
        } catch {
            metrics.syncFailures.increment()
            logger.error("sync failed; the kernel keeps its rules", metadata: ["error": "\(error)"])
        }
    }

    private func log(_ report: Synchronizer.Report) {
        for diagnostic in report.inputErrors where diagnostic.severity == .error {
            logger.error("bad input, last good rules kept: \(diagnostic.description)")
        }
        if let error = report.conntrackError {
            logger.warning("could not delete stale UDP conntrack entries: \(error)")
        }
        if report.repairedDrift {
            logger.warning("repaired a change someone else made to table \(configuration.tableName)")
        }
        let milliseconds = Double(report.duration.components.attoseconds) / 1e15 + Double(report.duration.components.seconds) * 1000
        logger.info(
            "sync",
            metadata: [
                "kind": "\(report.kind.rawValue)", "services": "\(report.services)",
                "operations": "\(report.operations)", "added": "\(report.elementsAdded)",
                "removed": "\(report.elementsRemoved)", "repaired": "\(report.repairedDrift)",
                "staleFlows": "\(report.staleFlowsDeleted)",
                "inputErrors": "\(report.inputErrors.filter { $0.severity == .error }.count)",
                "durationMs": "\(String(format: "%.2f", milliseconds))",
            ])
    }
}
