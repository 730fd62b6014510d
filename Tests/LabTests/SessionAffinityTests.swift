import Addressing
import Foundation
import Lab
import Testing

/// `sessionAffinity: ClientIP`: a client's new connections reach the endpoint its first one
/// reached, through every frontend kind, until the timeout passes without a new connection; its
/// entry goes when its endpoint goes. Services without affinity keep balancing per connection.
@Suite struct SessionAffinityTests {
    static func manifests(affinity: Bool = true, replicas: Int = 4, timeout: Int = 10800) -> String {
        let affinityLines =
            affinity
            ? """
              sessionAffinity: ClientIP
              sessionAffinityConfig:
                clientIP:
                  timeoutSeconds: \(timeout)
            """ : ""
        return """
            apiVersion: apps/v1
            kind: Deployment
            metadata:
              name: sticky
            spec:
              replicas: \(replicas)
              selector:
                matchLabels:
                  app: sticky
              template:
                metadata:
                  labels:
                    app: sticky
                spec:
                  containers:
                    - name: web
                      image: example.com/web:1
                      ports:
                        - containerPort: 8080
                        - containerPort: 9053
                          protocol: UDP
            ---
            apiVersion: v1
            kind: Service
            metadata:
              name: sticky
            spec:
              type: NodePort
              selector:
                app: sticky
            \(affinityLines)
              ports:
                - name: http
                  port: 80
                  targetPort: 8080
                  nodePort: 30080
                - name: dns
                  protocol: UDP
                  port: 53
                  targetPort: 9053
            """
    }

    @Test func aClientKeepsItsEndpointThroughClusterIPAndNodePort() throws {
        let cluster = try ClusterLab(manifests: Self.manifests())
        defer { cluster.tearDown() }
        let lab = cluster.lab
        let first = try cluster.addClient("first", address: ClusterLab.outsideAddress)
        let second = try cluster.addClient("second", address: "198.18.0.11")
        let clusterIP = try cluster.clusterIP("sticky")

        let viaClusterIP = try (0..<12).map { _ in try lab.connectTCP(from: first, to: clusterIP, port: 80).pod }
        #expect(Set(viaClusterIP).count == 1, "one endpoint for every connection: \(viaClusterIP)")
        let viaNodePort = try (0..<12).map { _ in try lab.connectTCP(from: first, to: lab.nodeIP, port: 30080).pod }
        #expect(Set(viaNodePort).count == 1, "the NodePort remembers too: \(viaNodePort)")
        let datagrams = try (0..<8).map { _ in try lab.sendUDP(from: first, to: clusterIP, port: 53).pod }
        #expect(Set(datagrams).count == 1, "UDP flows from new source ports too: \(datagrams)")

        // Affinity is per client: over several clients' first connections, more than one endpoint.
        let others = try (0..<12).map { _ in try lab.connectTCP(from: second, to: clusterIP, port: 80).pod }
        #expect(Set(others).count == 1, "the second client is sticky as well: \(others)")

        let remembered = try lab.node("nft", "list", "map", "ip", "nfcompile", "affinity")
        #expect(remembered.contains(ClusterLab.outsideAddress), "the client is in the affinity map:\n\(remembered)")
    }

    @Test func withoutAffinityConnectionsSpread() throws {
        let cluster = try ClusterLab(manifests: Self.manifests(affinity: false))
        defer { cluster.tearDown() }
        let client = try cluster.addClient("client", address: ClusterLab.outsideAddress)
        let clusterIP = try cluster.clusterIP("sticky")
        // 4 endpoints, 40 connections: all on one has probability 4 × (1/4)^40.
        let pods = try (0..<40).map { _ in try cluster.lab.connectTCP(from: client, to: clusterIP, port: 80).pod }
        #expect(Set(pods).count > 1, "\(pods)")
    }

    /// The endpoint a client is bound to goes away: the client's entry is deleted with it, and its
    /// next connections reach one of the others (and stay there).
    @Test func theEntryGoesWithItsEndpoint() throws {
        let before = try ClusterLab.compile(manifests: Self.manifests())
        let cluster = try ClusterLab(compiled: before)
        defer { cluster.tearDown() }
        let lab = cluster.lab
        let client = try cluster.addClient("client", address: ClusterLab.outsideAddress)
        let clusterIP = try cluster.clusterIP("sticky")
        let bound = try lab.connectTCP(from: client, to: clusterIP, port: 80).pod

        // The same Service with the bound pod's endpoints left out, as an EndpointSlice would.
        let kept = try cluster.port("sticky", named: "http").endpoints.filter { $0.targetName != bound }
        let after = try ClusterLab.compile(
            manifests: Self.slices(endpoints: kept.map { ($0.targetName ?? "", $0.address) }))
        try cluster.load(after)

        let next = try (0..<8).map { _ in try lab.connectTCP(from: client, to: clusterIP, port: 80).pod }
        #expect(!next.contains(bound), "\(bound) is gone: \(next)")
        #expect(Set(next).count == 1, "and the client is sticky to its new endpoint: \(next)")
    }

    @Test func theTimeoutPassesWithoutANewConnection() throws {
        let cluster = try ClusterLab(manifests: Self.manifests(timeout: 1))
        defer { cluster.tearDown() }
        let client = try cluster.addClient("client", address: ClusterLab.outsideAddress)
        let clusterIP = try cluster.clusterIP("sticky")
        _ = try cluster.lab.connectTCP(from: client, to: clusterIP, port: 80)
        let remembered = try cluster.lab.node("nft", "list", "map", "ip", "nfcompile", "affinity")
        #expect(remembered.contains("expires"), "entries carry the Service's timeout:\n\(remembered)")
        Thread.sleep(forTimeInterval: 2.5)
        let later = try cluster.lab.node("nft", "list", "map", "ip", "nfcompile", "affinity")
        #expect(!later.contains(ClusterLab.outsideAddress), "the entry expired:\n\(later)")
    }

    /// The Service without its selector, its endpoints given by an EndpointSlice: the way to leave
    /// one pod out while the others keep their addresses.
    static func slices(endpoints: [(pod: String, address: IPAddress)]) -> String {
        let list = endpoints.map { "  - addresses: [\"\($0.address)\"]\n    targetRef: {kind: Pod, name: \($0.pod)}" }
            .joined(separator: "\n")
        return Self.manifests().replacingOccurrences(of: "  selector:\n    app: sticky\n", with: "")
            + """

            ---
            apiVersion: discovery.k8s.io/v1
            kind: EndpointSlice
            metadata:
              name: sticky-1
              labels:
                kubernetes.io/service-name: sticky
            addressType: IPv4
            ports:
              - name: http
                port: 8080
                protocol: TCP
              - name: dns
                port: 9053
                protocol: UDP
            endpoints:
            \(list)
            """
    }
}
