import Compiler
import Lab
import Pipeline
import Testing

/// Switching the petclinic Service from v1.0.0 to v1.0.1 (the seed's blue-green scenario):
/// new connections go to v1.0.1 only, established ones stay with v1.0.0.
@Suite struct BlueGreenTests {
    /// Both scenarios hold both Pods; only the Service's selector differs.
    static let blue = "blue-green-v1.0.0"
    static let green = "blue-green-v1.0.1"

    /// Pod name → address for every petclinic Pod of a scenario, read through a probe Service
    /// that selects them all (addresses are allocated per pod name, not per Service).
    func podAddresses(_ scenario: String) throws -> [String: String] {
        let probe = """
            apiVersion: v1
            kind: Service
            metadata:
              name: probe-every-petclinic
            spec:
              selector:
                app: petclinic
              ports:
                - port: 8080
            """
        let compiled = try ClusterLab.compile(
            manifests: probe, with: [Repository.rules.appendingPathComponent(scenario).path])
        let service = try #require(compiled.graph.services.first { $0.id.name == "probe-every-petclinic" })
        return Dictionary(
            uniqueKeysWithValues: service.ports[0].endpoints.map { ($0.targetName ?? "?", $0.address.description) })
    }

    func endpoints(_ compiled: CompiledInput) throws -> [String: String] {
        let service = try #require(compiled.graph.services.first { $0.id.name == "petclinic" })
        return Dictionary(
            uniqueKeysWithValues: service.ports[0].endpoints.map { ($0.targetName ?? "?", $0.address.description) })
    }

    @Test func newConnectionsGoToGreenWhileEstablishedOnesStayOnBlue() throws {
        let blue = try ClusterLab.compile(scenario: Self.blue)
        let green = try ClusterLab.compile(scenario: Self.green)

        // The assumption that lets both pods run across the switch: same name, same address.
        let blueAddresses = try podAddresses(Self.blue)
        #expect(Set(blueAddresses.keys) == ["petclinic-v1.0.0", "petclinic-v1.0.1"])
        #expect(try podAddresses(Self.green) == blueAddresses, "both scenarios give each pod the same address")
        #expect(try endpoints(blue) == blueAddresses.filter { $0.key == "petclinic-v1.0.0" })
        #expect(try endpoints(green) == blueAddresses.filter { $0.key == "petclinic-v1.0.1" })

        let cluster = try ClusterLab(compiled: blue, alsoStart: [green])
        defer { cluster.tearDown() }
        let lab = cluster.lab
        let client = try cluster.addClient("client", address: ClusterLab.outsideAddress)
        let clusterIP = try cluster.clusterIP("petclinic")
        #expect(
            try cluster.clusterIP("petclinic")
                == green.graph.services.first { $0.id.name == "petclinic" }?.clusterIPs.first?.description)
        let nodePort = try #require(cluster.port("petclinic", named: "http").nodePort.map(Int.init))

        let viaClusterIP = try lab.openTCP(from: client, to: clusterIP, port: 8080)
        let viaNodePort = try lab.openTCP(from: client, to: lab.nodeIP, port: nodePort)
        #expect(viaClusterIP.greeting.pod == "petclinic-v1.0.0")
        #expect(viaNodePort.greeting.pod == "petclinic-v1.0.0")
        #expect(try viaClusterIP.ask().pod == "petclinic-v1.0.0", "the connection answers more than once")

        try cluster.load(green)

        var fresh: [String: Int] = [:]
        for _ in 0..<30 { fresh[try lab.connectTCP(from: client, to: clusterIP, port: 8080).pod, default: 0] += 1 }
        for _ in 0..<10 { fresh[try lab.connectTCP(from: client, to: lab.nodeIP, port: nodePort).pod, default: 0] += 1 }
        #expect(fresh == ["petclinic-v1.0.1": 40], "every new connection goes to green: \(fresh)")

        let blueAgain = try viaClusterIP.ask()
        #expect(
            blueAgain == Reply(pod: "petclinic-v1.0.0", peer: lab.nodeIP),
            "the established ClusterIP connection stays on blue")
        #expect(try viaNodePort.ask().pod == "petclinic-v1.0.0", "the established NodePort connection stays on blue")
    }
}
