import APIServer
import Addressing
import Foundation
import Lab
import Ruleset
import Testing

/// `nfcompile agent` in a lab node against the test API server, as on a real node: objects
/// created, changed and deleted through the server reach the kernel and carry traffic.
@Suite struct AgentAPITests {
    static let token = "proxy-token"
    static let user = "system:serviceaccount:kube-system:nfcompile"
    static let clusterIP = "10.96.0.50"
    /// Where the node reaches the API server (forwarded to the test server on the host).
    static let nodePort = 6443

    /// A lab node with pods `web-0`… listening on 8080, a client outside, the test API server
    /// reachable from the node, and a kubeconfig for it.
    final class Setup {
        let lab: NetworkLab
        let server: TestAPIServer
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("nfcompile-api-\(UUID())")
        let client: String
        let pods: [String: String]

        init(pods count: Int = 6, start: Bool = true) async throws {
            lab = try NetworkLab()
            server = try TestAPIServer(
                users: .init(tokens: [AgentAPITests.token: AgentAPITests.user], authorized: [AgentAPITests.user]))
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            pods = Dictionary(uniqueKeysWithValues: (0..<count).map { ("web-\($0)", "10.244.1.\(10 + $0)") })
            _ = try lab.addPods(
                pods.sorted { $0.key < $1.key }.map {
                    NetworkLab.Pod(name: $0.key, address: $0.value, tcpPorts: [8080])
                })
            client = try lab.addHost("client", address: "198.18.0.10")
            // A fixed port, so that the server can go down and come back where the node expects it.
            try await server.start(port: start ? nil : Int.random(in: 40000...49999))
            if !start { await server.stop() }
            try lab.forwardHostPort(server.port, toNodePort: AgentAPITests.nodePort)
        }

        deinit {
            lab.tearDown()
            try? FileManager.default.removeItem(at: folder)
        }

        func kubeconfig(token: String = AgentAPITests.token, tokenFile: String? = nil, ca: String? = nil) throws
            -> String
        {
            let path = folder.appendingPathComponent("kubeconfig-\(UUID().uuidString.prefix(6))").path
            let user = tokenFile.map { "tokenFile: \($0)" } ?? "token: \(token)"
            try """
            apiVersion: v1
            kind: Config
            clusters:
              - name: test
                cluster:
                  server: https://127.0.0.1:\(AgentAPITests.nodePort)
                  certificate-authority: \(ca ?? server.certificateAuthority.certificatePath)
            users:
              - name: proxy
                user:
                  \(user)
            contexts:
              - name: test
                context: {cluster: test, user: proxy}
            current-context: test
            """.write(toFile: path, atomically: true, encoding: .utf8)
            return path
        }

        func agent(kubeconfig: String, arguments: [String] = []) throws -> AgentProcess {
            try AgentProcess(
                lab: lab, manifests: nil,
                arguments: ["--kubeconfig", kubeconfig, "--node-name", "node-a", "--cluster-cidr", "10.244.0.0/16"]
                    + arguments)
        }

        func service(_ name: String = "web", clusterIP: String = AgentAPITests.clusterIP, nodePort: Int? = 31080)
            -> String
        {
            """
            {"apiVersion": "v1", "kind": "Service",
             "metadata": {"name": "\(name)", "namespace": "default", "uid": "u-\(name)", "creationTimestamp": "2026-12-01T10:00:00Z"},
             "spec": {"type": "\(nodePort == nil ? "ClusterIP" : "NodePort")", "clusterIP": "\(clusterIP)", "clusterIPs": ["\(clusterIP)"],
                      "ipFamilies": ["IPv4"], "ipFamilyPolicy": "SingleStack", "selector": {"app": "\(name)"},
                      "ports": [{"name": "http", "port": 80, "protocol": "TCP", "targetPort": 8080\(nodePort.map { ", \"nodePort\": \($0)" } ?? "")}],
                      "sessionAffinity": "None", "internalTrafficPolicy": "Cluster", "externalTrafficPolicy": "Cluster"},
             "status": {"loadBalancer": {}}}
            """
        }

        /// An EndpointSlice of `service` with the given pods.
        func slice(_ name: String, service: String = "web", pods names: [String]) -> String {
            let endpoints = names.map { pod in
                """
                {"addresses": ["\(pods[pod]!)"], "conditions": {"ready": true, "serving": true, "terminating": false},
                 "nodeName": "node-a", "targetRef": {"kind": "Pod", "namespace": "default", "name": "\(pod)"}}
                """
            }
            return """
                {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", "addressType": "IPv4",
                 "metadata": {"name": "\(name)", "namespace": "default",
                              "labels": {"kubernetes.io/service-name": "\(service)", "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io"},
                              "annotations": {"endpoints.kubernetes.io/last-change-trigger-time": "2026-12-01T10:00:00Z"}},
                 "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
                 "endpoints": [\(endpoints.joined(separator: ","))]}
                """
        }

        /// The pods the ClusterIP reaches as the kernel has it now, from the endpoint maps.
        func endpointsInKernel() throws -> Set<String> {
            let addresses = Dictionary(uniqueKeysWithValues: pods.map { ($0.value, $0.key) })
            return Set(
                try lab.kernelRuleset().tables.flatMap(\.sets).filter { $0.name.hasPrefix("endpoints-") }.flatMap(
                    \.elements
                )
                .compactMap { element -> String? in
                    guard case .values(let values)? = element.data, case .address(let address)? = values.first else {
                        return nil
                    }
                    return addresses[address.description]
                })
        }

        /// Waits until the kernel's endpoints for the Service are `expected`.
        func converged(_ agent: AgentProcess, to expected: Set<String>) throws -> Bool {
            try agent.wait(seconds: 15) { try endpointsInKernel() == expected }
        }

        /// The pods new connections to the ClusterIP reach, over a few connections.
        func reached(connections: Int = 12) throws -> Set<String> {
            Set(
                try (0..<connections).map { _ in
                    try lab.connectTCP(from: client, to: AgentAPITests.clusterIP, port: 80).pod
                })
        }
    }

    @Test func objectsCreatedChangedAndDeletedThroughTheServerCarryTraffic() async throws {
        let setup = try await Setup()
        try setup.server.apply(setup.service())
        try setup.server.apply(setup.slice("web-1", pods: ["web-0", "web-1", "web-2"]))
        let agent = try setup.agent(kubeconfig: try setup.kubeconfig())
        #expect(try setup.converged(agent, to: ["web-0", "web-1", "web-2"]), "\(agent.log)")
        #expect(try setup.reached(connections: 30) == ["web-0", "web-1", "web-2"])
        #expect(try setup.lab.connectTCP(from: setup.client, to: setup.lab.nodeIP, port: 31080).pod.hasPrefix("web-"))

        // Replicas 3 → 5 → 2, a canary slice added and removed.
        try setup.server.apply(setup.slice("web-1", pods: ["web-0", "web-1", "web-2", "web-3", "web-4"]))
        #expect(try setup.converged(agent, to: ["web-0", "web-1", "web-2", "web-3", "web-4"]), "\(agent.log)")
        try setup.server.apply(setup.slice("web-1", pods: ["web-0", "web-1"]))
        try setup.server.apply(setup.slice("web-canary", pods: ["web-5"]))
        #expect(try setup.converged(agent, to: ["web-0", "web-1", "web-5"]), "\(agent.log)")
        #expect(try setup.reached(connections: 30) == ["web-0", "web-1", "web-5"])
        try setup.server.delete(.endpointslices, namespace: "default", name: "web-canary")
        #expect(try setup.converged(agent, to: ["web-0", "web-1"]), "\(agent.log)")

        try setup.server.delete(.services, namespace: "default", name: "web")
        #expect(
            agent.wait(seconds: 15) {
                (try? setup.lab.kernelRuleset().tables.flatMap(\.sets).contains { set in
                    set.elements.contains { $0.key.first == .address(IPAddressText(AgentAPITests.clusterIP).address) }
                }) == false
            }, "\(agent.log)")
        let health = try setup.lab.httpGet("/healthz", port: 10256)
        #expect(health.hasPrefix("HTTP/1.1 200"), "\(health)")
        let metrics = try setup.lab.httpGet("/metrics", port: 10249)
        #expect(metrics.contains("nfcompile_api_object_changes_total{kind=\"EndpointSlice\"}"), "\(metrics)")
        #expect(metrics.contains("kubeproxy_network_programming_duration_seconds_count"))
    }

    /// Changes driven through the server while clients connect all the time: no connection fails,
    /// new ones reach only the current endpoints, an established one survives every update.
    @Test func churnThroughTheServerUnderContinuousTraffic() async throws {
        let setup = try await Setup()
        try setup.server.apply(setup.service())
        try setup.server.apply(setup.slice("web-1", pods: ["web-0", "web-1", "web-2"]))
        let agent = try setup.agent(kubeconfig: try setup.kubeconfig())
        #expect(try setup.converged(agent, to: ["web-0", "web-1", "web-2"]), "\(agent.log)")

        // web-0 is an endpoint in every state below.
        var longLived = try setup.lab.openTCP(from: setup.client, to: AgentAPITests.clusterIP, port: 80)
        for _ in 0..<50 where longLived.greeting.pod != "web-0" {
            longLived = try setup.lab.openTCP(from: setup.client, to: AgentAPITests.clusterIP, port: 80)
        }
        try #require(longLived.greeting.pod == "web-0")

        let traffic = Traffic(
            lab: setup.lab, client: setup.client, targets: [(AgentAPITests.clusterIP, 80), (setup.lab.nodeIP, 31080)])
        traffic.start()
        let steps: [(change: () throws -> Void, endpoints: Set<String>)] = [
            (
                { try setup.server.apply(setup.slice("web-1", pods: ["web-0", "web-1", "web-2", "web-3", "web-4"])) },
                ["web-0", "web-1", "web-2", "web-3", "web-4"]
            ),
            (
                { try setup.server.apply(setup.slice("web-canary", pods: ["web-5"])) },
                ["web-0", "web-1", "web-2", "web-3", "web-4", "web-5"]
            ),
            ({ try setup.server.apply(setup.slice("web-1", pods: ["web-0", "web-1"])) }, ["web-0", "web-1", "web-5"]),
            (
                { try setup.server.delete(.endpointslices, namespace: "default", name: "web-canary") },
                ["web-0", "web-1"]
            ),
        ]
        for step in steps {
            try step.change()
            #expect(try setup.converged(agent, to: step.endpoints), "\(agent.log)")
            let reached = try setup.reached(connections: 20)
            #expect(
                reached.isSubset(of: step.endpoints),
                "\(reached.subtracting(step.endpoints)) are not endpoints any more")
        }
        let (attempts, failures) = traffic.stop()
        #expect(attempts > 50)
        #expect(failures.isEmpty, "connections failed during churn: \(failures.prefix(5))")
        #expect(try longLived.ask().pod == "web-0", "the established connection survived every update")
        #expect(!agent.log.contains("sync failed"), "\(agent.log)")
    }

    @Test func aCutWatchResumesWithoutRelistingAnd410RelistsIncludingWhatWasDeletedMeanwhile() async throws {
        let setup = try await Setup()
        try setup.server.apply(setup.service())
        try setup.server.apply(setup.service("other", clusterIP: "10.96.0.51", nodePort: nil))
        try setup.server.apply(setup.slice("web-1", pods: ["web-0"]))
        let agent = try setup.agent(kubeconfig: try setup.kubeconfig())
        #expect(try setup.converged(agent, to: ["web-0"]), "\(agent.log)")
        let lists = { setup.server.requests.filter { !$0.isWatch && $0.path.hasSuffix("endpointslices") }.count }
        let listsBefore = lists()

        setup.server.cutWatches()
        try setup.server.apply(setup.slice("web-1", pods: ["web-0", "web-1"]))
        #expect(try setup.converged(agent, to: ["web-0", "web-1"]), "\(agent.log)")
        #expect(lists() == listsBefore, "resumed from the last resourceVersion, no relist")

        // Away while the history is compacted: the Service deleted meanwhile is found by the relist.
        await setup.server.stop()
        try setup.server.delete(.services, namespace: "default", name: "other")
        try setup.server.apply(setup.slice("web-1", pods: ["web-2"]))
        setup.server.compact()
        try await setup.server.start()
        #expect(try setup.converged(agent, to: ["web-2"]), "\(agent.log)")
        #expect(
            agent.wait(seconds: 15) { (try? setup.lab.listRuleset().contains("10.96.0.51")) == false }, "\(agent.log)")
        #expect(lists() > listsBefore, "a relist after 410 Gone")
    }

    /// kube-proxy's node eligibility: /healthz (not /livez) fails while this Node is tainted by
    /// the cluster autoscaler or being deleted, so that load balancers drain the node.
    @Test func aNodeToBeDeletedFailsHealthzButNotLivez() async throws {
        let setup = try await Setup()
        func node(taints: String, deleting: Bool = false) -> String {
            """
            {"apiVersion": "v1", "kind": "Node",
             "metadata": {"name": "node-a", "uid": "u-node-a", "labels": {"topology.kubernetes.io/zone": "zone-1"}\(
                deleting ? ", \"deletionTimestamp\": \"2026-12-01T10:00:00Z\"" : "")},
             "spec": {"podCIDR": "10.244.0.0/24", "taints": [\(taints)]}}
            """
        }
        func code(_ path: String) -> String? {
            (try? setup.lab.httpGet(path, port: 10256)).flatMap { $0.split(separator: " ").dropFirst().first }.map(
                String.init)
        }
        try setup.server.apply(node(taints: ""))
        try setup.server.apply(setup.service())
        try setup.server.apply(setup.slice("web-1", pods: ["web-0"]))
        let agent = try setup.agent(kubeconfig: try setup.kubeconfig())
        #expect(try setup.converged(agent, to: ["web-0"]), "\(agent.log)")
        #expect(agent.wait { code("/healthz") == "200" }, "\(agent.log)")
        #expect((try? setup.lab.httpGet("/healthz", port: 10256))?.contains("\"nodeEligible\": true") == true)

        try setup.server.apply(node(taints: #"{"key": "ToBeDeletedByClusterAutoscaler", "effect": "NoSchedule"}"#))
        #expect(agent.wait { code("/healthz") == "503" }, "\(agent.log)")
        #expect(code("/livez") == "200", "the proxy itself is alive")
        #expect((try? setup.lab.httpGet("/healthz", port: 10256))?.contains("\"nodeEligible\": false") == true)

        try setup.server.apply(node(taints: ""))
        #expect(agent.wait { code("/healthz") == "200" }, "\(agent.log)")
        try setup.server.apply(node(taints: "", deleting: true))
        #expect(agent.wait { code("/healthz") == "503" }, "\(agent.log)")
        let metrics = try setup.lab.httpGet("/metrics", port: 10249)
        #expect(metrics.contains("kubeproxy_proxy_healthz_total{code=\"503\"}"), "\(metrics)")
        #expect(metrics.contains("kubeproxy_sync_proxy_rules_endpoint_changes_total"), "\(metrics)")
    }

    @Test func theServerDownAtStartKeepsTheKernelAndHealthIsUnhealthyUntilItComes() async throws {
        let setup = try await Setup(start: false)
        let agent = try setup.agent(kubeconfig: try setup.kubeconfig())
        #expect(
            agent.wait {
                agent.log.contains("watching services failed") || agent.log.contains("watching endpointslices failed")
            }, "\(agent.log)")
        #expect(try setup.lab.kernelRuleset().tables.isEmpty, "nothing synced before the lists")
        #expect(try setup.lab.httpGet("/healthz", port: 10256).hasPrefix("HTTP/1.1 503"))
        #expect(agent.isRunning)
        try setup.server.apply(setup.service())
        try setup.server.apply(setup.slice("web-1", pods: ["web-0", "web-3"]))
        try await setup.server.start()
        #expect(try setup.converged(agent, to: ["web-0", "web-3"]), "\(agent.log)")
        #expect(agent.wait { (try? setup.lab.httpGet("/healthz", port: 10256).hasPrefix("HTTP/1.1 200")) == true })
    }

    @Test func aRotatedTokenFileIsUsedAndWrongCredentialsAreOneClearError() async throws {
        let setup = try await Setup()
        try setup.server.apply(setup.service())
        try setup.server.apply(setup.slice("web-1", pods: ["web-0"]))
        let tokenFile = setup.folder.appendingPathComponent("token").path
        try AgentAPITests.token.write(toFile: tokenFile, atomically: true, encoding: .utf8)
        let agent = try setup.agent(kubeconfig: try setup.kubeconfig(tokenFile: tokenFile))
        #expect(try setup.converged(agent, to: ["web-0"]), "\(agent.log)")
        // The token rotates: the old one stops working, the new one is in the file.
        setup.server.setUsers(.init(tokens: ["rotated-token": AgentAPITests.user], authorized: [AgentAPITests.user]))
        try "rotated-token".write(toFile: tokenFile, atomically: true, encoding: .utf8)
        setup.server.cutWatches()
        try setup.server.apply(setup.slice("web-1", pods: ["web-1"]))
        #expect(try setup.converged(agent, to: ["web-1"]), "\(agent.log)")
        agent.stop()

        let wrongToken = try setup.agent(kubeconfig: try setup.kubeconfig(token: "not-a-token"))
        #expect(
            wrongToken.wait { wrongToken.log.contains("401") || wrongToken.log.contains("Unauthorized") },
            "\(wrongToken.log)")
        usleep(1_500_000)
        #expect(wrongToken.isRunning, "no crash")
        let lines = wrongToken.log.split(separator: "\n").filter { $0.contains("watching services failed") }
        #expect(lines.count == 1, "one line, not one per retry: \(wrongToken.log)")
        wrongToken.stop()

        let otherCA = try TestCertificateAuthority()
        let wrongCA = try setup.agent(kubeconfig: try setup.kubeconfig(ca: otherCA.certificatePath))
        #expect(wrongCA.wait { wrongCA.log.contains("watching services failed") }, "\(wrongCA.log)")
        #expect(wrongCA.log.lowercased().contains("certificate"), "the error says what is wrong: \(wrongCA.log)")
        #expect(wrongCA.isRunning)
    }

    @Test func aHundredRapidSliceUpdatesAreCoalesced() async throws {
        let setup = try await Setup()
        try setup.server.apply(setup.service())
        try setup.server.apply(setup.slice("web-1", pods: ["web-0"]))
        let agent = try setup.agent(kubeconfig: try setup.kubeconfig(), arguments: ["--min-sync-period", "1s"])
        #expect(try setup.converged(agent, to: ["web-0"]), "\(agent.log)")
        let before = agent.syncLines.count
        let choices = [["web-0", "web-1"], ["web-2"], ["web-1", "web-3"], ["web-4", "web-5"]]
        for round in 0..<100 { try setup.server.apply(setup.slice("web-1", pods: choices[round % choices.count])) }
        #expect(try setup.converged(agent, to: ["web-4", "web-5"]), "\(agent.log)")
        usleep(1_200_000)
        let syncs = agent.syncLines.count - before
        #expect(syncs <= 10, "100 updates, \(syncs) syncs: \(agent.log)")
    }
}

/// An address written in a test, parsed once.
struct IPAddressText {
    let address: Addressing.IPAddress
    init(_ text: String) { address = Addressing.IPAddress(text)! }
}
