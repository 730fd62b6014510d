import Addressing
import Compiler
import Lab
import Testing

/// Masquerading and NodePort addresses as kube-proxy's operator flags shape them, seen from the
/// endpoint: the source address it sees, and where NodePorts answer.
@Suite struct OperatorFlagTests {
    static let podNetwork = IPNetwork("10.244.0.0/16")!
    static let clusterPolicy = ["198.51.100.10", "198.51.100.20"]  // external IP, load-balancer IP
    static let localPolicy = ["198.51.100.11", "198.51.100.21"]

    /// The source address the endpoint sees for TCP from `client` to `address:80`.
    func peer(_ cluster: ClusterLab, from client: String, to address: String, port: Int = 80) throws -> String {
        try cluster.lab.connectTCP(from: client, to: address, port: port).peer
    }

    @Test func externalAndLoadBalancerIPsOfPolicyClusterAreMasqueradedWhateverTheSource() throws {
        let cluster = try ClusterLab(manifests: LabManifests.externalPolicies)
        defer { cluster.tearDown() }
        let node = cluster.lab.nodeIP
        let inside = try cluster.addClient("inside", address: ClusterLab.insideAddress)
        let outside = try cluster.addClient("outside", address: ClusterLab.outsideAddress)
        for address in Self.clusterPolicy {
            #expect(try peer(cluster, from: inside, to: address) == node, "a pod's traffic to \(address)")
            #expect(try peer(cluster, from: outside, to: address) == node, "outside traffic to \(address)")
        }
        for address in Self.localPolicy {
            #expect(try peer(cluster, from: inside, to: address) == ClusterLab.insideAddress, "Local: \(address)")
            #expect(try peer(cluster, from: outside, to: address) == ClusterLab.outsideAddress, "Local: \(address)")
        }
        // ClusterIPs still masquerade only what does not come from the pods.
        let clusterIP = try cluster.clusterIP("cluster-policy")
        #expect(try peer(cluster, from: inside, to: clusterIP) == ClusterLab.insideAddress)
        #expect(try peer(cluster, from: outside, to: clusterIP) == node)
    }

    @Test func masqueradeAllMasqueradesClusterIPTrafficFromPods() throws {
        let options = CompilerOptions(localTraffic: .sourceNetworks([Self.podNetwork]), masqueradeAll: true)
        let cluster = try ClusterLab(manifests: LabManifests.externalPolicies, options: options)
        defer { cluster.tearDown() }
        let inside = try cluster.addClient("inside", address: ClusterLab.insideAddress)
        #expect(try peer(cluster, from: inside, to: cluster.clusterIP("cluster-policy")) == cluster.lab.nodeIP)
        #expect(try peer(cluster, from: inside, to: Self.clusterPolicy[0]) == cluster.lab.nodeIP)
        #expect(
            try peer(cluster, from: inside, to: Self.localPolicy[0]) == ClusterLab.insideAddress,
            "policy Local keeps the client's address, as in kube-proxy")
    }

    @Test func clusterCIDRSaysWhichSourcesAreLocal() throws {
        // The "outside" client's network is the cluster's here: its traffic keeps its address,
        // and the pod network's does not.
        let options = CompilerOptions(localTraffic: .sourceNetworks([IPNetwork("198.18.0.0/24")!]))
        let cluster = try ClusterLab(manifests: LabManifests.externalPolicies, options: options)
        defer { cluster.tearDown() }
        let inside = try cluster.addClient("inside", address: ClusterLab.insideAddress)
        let outside = try cluster.addClient("outside", address: ClusterLab.outsideAddress)
        let clusterIP = try cluster.clusterIP("cluster-policy")
        #expect(try peer(cluster, from: outside, to: clusterIP) == ClusterLab.outsideAddress)
        #expect(try peer(cluster, from: inside, to: clusterIP) == cluster.lab.nodeIP)
    }

    @Test func interfaceNamePrefixSaysWhichInterfacesArePods() throws {
        // Every lab host hangs on a vethN: those are the pods; a host on `ext0` is not, whatever its address.
        let options = CompilerOptions(localTraffic: .interfaceNamePrefix("veth"))
        let cluster = try ClusterLab(manifests: LabManifests.externalPolicies, options: options)
        defer { cluster.tearDown() }
        let onVeth = try cluster.addClient("on-veth", address: ClusterLab.outsideAddress)
        let onExt = try cluster.addClient("on-ext", address: ClusterLab.insideAddress, nodeInterface: "ext0")
        let clusterIP = try cluster.clusterIP("cluster-policy")
        #expect(try peer(cluster, from: onVeth, to: clusterIP) == ClusterLab.outsideAddress)
        #expect(try peer(cluster, from: onExt, to: clusterIP) == cluster.lab.nodeIP)
    }

    @Test func bridgeInterfaceSaysWhichInterfaceIsPods() throws {
        let options = CompilerOptions(localTraffic: .bridgeInterface("cbr0"))
        let cluster = try ClusterLab(manifests: LabManifests.externalPolicies, options: options)
        defer { cluster.tearDown() }
        let onBridge = try cluster.addClient("on-bridge", address: ClusterLab.outsideAddress, nodeInterface: "cbr0")
        let onVeth = try cluster.addClient("on-veth", address: ClusterLab.insideAddress)
        let clusterIP = try cluster.clusterIP("cluster-policy")
        #expect(try peer(cluster, from: onBridge, to: clusterIP) == ClusterLab.outsideAddress)
        #expect(try peer(cluster, from: onVeth, to: clusterIP) == cluster.lab.nodeIP)
    }

    @Test func nodePortAddressesNarrowWhereNodePortsAnswer() throws {
        let other = "192.0.2.1"
        let options = CompilerOptions(
            localTraffic: .sourceNetworks([Self.podNetwork]), nodePortNetworks: [IPNetwork("198.18.0.0/24")!])
        let cluster = try ClusterLab(manifests: LabManifests.externalPolicies, options: options)
        defer { cluster.tearDown() }
        try cluster.addNodeAddress(other)
        let client = try cluster.addClient("client", address: ClusterLab.outsideAddress)
        #expect(try cluster.lab.connectTCP(from: client, to: cluster.lab.nodeIP, port: 30081).pod.hasPrefix("web-"))
        let error = #expect(throws: SocketError.self) {
            try cluster.lab.connectTCP(from: client, to: other, port: 30081)
        }
        #expect(
            error?.isRefused == true, "no NodePort on \(other), outside 198.18.0.0/24: \(String(describing: error))")
    }

    @Test func primaryNodePortAddressesAreTheNodeIPs() throws {
        let other = "192.0.2.1"
        let options = CompilerOptions(
            localTraffic: .sourceNetworks([Self.podNetwork]), nodeIPs: [IPAddress(other)!])
        let cluster = try ClusterLab(manifests: LabManifests.externalPolicies, options: options)
        defer { cluster.tearDown() }
        try cluster.addNodeAddress(other)
        let client = try cluster.addClient("client", address: ClusterLab.outsideAddress)
        #expect(try cluster.lab.connectTCP(from: client, to: other, port: 30081).pod.hasPrefix("web-"))
        let error = #expect(throws: SocketError.self) {
            try cluster.lab.connectTCP(from: client, to: cluster.lab.nodeIP, port: 30081)
        }
        #expect(error?.isRefused == true, "\(String(describing: error))")
    }
}
