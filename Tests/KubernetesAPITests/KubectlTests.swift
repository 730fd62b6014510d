import APIServer
import Foundation
import Lab
import Synchronization
import Testing

@testable import KubernetesAPI

/// The honesty check of the test API server: Debian's kubectl 1.20, a client nobody here wrote, must see
/// what the server holds, through discovery, paginated lists, watches, TLS and authentication.
@Suite struct KubectlTests {
    /// Debian's kubectl: installed by kubernetes-client, or unpacked by scripts/setup under .build/ when
    /// another package owns /usr/bin/kubectl. Fails, never skips, when neither is there.
    static func kubectl() throws -> String {
        let unpacked = Repository.root.appendingPathComponent(".build/kubernetes-client/usr/bin/kubectl").path
        if FileManager.default.isExecutableFile(atPath: unpacked) { return unpacked }
        let owner = try? Shell.run(["dpkg-query", "-S", "/usr/bin/kubectl"])
        if owner?.hasPrefix("kubernetes-client:") == true { return "/usr/bin/kubectl" }
        throw LabError("Debian's kubectl (kubernetes-client) is missing: run scripts/setup")
    }

    /// Runs kubectl to completion with a private cache folder, on a thread of its own: waiting for it on
    /// one of the few cooperative threads would starve the test server's tasks.
    func run(_ arguments: [String], kubeconfig: String, folder: ScratchFolder) async throws -> (
        status: Int32, output: String, errors: String
    ) {
        let command =
            [
                try Self.kubectl(), "--kubeconfig", kubeconfig, "--cache-dir", folder.path("kubectl-cache"),
                "--request-timeout=20s",
            ] + arguments
        return try await withCheckedThrowingContinuation { continuation in
            DispatchQueue.global().async {
                do {
                    continuation.resume(returning: (0, try Shell.run(command), ""))
                } catch let failure as Shell.Failure {
                    continuation.resume(returning: (failure.status, "", failure.standardError))
                } catch {
                    continuation.resume(throwing: error)
                }
            }
        }
    }

    static let items = [
        Objects.service("web", namespace: "shop"),
        Objects.service("db", namespace: "shop", port: 5432),
        Objects.service("dns", namespace: "kube-system", port: 53),
        Objects.endpointSlice("web-1", service: "web", namespace: "shop", addresses: ["10.244.1.5", "10.244.2.6"]),
        Objects.endpointSlice("db-1", service: "db", namespace: "shop"),
        Objects.endpointSlice("dns-1", service: "dns", namespace: "kube-system"),
    ]

    @Test func kubectlGetSeesEveryServiceAndEndpointSliceThroughPaginatedLists() async throws {
        let cluster = try await TestCluster()
        for item in Self.items { try cluster.server.apply(item) }
        let result = try await run(
            ["get", "services,endpointslices", "-A", "-o", "json", "--chunk-size=2"],
            kubeconfig: try cluster.kubeconfig(), folder: cluster.folder)
        #expect(result.status == 0, "kubectl failed: \(result.errors)")
        let list = try #require(try JSONSerialization.jsonObject(with: Data(result.output.utf8)) as? [String: Any])
        let items = try #require(list["items"] as? [[String: Any]])
        let seen = Set(
            items.map { item in
                let metadata = item["metadata"] as? [String: Any] ?? [:]
                return
                    "\(item["kind"] ?? "?") \(metadata["namespace"] ?? "?")/\(metadata["name"] ?? "?") \(metadata["resourceVersion"] ?? "?")"
            })
        var held: Set<String> = []
        for (resource, kind) in [(TestResource.services, "Service"), (.endpointslices, "EndpointSlice")] {
            for (key, bytes) in cluster.server.objects(resource) {
                let object = try JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any]
                let resourceVersion = (object?["metadata"] as? [String: Any])?["resourceVersion"] ?? "?"
                held.insert("\(kind) \(key) \(resourceVersion)")
            }
        }
        #expect(seen == held)
        let endpoints =
            items.first { ($0["metadata"] as? [String: Any])?["name"] as? String == "web-1" }?["endpoints"]
            as? [[String: Any]]
        #expect(endpoints?.compactMap { ($0["addresses"] as? [String])?.first } == ["10.244.1.5", "10.244.2.6"])
        let pages = cluster.server.requests.filter { $0.path == "/api/v1/services" && $0.query["limit"] == "2" }
        #expect(pages.count == 2, "kubectl paged through the 3 services: \(pages)")
        #expect(pages.last?.query["continue"] != nil)
    }

    @Test func kubectlWithAClientCertificate() async throws {
        let cluster = try await TestCluster()
        let issued = try cluster.server.certificateAuthority.issueClientCertificate(
            user: "admin", groups: ["system:masters"])
        try cluster.server.authenticate(clientCertificate: issued.certificatePEM, as: TestCluster.user)
        try cluster.server.apply(Objects.node("node-a", zone: "zone-q"))
        let kubeconfig = try cluster.kubeconfig(
            user: "client-certificate: \(issued.certificatePath)\n      client-key: \(issued.keyPath)")
        let result = try await run(
            ["get", "node", "node-a", "-o", "jsonpath={.metadata.labels.topology\\.kubernetes\\.io/zone}"],
            kubeconfig: kubeconfig, folder: cluster.folder)
        #expect(result.status == 0, "kubectl failed: \(result.errors)")
        #expect(result.output == "zone-q")
    }

    @Test func kubectlIsRefusedWithAWrongTokenAndAWrongCA() async throws {
        let cluster = try await TestCluster()
        let wrongToken = try await run(
            ["get", "services", "-A", "-o", "json"], kubeconfig: try cluster.kubeconfig(user: "token: wrong"),
            folder: cluster.folder)
        #expect(wrongToken.status != 0)
        #expect(wrongToken.errors.contains("Unauthorized"), "\(wrongToken.errors)")
        let otherCA = try TestCertificateAuthority(name: "someone-else")
        let wrongCA = try await run(
            ["get", "services", "-A", "-o", "json"],
            kubeconfig: try cluster.kubeconfig(caLine: "certificate-authority: \(otherCA.certificatePath)"),
            folder: cluster.folder)
        #expect(wrongCA.status != 0)
        #expect(wrongCA.errors.contains("certificate signed by unknown authority"), "\(wrongCA.errors)")
    }

    @Test func kubectlWatchSeesListThenAddedModifiedDeleted() async throws {
        let cluster = try await TestCluster()
        for item in Self.items { try cluster.server.apply(item) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try Self.kubectl())
        process.arguments = [
            "--kubeconfig", try cluster.kubeconfig(), "--cache-dir", cluster.folder.path("kubectl-cache"),
            "--request-timeout=30s",
            "get", "endpointslices", "-A", "--watch", "-o", "json", "--output-watch-events",
        ]
        process.environment = ["HOME": cluster.folder.url.path, "PATH": "/usr/bin:/bin"]
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        let events = Mutex<[(type: String, name: String)]>([])
        let framer = Mutex(JSONStreamFramer())
        output.fileHandleForReading.readabilityHandler = { handle in
            let data = handle.availableData
            guard !data.isEmpty, let objects = try? framer.withLock({ try $0.append(data) }) else { return }
            for bytes in objects {
                guard let event = try? JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any],
                    let type = event["type"] as? String, let object = event["object"] as? [String: Any],
                    let name = (object["metadata"] as? [String: Any])?["name"] as? String
                else { continue }
                events.withLock { $0.append((type, name)) }
            }
        }
        try process.run()
        defer {
            if process.isRunning { process.terminate() }
            process.waitUntilExit()
            output.fileHandleForReading.readabilityHandler = nil
        }
        func wait(for type: String, _ name: String) async throws {
            let deadline = ContinuousClock.now + .seconds(20)
            while !events.withLock({ $0.contains { $0.type == type && $0.name == name } }) {
                guard process.isRunning, ContinuousClock.now < deadline else {
                    throw LabError("kubectl --watch did not show \(type) \(name); it showed \(events.withLock { $0 })")
                }
                try await Task.sleep(for: .milliseconds(20))
            }
        }
        for name in ["web-1", "db-1", "dns-1"] { try await wait(for: "ADDED", name) }
        try await cluster.server.waitForWatches(1)
        try cluster.server.apply(Objects.endpointSlice("cache-1", service: "cache", namespace: "shop"))
        try await wait(for: "ADDED", "cache-1")
        try cluster.server.apply(
            Objects.endpointSlice("web-1", service: "web", namespace: "shop", addresses: ["10.244.1.5"]))
        try await wait(for: "MODIFIED", "web-1")
        try cluster.server.delete(.endpointslices, namespace: "shop", name: "db-1")
        try await wait(for: "DELETED", "db-1")
        let watchRequest = try #require(cluster.server.requests.first { $0.isWatch })
        #expect(watchRequest.path == "/apis/discovery.k8s.io/v1/endpointslices")
        #expect(watchRequest.query["resourceVersion"] != nil, "kubectl watches from its list's resourceVersion")
        #expect(events.withLock { $0.count } == 6, "\(events.withLock { $0 })")
    }
}

extension TestAPIServer {
    /// Waits until `count` watches are open.
    func waitForWatches(_ count: Int) async throws {
        let deadline = ContinuousClock.now + .seconds(20)
        while openWatches < count {
            guard ContinuousClock.now < deadline else { throw LabError("\(count) watches did not open") }
            try await Task.sleep(for: .milliseconds(20))
        }
    }
}
