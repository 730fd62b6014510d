import Lab
import Testing

/// kube-proxy's ClusterIP checks: a port a ClusterIP does not serve is refused at once instead of
/// timing out, from a pod and from the node itself; and an address of the service range that no
/// Service holds is dropped, not routed on.
@Suite struct ClusterIPCheckTests {
    @Test func anUnservedPortOfAClusterIPIsRefusedAtOnce() throws {
        let cluster = try ClusterLab(manifests: LabManifests.echo)
        defer { cluster.tearDown() }
        let lab = cluster.lab
        let pod = try cluster.addClient("pod", address: ClusterLab.insideAddress)
        let clusterIP = try cluster.clusterIP("echo")
        #expect(try lab.connectTCP(from: pod, to: clusterIP, port: 80).pod.hasPrefix("echo-"), "port 80 is served")

        let forwarded = #expect(throws: SocketError.self) { try lab.connectTCP(from: pod, to: clusterIP, port: 81) }
        #expect(forwarded?.isRefused == true, "through the node: \(String(describing: forwarded))")
        let fromNode = #expect(throws: SocketError.self) {
            try lab.connectTCP(from: lab.nodeNamespace, to: clusterIP, port: 81)
        }
        #expect(fromNode?.isRefused == true, "from the node itself: \(String(describing: fromNode))")
        #expect(try lab.connectTCP(from: lab.nodeNamespace, to: clusterIP, port: 80).pod.hasPrefix("echo-"))
    }

    @Test func anUnallocatedServiceAddressIsDropped() throws {
        let cluster = try ClusterLab(manifests: LabManifests.echo)
        defer { cluster.tearDown() }
        let rules = try cluster.lab.listRuleset()
        #expect(rules.contains("ip daddr 10.96.0.0/12 drop"), "\(rules)")
        let pod = try cluster.addClient("pod", address: ClusterLab.insideAddress)
        let error = #expect(throws: SocketError.self) {
            try cluster.lab.connectTCP(from: pod, to: "10.96.200.200", port: 80)
        }
        #expect(error?.isTimeout == true, "dropped, not refused: \(String(describing: error))")
    }
}
