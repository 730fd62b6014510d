import Lab
import Testing

/// `loadBalancerSourceRanges`: new connections to the load-balancer IP are dropped unless they
/// come from one of the ranges (kube-proxy's firewall check, before DNAT); the Service's
/// NodePort and ClusterIP are not filtered; a Service without ranges admits every source.
@Suite struct SourceRangeTests {
    static let loadBalancerIP = "203.0.113.10"
    static let openIP = "203.0.113.20"
    /// Inside the range the filtered Service admits.
    static let allowedClient = "198.18.0.10"
    /// Outside it.
    static let otherClient = "198.51.100.7"

    static let manifests = """
        apiVersion: apps/v1
        kind: Deployment
        metadata:
          name: web
        spec:
          replicas: 2
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
                  image: example.com/web:1
                  ports:
                    - containerPort: 8080
        ---
        apiVersion: v1
        kind: Service
        metadata:
          name: filtered
        spec:
          type: LoadBalancer
          selector:
            app: web
          loadBalancerSourceRanges:
            - 198.18.0.0/24
            - 192.0.2.1/32
          ports:
            - port: 80
              targetPort: 8080
              nodePort: 30080
        status:
          loadBalancer:
            ingress:
              - ip: \(loadBalancerIP)
        ---
        apiVersion: v1
        kind: Service
        metadata:
          name: open
        spec:
          type: LoadBalancer
          selector:
            app: web
          ports:
            - port: 80
              targetPort: 8080
              nodePort: 30081
        status:
          loadBalancer:
            ingress:
              - ip: \(openIP)
        """

    @Test func onlyClientsInsideTheRangesReachTheLoadBalancerIP() throws {
        let cluster = try ClusterLab(manifests: Self.manifests)
        defer { cluster.tearDown() }
        let lab = cluster.lab
        let allowed = try cluster.addClient("allowed", address: Self.allowedClient)
        let other = try cluster.addClient("other", address: Self.otherClient)

        let admitted = try lab.connectTCP(from: allowed, to: Self.loadBalancerIP, port: 80)
        #expect(admitted.pod.hasPrefix("web-"), "a client inside 198.18.0.0/24 reaches a pod: \(admitted)")

        let error = #expect(throws: SocketError.self) {
            try lab.connectTCP(from: other, to: Self.loadBalancerIP, port: 80)
        }
        #expect(error?.isTimeout == true, "dropped, not refused or answered: \(String(describing: error))")

        // Not filtered: the same Service's NodePort and ClusterIP, and a Service without ranges.
        let nodePort = try lab.connectTCP(from: other, to: lab.nodeIP, port: 30080)
        #expect(nodePort.pod.hasPrefix("web-"), "the NodePort is not filtered: \(nodePort)")
        let clusterIP = try lab.connectTCP(from: other, to: cluster.clusterIP("filtered"), port: 80)
        #expect(clusterIP.pod.hasPrefix("web-"), "the ClusterIP is not filtered: \(clusterIP)")
        let open = try lab.connectTCP(from: other, to: Self.openIP, port: 80)
        #expect(open.pod.hasPrefix("web-"), "a Service without ranges admits every source: \(open)")
    }

    /// The ranges are set elements: changing them is an element change, and the kernel's table
    /// reads back equal to the compiled one (interval elements of a concatenation included).
    @Test func changingTheRangesMovesTheFilter() throws {
        let cluster = try ClusterLab(manifests: Self.manifests)
        defer { cluster.tearDown() }
        let lab = cluster.lab
        let allowed = try cluster.addClient("allowed", address: Self.allowedClient)
        let other = try cluster.addClient("other", address: Self.otherClient)

        let moved = Self.manifests.replacingOccurrences(of: "- 198.18.0.0/24", with: "- 198.51.100.0/25")
        try cluster.load(ClusterLab.compile(manifests: moved))
        #expect(try lab.kernelRuleset().canonical == cluster.compiled.ruleset.canonical)

        let now = try lab.connectTCP(from: other, to: Self.loadBalancerIP, port: 80)
        #expect(now.pod.hasPrefix("web-"), "198.51.100.7 is inside the new range: \(now)")
        let error = #expect(throws: SocketError.self) {
            try lab.connectTCP(from: allowed, to: Self.loadBalancerIP, port: 80)
        }
        #expect(error?.isTimeout == true, "198.18.0.10 is outside it now: \(String(describing: error))")
    }
}
