import Foundation
import NIOCore

/// The objects one informer watches: a kind, with the label and field selectors of its requests.
struct ResourceSelection: Sendable {
    var kind: ObjectKind
    var labelSelector: String?
    var fieldSelector: String?

    /// kube-proxy's selector for Services and EndpointSlices: objects of other service proxies, and
    /// headless services, are not ours.
    static let kubeProxyLabelSelector = "!service.kubernetes.io/service-proxy-name,!service.kubernetes.io/headless"

    var selectorQuery: [(String, String)] {
        var query: [(String, String)] = []
        if let labelSelector { query.append(("labelSelector", labelSelector)) }
        if let fieldSelector { query.append(("fieldSelector", fieldSelector)) }
        return query
    }
}

/// How informers list, watch and retry.
public struct InformerOptions: Sendable {
    /// Objects per LIST page (`limit`); client-go's pager uses 500.
    public var pageSize: Int
    /// Each watch asks the server to end it after a random time between this and twice this (client-go's
    /// reflector: 5 minutes), so that connections are spread over API servers.
    public var minimumWatchTimeout: Duration
    /// The deadline of one LIST page.
    public var listTimeout: Duration
    /// The delay between failed attempts.
    public var backoff: Backoff

    public init(
        pageSize: Int = 500, minimumWatchTimeout: Duration = .seconds(300), listTimeout: Duration = .seconds(60),
        backoff: Backoff = .kubeProxyDefault
    ) {
        self.pageSize = pageSize
        self.minimumWatchTimeout = minimumWatchTimeout
        self.listTimeout = listTimeout
        self.backoff = backoff
    }
}

/// What an informer reports to the cluster watch.
enum InformerOutput: Sendable {
    case changed([ObjectChange])
    /// The first LIST completed: every object that existed then has been reported.
    case listed
    case connection(ConnectionEvent)
}

/// One resource kept up to date the way client-go's reflector does it: LIST (paginated), then WATCH from
/// the list's resourceVersion with bookmarks; after a disconnect, WATCH again from the last resourceVersion
/// seen; after 410 Gone, LIST again and report the difference, deletions missed while away included.
struct Informer: Sendable {
    let client: APIClient
    let selection: ResourceSelection
    let options: InformerOptions
    let statistics: StatisticsRecorder

    /// What the informer has reported: every live object's resourceVersion, by namespace/name.
    struct State {
        var known: [ObjectKey: String] = [:]
        /// Where the next WATCH starts; nil when a LIST is needed.
        var resourceVersion: String?
    }

    private var kind: ObjectKind { selection.kind }

    /// Runs until the task is cancelled.
    func run(_ emit: @Sendable (InformerOutput) -> Void) async {
        var state = State()
        var listedOnce = false
        var backoff = options.backoff
        var reported: APIError?

        func recovered() {
            if reported != nil { emit(.connection(.recovered(kind))) }
            reported = nil
        }

        while !Task.isCancelled {
            do {
                if state.resourceVersion == nil {
                    try await list(&state, emit)
                    statistics.record(kind) { counters in
                        if listedOnce { counters.relists += 1 } else { counters.lists += 1 }
                    }
                    recovered()
                    if !listedOnce {
                        listedOnce = true
                        emit(.listed)
                    }
                }
                let watched = try await watch(&state, emit: emit, onStart: { recovered() })
                statistics.record(kind) { $0.reconnects += 1 }
                if watched.events == 0, watched.duration < .seconds(1) {
                    // A watch that ends at once would otherwise spin: client-go treats it as a failure too.
                    try await Task.sleep(for: backoff.delay())
                } else {
                    backoff.reset()
                }
            } catch let error as APIError where error.isGone {
                statistics.record(kind) { $0.expired += 1 }
                emit(.connection(.relisting(kind, reason: error.message)))
                state.resourceVersion = nil
            } catch let error as APIError {
                if Task.isCancelled { return }
                statistics.record(kind) { $0.failures += 1 }
                let delay = backoff.delay()
                if reported != error {
                    emit(.connection(.failing(kind, error, retryIn: delay)))
                    reported = error
                }
                do { try await Task.sleep(for: delay) } catch { return }
            } catch {
                return  // cancelled
            }
        }
    }

    // MARK: - LIST

    /// Lists every page, reports what differs from what is known, then what has disappeared.
    private func list(_ state: inout State, _ emit: (InformerOutput) -> Void) async throws(APIError) {
        var seen: Set<ObjectKey> = []
        var continueToken: String?
        var restarted = false
        var resourceVersion = ""
        // Until the last page; `continue` starts the list over (a `repeat … while` would test the
        // cleared token and stop instead).
        while true {
            var query = selection.selectorQuery + [("limit", "\(options.pageSize)")]
            if let continueToken { query.append(("continue", continueToken)) }
            let body: [UInt8]
            do {
                body = try await client.get(
                    kind.collectionPath, query: query, request: "list \(kind.resource)", timeout: options.listTimeout,
                    paced: continueToken == nil)
            } catch let error where error.isGone && continueToken != nil && !restarted {
                // The continue token outlived the server's history: list from the start once more, as
                // client-go's pager does. What was reported from earlier pages stays true.
                restarted = true
                continueToken = nil
                seen = []
                continue
            }
            let page: ListPage
            do {
                page = try ListPage(body, kind: kind)
            } catch {
                throw malformed(error, request: "list \(kind.resource)")
            }
            var changes: [ObjectChange] = []
            for item in page.items {
                let key = item.summary.key
                seen.insert(key)
                if state.known[key] != item.summary.resourceVersion {
                    state.known[key] = item.summary.resourceVersion
                    changes.append(ObjectChange(item, kind: kind))
                }
            }
            if !changes.isEmpty { emit(.changed(changes)) }
            resourceVersion = page.resourceVersion
            guard let next = page.continueToken else { break }
            continueToken = next
        }
        let gone = state.known.filter { !seen.contains($0.key) }
        if !gone.isEmpty {
            var deletions: [ObjectChange] = []
            for (key, resourceVersion) in gone.sorted(by: { $0.key < $1.key }) {
                state.known[key] = nil
                deletions.append(
                    ObjectChange(
                        kind: kind, namespace: key.namespace, name: key.name, resourceVersion: resourceVersion,
                        object: nil))
            }
            emit(.changed(deletions))
        }
        state.resourceVersion = resourceVersion
    }

    // MARK: - WATCH

    /// Watches from `state.resourceVersion` until the server ends the stream or it is cut; each event
    /// moves `state.resourceVersion` on. Throws 410 (as HTTP status or ERROR event) and request failures.
    private func watch(_ state: inout State, emit: (InformerOutput) -> Void, onStart: () -> Void) async throws(APIError)
        -> (events: Int, duration: Duration)
    {
        guard let from = state.resourceVersion else { return (0, .zero) }
        let minimum = options.minimumWatchTimeout
        let timeout = minimum + minimum * Double.random(in: 0..<1)
        let seconds = max(1, Int(timeout.components.seconds))
        let query =
            selection.selectorQuery + [
                ("watch", "true"), ("resourceVersion", from), ("allowWatchBookmarks", "true"),
                ("timeoutSeconds", "\(seconds)"),
            ]
        let request = "watch \(kind.resource)"
        let started = ContinuousClock.now
        // The deadline outlasts the server's own timeout: it only catches a connection that went silent.
        let body = try await client.stream(
            kind.collectionPath, query: query, request: request, deadline: .seconds(seconds + 30))
        statistics.record(kind) { $0.watches += 1 }
        onStart()
        var framer = JSONStreamFramer()
        var events = 0
        do {
            for try await buffer in body {
                var changes: [ObjectChange] = []
                for bytes in try framer.append(buffer.readableBytesView) {
                    events += 1
                    let event = try WatchEvent(bytes, kind: kind)
                    statistics.record(kind) { $0.count(event) }
                    switch event {
                    case .added(let object), .modified(let object):
                        let key = object.summary.key
                        state.resourceVersion = object.summary.resourceVersion
                        guard state.known[key] != object.summary.resourceVersion else { continue }
                        state.known[key] = object.summary.resourceVersion
                        changes.append(ObjectChange(object, kind: kind))
                    case .deleted(let object):
                        state.resourceVersion = object.summary.resourceVersion
                        guard state.known.removeValue(forKey: object.summary.key) != nil else { continue }
                        changes.append(ObjectChange(object, kind: kind, deleted: true))
                    case .bookmark(let resourceVersion):
                        if !resourceVersion.isEmpty { state.resourceVersion = resourceVersion }
                    case .error(let code, let reason, let message):
                        if !changes.isEmpty { emit(.changed(changes)) }
                        if code == 410 {
                            throw APIError(
                                .gone, request: request, server: client.configuration.server,
                                message: "410 \(reason): \(message)")
                        }
                        throw APIError(
                            .status(code), request: request, server: client.configuration.server,
                            message: "watch ended with \(code) \(reason): \(message)")
                    }
                }
                if !changes.isEmpty { emit(.changed(changes)) }
            }
        } catch let error as APIError {
            throw error
        } catch let error as JSONSyntaxError {
            throw malformed(error, request: request)
        } catch {
            // The stream was cut (connection closed mid-body, deadline): what arrived stands; the caller
            // watches again from the last resourceVersion.
        }
        return (events, ContinuousClock.now - started)
    }

    private func malformed(_ error: JSONSyntaxError, request: String) -> APIError {
        APIError(
            .malformedResponse, request: request, server: client.configuration.server,
            message: "the answer is not Kubernetes API JSON: \(error)",
            fix: "check that the server URL is the API server's (not a proxy or a web page)")
    }
}
