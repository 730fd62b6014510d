import APIServer
import Foundation
import Lab
import Synchronization

@testable import KubernetesAPI

/// A temporary folder for kubeconfigs, tokens and certificates, removed with it.
final class ScratchFolder: Sendable {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("nfcompile-kube-\(UUID().uuidString)")

    init() throws { try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true) }
    deinit { try? FileManager.default.removeItem(at: url) }

    /// Writes `text` to `name` and returns its path.
    @discardableResult
    func write(_ name: String, _ text: String) throws -> String {
        let path = url.appendingPathComponent(name).path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    func path(_ name: String) -> String { url.appendingPathComponent(name).path }
}

/// A started test API server with one authorized token, and a kubeconfig for it.
struct TestCluster {
    static let token = "proxy-token-1"
    static let user = "system:serviceaccount:kube-system:nfcompile"

    let server: TestAPIServer
    let folder: ScratchFolder

    init(expiredWatch: TestAPIServer.ExpiredWatch = .errorEvent, start: Bool = true) async throws {
        server = try TestAPIServer(
            users: .init(tokens: [Self.token: Self.user], authorized: [Self.user]), expiredWatch: expiredWatch)
        folder = try ScratchFolder()
        if start { try await server.start() }
    }

    /// A kubeconfig with the server, its CA file, and `user` written as the given YAML lines.
    func kubeconfig(user: String = "token: \(Self.token)", caLine: String? = nil, server url: String? = nil) throws
        -> String
    {
        let ca = caLine ?? "certificate-authority: \(server.certificateAuthority.certificatePath)"
        return try folder.write(
            "kubeconfig-\(UUID().uuidString.prefix(6))",
            """
            apiVersion: v1
            kind: Config
            clusters:
              - name: test
                cluster:
                  server: \(url ?? server.url)
                  \(ca)
            users:
              - name: proxy
                user:
                  \(user)
            contexts:
              - name: test
                context:
                  cluster: test
                  user: proxy
            current-context: test
            """)
    }

    func configuration(user: String = "token: \(Self.token)") throws -> APIServerConfiguration {
        try APIServerConfiguration.resolve(kubeconfig: try kubeconfig(user: user), master: nil)
    }
}

/// Options that keep tests quick: short backoff, small pages, no rate limit to speak of.
let testOptions = InformerOptions(
    pageSize: 2, minimumWatchTimeout: .seconds(120), listTimeout: .seconds(10),
    backoff: Backoff(initial: .milliseconds(50), maximum: .milliseconds(400)))
let testRateLimit = TokenBucket(qps: 1000, burst: 1000)

/// Collects a cluster watch's events as they come; tests wait for a condition over what has arrived.
final class EventLog: Sendable {
    private let events = Mutex<[ClusterEvent]>([])
    private let task: Mutex<Task<Void, Never>?> = Mutex(nil)

    /// The watch's informers and this log's reader run on their own thread (see `DedicatedExecutor`).
    static let executor = DedicatedExecutor(label: "nfcompile.tests.cluster-watch")

    convenience init(_ watch: ClusterWatch) { self.init(watch.events(executor: Self.executor)) }

    init(_ stream: AsyncStream<ClusterEvent>) {
        task.withLock {
            $0 = Task(executorPreference: Self.executor) { [self] in
                for await event in stream { self.events.withLock { $0.append(event) } }
            }
        }
    }

    /// Stops the watch.
    func stop() { task.withLock { $0?.cancel() } }

    deinit { task.withLock { $0?.cancel() } }

    var all: [ClusterEvent] { events.withLock { $0 } }

    /// Every object change so far, in order.
    var changes: [ObjectChange] {
        all.flatMap { event -> [ObjectChange] in
            if case .changed(let changes) = event { return changes }
            return []
        }
    }

    var connectionEvents: [ConnectionEvent] {
        all.compactMap { event in
            if case .connection(let connection) = event { return connection }
            return nil
        }
    }

    /// Waits until `condition` holds over the events so far; throws after `timeout`, listing what came.
    func wait(
        _ what: String, timeout: Duration = .seconds(20), until condition: ([ClusterEvent]) -> Bool
    ) async throws {
        let deadline = ContinuousClock.now + timeout
        while !condition(all) {
            guard ContinuousClock.now < deadline else {
                throw LabError(
                    "timed out waiting for \(what); events so far:\n" + all.map { "  \($0)" }.joined(separator: "\n"))
            }
            try await Task.sleep(for: .milliseconds(20))
        }
    }

    /// Waits for the object change `source` (e.g. `api:Service default/web`) with `deleted` as given.
    func waitForChange(_ source: String, deleted: Bool = false, after count: Int = 0) async throws {
        try await wait("\(deleted ? "deletion" : "change") of \(source)") { _ in
            changes.dropFirst(count).contains { $0.source == source && $0.isDeletion == deleted }
        }
    }

    func waitForInitialList() async throws {
        try await wait("the initial list") { events in
            events.contains { if case .initialListComplete = $0 { return true } else { return false } }
        }
    }
}

// MARK: - Objects

enum Objects {
    static func service(
        _ name: String, namespace: String = "default", labels: [String: String] = ["app": "web"], port: Int = 80
    ) -> String {
        """
        {"apiVersion":"v1","kind":"Service","metadata":{"name":"\(name)","namespace":"\(namespace)","labels":\(json(labels))},
         "spec":{"type":"ClusterIP","selector":{"app":"\(name)"},
                 "ports":[{"name":"http","port":\(port),"protocol":"TCP","targetPort":8080}]}}
        """
    }

    static func endpointSlice(
        _ name: String, service: String, namespace: String = "default", addresses: [String] = ["10.244.1.10"],
        extraLabels: [String: String] = [:], triggerTime: String? = nil
    ) -> String {
        let labels = [
            "kubernetes.io/service-name": service,
            "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io",
        ]
        .merging(extraLabels) { $1 }
        let annotations =
            triggerTime.map { "\"annotations\":{\"endpoints.kubernetes.io/last-change-trigger-time\":\"\($0)\"}," }
            ?? ""
        let endpoints = addresses.map {
            "{\"addresses\":[\"\($0)\"],\"conditions\":{\"ready\":true,\"serving\":true,\"terminating\":false},\"nodeName\":\"node-a\"}"
        }
        return """
            {"apiVersion":"discovery.k8s.io/v1","kind":"EndpointSlice","addressType":"IPv4",
             "metadata":{"name":"\(name)","namespace":"\(namespace)",\(annotations)"labels":\(json(labels))},
             "endpoints":[\(endpoints.joined(separator: ","))],
             "ports":[{"name":"http","port":8080,"protocol":"TCP"}]}
            """
    }

    static func node(
        _ name: String, zone: String = "zone-a", podCIDRs: [String] = ["10.244.1.0/24"], taints: [String] = [],
        deleting: Bool = false
    ) -> String {
        let taintList = taints.map { "{\"key\":\"\($0)\",\"effect\":\"NoSchedule\"}" }.joined(separator: ",")
        let deletion = deleting ? ",\"deletionTimestamp\":\"2026-11-30T10:00:00Z\"" : ""
        return """
            {"apiVersion":"v1","kind":"Node","metadata":{"name":"\(name)","labels":{"topology.kubernetes.io/zone":"\(zone)"}\(deletion)},
             "spec":{"podCIDR":"\(podCIDRs.first ?? "")","podCIDRs":\(json(podCIDRs)),"taints":[\(taintList)]}}
            """
    }

    private static func json(_ value: Any) -> String {
        String(decoding: try! JSONSerialization.data(withJSONObject: value, options: [.sortedKeys]), as: UTF8.self)
    }
}
