import Compiler
import Foundation
import Lab
import Pipeline
import Ruleset
import Synchronization
import Testing

/// `nfcompile agent` as a process in a lab node, with real traffic: restarts, repairs, churn.
@Suite struct AgentProcessTests {
    static let outside = "198.18.0.10"

    /// A Deployment of `replicas` behind a NodePort Service, plus optional extra manifests.
    static func manifests(replicas: Int, selectorVersion: String? = nil) -> String {
        """
        apiVersion: apps/v1
        kind: Deployment
        metadata:
          name: web
        spec:
          replicas: \(replicas)
          selector:
            matchLabels:
              app: web
          template:
            metadata:
              labels:
                app: web
            spec:
              containers:
                - name: web
                  image: example/web:1
                  ports:
                    - name: http
                      containerPort: 8080
        ---
        apiVersion: v1
        kind: Service
        metadata:
          name: web
        spec:
          type: NodePort
          selector:
            app: web
          ports:
            - name: http
              port: 80
              targetPort: http
              nodePort: 31080
        """
    }

    static let canaryPod = """
        apiVersion: v1
        kind: Pod
        metadata:
          name: canary
          labels:
            app: web
        spec:
          containers:
            - name: web
              image: example/web:2
              ports:
                - name: http
                  containerPort: 8080
        """

    /// A lab node with listeners for every pod any of `states` will have, a client outside the
    /// cluster, and a manifests folder holding the first state.
    final class Setup {
        let lab: NetworkLab
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("nfcompile-agent-\(UUID())")
        let client: String

        init(states: [[String: String]]) throws {
            lab = try NetworkLab()
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            var pods: [String: String] = [:]
            for state in states {
                try Self.write(state, to: folder)
                for service in try CompiledInput(paths: [folder.path]).graph.services {
                    for endpoint in service.ports.flatMap(\.endpoints) {
                        pods[endpoint.targetName ?? "pod"] = endpoint.address.description
                    }
                }
            }
            _ = try lab.addPods(
                pods.sorted { $0.key < $1.key }.map {
                    NetworkLab.Pod(name: $0.key, address: $0.value, tcpPorts: [8080])
                })
            client = try lab.addHost("client", address: AgentProcessTests.outside)
            try Self.write(states[0], to: folder)
        }

        deinit {
            lab.tearDown()
            try? FileManager.default.removeItem(at: folder)
        }

        /// Makes the folder hold exactly `files` (name → text), as `kubectl apply -f .` users edit it.
        static func write(_ files: [String: String], to folder: URL) throws {
            for existing in try FileManager.default.contentsOfDirectory(atPath: folder.path)
            where files[existing] == nil {
                try FileManager.default.removeItem(at: folder.appendingPathComponent(existing))
            }
            for (name, text) in files {
                try text.write(to: folder.appendingPathComponent(name), atomically: true, encoding: .utf8)
            }
        }

        func desired() throws -> Ruleset { try CompiledInput(paths: [folder.path]).ruleset }

        /// Waits until the kernel holds what the folder says.
        func converged(_ agent: AgentProcess) throws -> Bool {
            let want = try desired().canonical
            return try agent.wait { try lab.kernelRuleset().canonical == want }
        }

        func clusterIP() throws -> String {
            try #require(CompiledInput(paths: [folder.path]).graph.services.first?.clusterIPs.first).description
        }
    }

    @Test func aKilledAndRestartedAgentChangesNothingAndDropsNoConnection() throws {
        let setup = try Setup(states: [["web.yaml": Self.manifests(replicas: 3)]])
        var agent = try AgentProcess(lab: setup.lab, manifests: setup.folder)
        #expect(try setup.converged(agent), "\(agent.log)")
        let connection = try setup.lab.openTCP(from: setup.client, to: setup.clusterIP(), port: 80)
        let before = try setup.lab.listRuleset()
        let generation = try setup.lab.node("nft", "list", "ruleset")  // same text, for the log below

        agent.stop(signal: SIGKILL)
        agent = try AgentProcess(lab: setup.lab, manifests: setup.folder)
        #expect(agent.wait { agent.syncLines.count >= 1 }, "\(agent.log)")
        #expect(agent.syncLines.first?.contains("operations=0") == true, "a restart commits nothing: \(agent.log)")
        #expect(try setup.lab.listRuleset() == before)
        #expect(
            try connection.ask().pod == connection.greeting.pod, "the connection opened before the restart still works")
        _ = generation
        #expect(agent.stop(signal: SIGTERM) == 0, "\(agent.log)")
        #expect(try setup.lab.listRuleset() == before, "SIGTERM leaves the rules in place")
    }

    @Test func someoneElsesDeletionsAreRepairedLoggedAndCounted() throws {
        let setup = try Setup(states: [["web.yaml": Self.manifests(replicas: 2)]])
        let agent = try AgentProcess(lab: setup.lab, manifests: setup.folder, arguments: ["--sync-period", "1h"])
        #expect(try setup.converged(agent))

        // Noticed through the kernel's nf_tables events, not the (hour-long) sync period.
        try setup.lab.node("nft", "delete", "table", "ip", "nfcompile")
        #expect(try setup.converged(agent), "the deleted table comes back: \(agent.log)")
        let element = try #require(setup.desired().tables[0].sets.first { $0.name == "service-ips" }?.elements.first)
        try setup.lab.node(
            "nft", "delete", "element", "ip", "nfcompile", "service-ips",
            "{ \(element.key.map(\.nftText).joined(separator: " . ")) }")
        #expect(try setup.converged(agent), "the deleted element comes back: \(agent.log)")

        #expect(agent.log.components(separatedBy: "repaired a change someone else made").count - 1 >= 2, "\(agent.log)")
        let metrics = try setup.lab.httpGet("/metrics", port: 10249)
        let repairs = metrics.split(separator: "\n").first { $0.hasPrefix("nfcompile_repairs_total ") }
        #expect(repairs.flatMap { Int($0.split(separator: " ").last ?? "") }.map { $0 >= 2 } == true, "\(metrics)")
        #expect(metrics.contains("kubeproxy_sync_proxy_rules_duration_seconds_bucket"))
        #expect(metrics.contains("kubeproxy_sync_full_proxy_rules_duration_seconds_count"))
        #expect(metrics.contains("kubeproxy_sync_partial_proxy_rules_duration_seconds_count"))
        let health = try setup.lab.httpGet("/healthz", port: 10256)
        #expect(
            health.hasPrefix("HTTP/1.1 200") && health.contains("\"lastUpdated\"")
                && health.contains("\"currentTime\""), "\(health)")
        #expect(try setup.lab.httpGet("/livez", port: 10256).hasPrefix("HTTP/1.1 200"))
    }

    /// A rule someone inserts into our own table (here one that would black-hole every service)
    /// and an element someone adds to our map are gone at the next sync, which the kernel's
    /// nf_tables event triggers at once.
    @Test func foreignRulesAndElementsInOurTableAreRemoved() throws {
        let setup = try Setup(states: [["web.yaml": Self.manifests(replicas: 2)]])
        let agent = try AgentProcess(lab: setup.lab, manifests: setup.folder, arguments: ["--sync-period", "1h"])
        #expect(try setup.converged(agent))
        let clusterIP = try setup.clusterIP()
        #expect(try setup.lab.connectTCP(from: setup.client, to: clusterIP, port: 80).pod.hasPrefix("web-"))

        try setup.lab.node("nft", "insert", "rule", "ip", "nfcompile", "services", "drop")
        #expect(try setup.converged(agent), "\(agent.log)")
        #expect(agent.log.contains("repaired a change someone else made"), "\(agent.log)")
        #expect(
            try setup.lab.connectTCP(from: setup.client, to: clusterIP, port: 80).pod.hasPrefix("web-"),
            "traffic flows again")

        try setup.lab.node("nft", "add", "element", "ip", "nfcompile", "service-ips", "{ 192.0.2.80 . tcp . 80 }")
        #expect(try setup.converged(agent), "the foreign element goes: \(agent.log)")
        // A rule nfcompile cannot even read (an anonymous set) makes it write the table whole.
        try setup.lab.node(
            "nft", "add", "rule", "ip", "nfcompile", "services", "ip daddr { 192.0.2.1, 192.0.2.2 } drop")
        #expect(agent.wait { agent.log.contains("it held something nfcompile did not write") }, "\(agent.log)")
        #expect(try setup.converged(agent), "\(agent.log)")
        let metrics = try setup.lab.httpGet("/metrics", port: 10249)
        let repairs = metrics.split(separator: "\n").first { $0.hasPrefix("nfcompile_repairs_total ") }
        #expect(repairs.flatMap { Int($0.split(separator: " ").last ?? "") }.map { $0 >= 3 } == true, "\(metrics)")
        #expect(try setup.lab.connectTCP(from: setup.client, to: clusterIP, port: 80).pod.hasPrefix("web-"))
    }

    @Test func badInputIsReportedAndTheLastGoodRulesStay() throws {
        let setup = try Setup(states: [["web.yaml": Self.manifests(replicas: 2)]])
        let agent = try AgentProcess(lab: setup.lab, manifests: setup.folder)
        #expect(try setup.converged(agent))
        let before = try setup.lab.listRuleset()
        try "apiVersion: v1\nkind: Service\nmetadata:\n\tname: broken\n".write(
            to: setup.folder.appendingPathComponent("broken.yaml"), atomically: true, encoding: .utf8)
        #expect(agent.wait { agent.log.contains("bad input, last good rules kept") }, "\(agent.log)")
        #expect(agent.log.contains("broken.yaml:4:1"))
        #expect(try setup.lab.listRuleset() == before)
        try FileManager.default.removeItem(at: setup.folder.appendingPathComponent("broken.yaml"))
        try Setup.write(["web.yaml": Self.manifests(replicas: 3)], to: setup.folder)
        #expect(try setup.converged(agent), "fixed input takes effect")
    }

    /// A Service asking for node port 22 would send the node's SSH to a pod: refused at its
    /// line, while the node's own listener stays reachable.
    @Test func aNodePortOnTheNodesSSHPortIsRefusedAndSSHStaysReachable() throws {
        let setup = try Setup(states: [["web.yaml": Self.manifests(replicas: 2)]])
        try setup.lab.addNodeListener(port: 22, name: "sshd")
        let agent = try AgentProcess(lab: setup.lab, manifests: setup.folder)
        #expect(try setup.converged(agent))
        let hijack = Self.manifests(replicas: 2).replacingOccurrences(of: "nodePort: 31080", with: "nodePort: 22")
        try Setup.write(["web.yaml": hijack], to: setup.folder)
        #expect(agent.wait { agent.log.contains("outside the node port range") }, "\(agent.log)")
        #expect(agent.log.contains("web.yaml:"), "names the file")
        #expect(try setup.lab.connectTCP(from: setup.client, to: setup.lab.nodeIP, port: 22).pod == "sshd")
        #expect(try setup.lab.connectTCP(from: setup.client, to: setup.lab.nodeIP, port: 31080).pod.hasPrefix("web-"))
    }

    /// A file truncated to nothing (a failed `kubectl get … > file`) keeps its Services.
    @Test func servicesSurviveATruncatedFile() throws {
        let setup = try Setup(states: [["web.yaml": Self.manifests(replicas: 2)]])
        let agent = try AgentProcess(lab: setup.lab, manifests: setup.folder)
        #expect(try setup.converged(agent))
        let before = try setup.lab.listRuleset()
        let clusterIP = try setup.clusterIP()
        try Data().write(to: setup.folder.appendingPathComponent("web.yaml"))
        #expect(agent.wait { agent.log.contains("the file is empty now") }, "\(agent.log)")
        #expect(try setup.lab.listRuleset() == before)
        #expect(try setup.lab.connectTCP(from: setup.client, to: clusterIP, port: 80).pod.hasPrefix("web-"))
    }

    /// `rm -rf` of the folder keeps the rules; the folder made again is watched again.
    @Test func theFolderDeletedKeepsTheRulesAndItsReturnIsFollowed() throws {
        let setup = try Setup(states: [
            ["web.yaml": Self.manifests(replicas: 2)], ["web.yaml": Self.manifests(replicas: 3)],
        ])
        try Setup.write(["web.yaml": Self.manifests(replicas: 2)], to: setup.folder)
        let agent = try AgentProcess(lab: setup.lab, manifests: setup.folder)
        #expect(try setup.converged(agent))
        let before = try setup.lab.listRuleset()
        try FileManager.default.removeItem(at: setup.folder)
        #expect(agent.wait { agent.log.contains("is gone") }, "\(agent.log)")
        #expect(try setup.lab.listRuleset() == before, "the rules stay")
        #expect(try setup.lab.connectTCP(from: setup.client, to: setup.lab.nodeIP, port: 31080).pod.hasPrefix("web-"))
        try FileManager.default.createDirectory(at: setup.folder, withIntermediateDirectories: true)
        try Setup.write(["web.yaml": Self.manifests(replicas: 3)], to: setup.folder)
        #expect(try setup.converged(agent), "the new folder is read: \(agent.log)")
    }

    /// A folder with a symbolic link back to itself neither hangs the agent nor keeps it from
    /// syncing; /healthz is unhealthy until the first sync has committed.
    @Test func aLinkLoopInTheFolderIsSkippedAndHealthWaitsForTheFirstSync() throws {
        let setup = try Setup(states: [["web.yaml": Self.manifests(replicas: 2)]])
        try FileManager.default.createDirectory(
            at: setup.folder.appendingPathComponent("sub"), withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(
            atPath: setup.folder.appendingPathComponent("sub/back").path, withDestinationPath: setup.folder.path)
        let broken = setup.folder.appendingPathComponent("broken.yaml")
        try "\tkind: Service\n".write(to: broken, atomically: true, encoding: .utf8)
        let agent = try AgentProcess(lab: setup.lab, manifests: setup.folder)
        #expect(agent.wait { agent.log.contains("bad input") }, "\(agent.log)")
        #expect(try setup.lab.httpGet("/healthz", port: 10256).hasPrefix("HTTP/1.1 503"), "no sync yet")
        try FileManager.default.removeItem(at: broken)
        #expect(try setup.converged(agent), "\(agent.log)")
        #expect(agent.wait { (try? setup.lab.httpGet("/healthz", port: 10256).hasPrefix("HTTP/1.1 200")) == true })
        #expect(agent.log.contains("read already"), "the loop is named: \(agent.log)")
    }

    /// Pods come and go while clients connect continuously: no connection to a live endpoint
    /// fails, an established one survives, removed endpoints get no new connections, and the
    /// kernel matches the manifests after every sync.
    @Test func churnUnderTraffic() throws {
        let states: [[String: String]] = [
            ["web.yaml": Self.manifests(replicas: 3)],
            ["web.yaml": Self.manifests(replicas: 5)],
            ["web.yaml": Self.manifests(replicas: 5), "canary.yaml": Self.canaryPod],
            ["web.yaml": Self.manifests(replicas: 2), "canary.yaml": Self.canaryPod],
            ["web.yaml": Self.manifests(replicas: 2)],
        ]
        let setup = try Setup(states: states)
        let agent = try AgentProcess(lab: setup.lab, manifests: setup.folder)
        #expect(try setup.converged(agent))
        let clusterIP = try setup.clusterIP()

        // A connection that stays open through every change (web-0 exists in every state).
        var longLived = try setup.lab.openTCP(from: setup.client, to: clusterIP, port: 80)
        for _ in 0..<50 where longLived.greeting.pod != "web-0" {
            longLived = try setup.lab.openTCP(from: setup.client, to: clusterIP, port: 80)
        }
        try #require(longLived.greeting.pod == "web-0")

        let traffic = Traffic(
            lab: setup.lab, client: setup.client, targets: [(clusterIP, 80), (setup.lab.nodeIP, 31080)])
        traffic.start()
        for state in states.dropFirst() {
            try Setup.write(state, to: setup.folder)
            #expect(try setup.converged(agent), "the kernel equals the compiled manifests: \(agent.log)")
            // After the sync, new connections reach only the current endpoints.
            let live = Set(
                try CompiledInput(paths: [setup.folder.path]).graph.services[0].ports[0].endpoints.compactMap(
                    \.targetName))
            for _ in 0..<20 {
                let reply = try setup.lab.connectTCP(from: setup.client, to: clusterIP, port: 80)
                #expect(live.contains(reply.pod), "\(reply.pod) is not an endpoint any more")
            }
        }
        let (attempts, failures) = traffic.stop()
        #expect(attempts > 50)
        #expect(failures.isEmpty, "connections failed during churn: \(failures.prefix(5))")
        #expect(try longLived.ask().pod == "web-0", "the established connection survived every update")
    }
}

extension AgentProcessTests {
    static func udpService(replicas: Int) -> String {
        """
        apiVersion: apps/v1
        kind: StatefulSet
        metadata:
          name: dns
        spec:
          replicas: \(replicas)
          selector:
            matchLabels:
              app: dns
          template:
            metadata:
              labels:
                app: dns
            spec:
              containers:
                - name: dns
                  image: example/dns:1
        ---
        apiVersion: v1
        kind: Service
        metadata:
          name: dns
        spec:
          selector:
            app: dns
          ports:
            - name: dns
              protocol: UDP
              port: 53
              targetPort: 5353
        """
    }

    /// A UDP client keeps its flow (same source port) while its endpoint goes away: once the
    /// agent syncs, its next datagram reaches a live endpoint, not the one removed.
    @Test func udpClientsMoveOffARemovedEndpoint() throws {
        let lab = try NetworkLab()
        defer { lab.tearDown() }
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("nfcompile-udp-\(UUID())")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let manifest = folder.appendingPathComponent("dns.yaml")
        try Self.udpService(replicas: 2).write(to: manifest, atomically: true, encoding: .utf8)
        let compiled = try CompiledInput(paths: [folder.path])
        let endpoints = compiled.graph.services[0].ports[0].endpoints
        _ = try lab.addPods(
            endpoints.map { NetworkLab.Pod(name: $0.targetName!, address: $0.address.description, udpPorts: [5353]) })
        let client = try lab.addHost("client", address: Self.outside)
        let agent = try AgentProcess(lab: lab, manifests: folder)
        let want = compiled.ruleset.canonical
        #expect(try agent.wait { try lab.kernelRuleset().canonical == want }, "\(agent.log)")
        // The first sync ends after the commit by forgetting every flow to the new frontend: the
        // flows below must come after it (on a slow machine it is still running now).
        #expect(agent.wait { !agent.syncLines.isEmpty }, "\(agent.log)")

        // Find a flow answered by dns-1, the replica that scaling down removes.
        let clusterIP = compiled.graph.services[0].clusterIPs[0].description
        var flow = try lab.openUDP(from: client, to: clusterIP, port: 53)
        for _ in 0..<60 where try flow.ask().pod != "dns-1" {
            flow = try lab.openUDP(from: client, to: clusterIP, port: 53)
        }
        #expect(try flow.ask().pod == "dns-1", "the flow sticks to its endpoint")

        try Self.udpService(replicas: 1).write(to: manifest, atomically: true, encoding: .utf8)
        let scaled = try CompiledInput(paths: [folder.path]).ruleset.canonical
        #expect(try agent.wait { try lab.kernelRuleset().canonical == scaled })
        #expect(agent.wait { agent.syncLines.contains { $0.contains("staleFlows=1") } }, "\(agent.log)")
        #expect(try flow.ask().pod == "dns-0", "the same flow now reaches the live endpoint")
    }

    /// A restart finds the rules right but conntrack not: the flows of an endpoint removed while
    /// no agent ran (the rules were replaced with `nft -f` behind its back, which cleans no
    /// conntrack entry) are deleted at start, as kube-proxy's CleanStaleEntries does; the
    /// healthy flows stay.
    @Test func aRestartDeletesStaleUDPFlowsAndKeepsHealthyOnes() throws {
        let lab = try NetworkLab()
        defer { lab.tearDown() }
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("nfcompile-udp-\(UUID())")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let manifest = folder.appendingPathComponent("dns.yaml")
        try Self.udpService(replicas: 3).write(to: manifest, atomically: true, encoding: .utf8)
        let compiled = try CompiledInput(paths: [folder.path])
        let endpoints = compiled.graph.services[0].ports[0].endpoints
        _ = try lab.addPods(
            endpoints.map { NetworkLab.Pod(name: $0.targetName!, address: $0.address.description, udpPorts: [5353]) })
        let client = try lab.addHost("client", address: Self.outside)
        var agent = try AgentProcess(lab: lab, manifests: folder)
        let want = compiled.ruleset.canonical
        #expect(try agent.wait { try lab.kernelRuleset().canonical == want }, "\(agent.log)")
        #expect(agent.wait { !agent.syncLines.isEmpty }, "\(agent.log)")

        // One flow per replica.
        let clusterIP = compiled.graph.services[0].clusterIPs[0].description
        var flows: [String: UDPFlow] = [:]
        var toRemoved = 0  // every flow opened to dns-2 has its conntrack entry
        for _ in 0..<90 where flows.count < 3 {
            let flow = try lab.openUDP(from: client, to: clusterIP, port: 53)
            let pod = try flow.ask().pod
            if pod == "dns-2" { toRemoved += 1 }
            if flows[pod] == nil { flows[pod] = flow }
        }
        #expect(flows.keys.sorted() == ["dns-0", "dns-1", "dns-2"])

        agent.stop(signal: SIGKILL)
        try Self.udpService(replicas: 2).write(to: manifest, atomically: true, encoding: .utf8)
        let scaled = try CompiledInput(paths: [folder.path]).ruleset
        try lab.node("nft", "delete", "table", "ip", "nfcompile")
        try lab.loadRuleset(scaled.nftText())
        #expect(try flows["dns-2"]?.ask().pod == "dns-2", "nft -f left the flow in conntrack")

        agent = try AgentProcess(lab: lab, manifests: folder)
        #expect(agent.wait { !agent.syncLines.isEmpty }, "\(agent.log)")
        let first = agent.syncLines.first ?? ""
        #expect(first.contains("operations=0"), "the rules were right: \(agent.log)")
        #expect(
            first.contains("staleFlows=\(toRemoved)"), "only the removed endpoint's flows are deleted: \(agent.log)")
        #expect(try flows["dns-2"]?.ask().pod != "dns-2", "its next datagram reaches a live endpoint")
        #expect(try flows["dns-0"]?.ask().pod == "dns-0")
        #expect(try flows["dns-1"]?.ask().pod == "dns-1")
    }
}

/// Connections opened back to back from one client until stopped, counting failures.
final class Traffic: @unchecked Sendable {
    private let lab: NetworkLab
    private let client: String
    private let targets: [(String, Int)]
    private let state = Mutex((running: true, attempts: 0, failures: [String]()))
    private let done = DispatchSemaphore(value: 0)

    init(lab: NetworkLab, client: String, targets: [(String, Int)]) {
        self.lab = lab
        self.client = client
        self.targets = targets
    }

    func start() {
        Thread { [self] in
            var index = 0
            while state.withLock({ $0.running }) {
                let (address, port) = targets[index % targets.count]
                index += 1
                do {
                    _ = try lab.connectTCP(from: client, to: address, port: port)
                    state.withLock { $0.attempts += 1 }
                } catch {
                    state.withLock {
                        $0.attempts += 1
                        $0.failures.append("\(address):\(port): \(error)")
                    }
                }
            }
            done.signal()
        }.start()
    }

    func stop() -> (attempts: Int, failures: [String]) {
        state.withLock { $0.running = false }
        done.wait()
        return state.withLock { ($0.attempts, $0.failures) }
    }
}
