import Foundation
import Synchronization

/// Everything the node agent reads from the API server, as one ordered stream of events: Services and
/// EndpointSlices with kube-proxy's label selector, and this node's Node by field selector.
public final class ClusterWatch: Sendable {
    public let configuration: APIServerConfiguration
    /// The Node to watch (`--node-name`); nil watches none.
    public let nodeName: String?
    public let options: InformerOptions
    public let rateLimit: TokenBucket
    private let recorder = StatisticsRecorder()

    /// Fails when the configuration's certificates cannot be used; connection problems are reported as
    /// events instead, and retried.
    public init(
        configuration: APIServerConfiguration, nodeName: String?, options: InformerOptions = InformerOptions(),
        rateLimit: TokenBucket = .kubeProxyDefault
    ) throws(ConfigurationError) {
        try APIClient.validate(configuration)
        self.configuration = configuration
        self.nodeName = nodeName
        self.options = options
        self.rateLimit = rateLimit
    }

    /// The informers' counters so far (lists, relists, reconnects, events by kind and type).
    public var statistics: WatchStatistics { recorder.snapshot }

    /// Starts watching; the stream runs until its consumer stops iterating it (which stops the informers
    /// and closes the connections). Object changes come in the order the server sent them per kind;
    /// `initialListComplete` follows every change of the first Service and EndpointSlice lists.
    /// The informers run on `executor` when one is given (tests give them a thread of their own).
    public func events(executor: (any TaskExecutor)? = nil) -> AsyncStream<ClusterEvent> {
        let (stream, continuation) = AsyncStream.makeStream(of: ClusterEvent.self)
        let selections = selections()
        let forwarder = EventForwarder(continuation)
        let task = Task(executorPreference: executor) { [configuration, options, rateLimit, recorder] in
            do {
                try await APIClient.withClient(configuration, rateLimit: rateLimit) { client in
                    await withTaskGroup(of: Void.self) { group in
                        for selection in selections {
                            let informer = Informer(
                                client: client, selection: selection, options: options, statistics: recorder)
                            group.addTask {
                                await informer.run { output in forwarder.forward(output, of: selection.kind) }
                            }
                        }
                    }
                }
            } catch {
                // Only configuration errors end the watch, and `init` already checked those.
            }
            continuation.finish()
        }
        continuation.onTermination = { _ in task.cancel() }
        return stream
    }

    private func selections() -> [ResourceSelection] {
        var selections = [
            ResourceSelection(kind: .service, labelSelector: ResourceSelection.kubeProxyLabelSelector),
            ResourceSelection(kind: .endpointSlice, labelSelector: ResourceSelection.kubeProxyLabelSelector),
        ]
        if let nodeName {
            selections.append(ResourceSelection(kind: .node, fieldSelector: "metadata.name=\(nodeName)"))
        }
        return selections
    }
}

/// Turns the informers' outputs into one stream of cluster events.
private final class EventForwarder: Sendable {
    /// What the informers have announced so far.
    private struct Progress {
        var listed: Set<ObjectKind> = []
        var initialListComplete = false
        var nodeReported = false
    }

    private let continuation: AsyncStream<ClusterEvent>.Continuation
    private let progress = Mutex(Progress())

    init(_ continuation: AsyncStream<ClusterEvent>.Continuation) { self.continuation = continuation }

    /// The first-list announcement is made under the lock by the second informer to finish, after its
    /// own changes, so it follows every change of both lists.
    func forward(_ output: InformerOutput, of kind: ObjectKind) {
        switch output {
        case .changed(let changes) where kind == .node:
            // Only this node is selected; its last state is what counts.
            guard let last = changes.last else { return }
            progress.withLock { $0.nodeReported = true }
            continuation.yield(.node(last.object.flatMap { NodeFacts(json: $0) }))
        case .changed(let changes):
            continuation.yield(.changed(changes))
        case .listed where kind == .node:
            // An empty first list means the Node does not exist (yet): say so once.
            if !progress.withLock({ $0.nodeReported }) { continuation.yield(.node(nil)) }
        case .listed:
            progress.withLock { progress in
                progress.listed.insert(kind)
                if !progress.initialListComplete, progress.listed.isSuperset(of: [.service, .endpointSlice]) {
                    progress.initialListComplete = true
                    continuation.yield(.initialListComplete)
                }
            }
        case .connection(let event):
            continuation.yield(.connection(event))
        }
    }
}
