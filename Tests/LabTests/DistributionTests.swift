import Lab
import Testing

/// New connections through a ClusterIP split across endpoints with the configured
/// probabilities: a chi-square goodness-of-fit test at α = 0.001 (see `ChiSquareTest`).
@Suite struct DistributionTests {
    static let connections = 300

    /// Counts which pod answers each of `connections` new connections from an outside client.
    func counts(_ cluster: ClusterLab, service: String, port: Int) throws -> [String: Int] {
        let client = try cluster.addClient("client", address: ClusterLab.outsideAddress)
        let clusterIP = try cluster.clusterIP(service)
        var counts: [String: Int] = [:]
        for _ in 0..<Self.connections {
            counts[try cluster.lab.connectTCP(from: client, to: clusterIP, port: port).pod, default: 0] += 1
        }
        return counts
    }

    @Test func threeEqualEndpointsShareConnectionsEqually() throws {
        let cluster = try ClusterLab(scenario: "three-replicas")
        defer { cluster.tearDown() }
        let counts = try counts(cluster, service: "petclinic", port: 8080)
        let pods = ["petclinic-0", "petclinic-1", "petclinic-2"]
        #expect(Set(counts.keys) == Set(pods), "\(counts)")

        // 3 categories: 2 degrees of freedom, critical value 13.816 at α = 0.001.
        let test = ChiSquareTest(observed: pods.map { counts[$0, default: 0] }, expectedShares: [1, 1, 1])
        #expect(test.degreesOfFreedom == 2)
        #expect(test.isConsistentAt0001, "χ² = \(test.statistic) > 13.816 for 1:1:1, counts \(counts)")
    }

    @Test func weightedEndpointGetsThreeFifthsOfConnections() throws {
        let cluster = try ClusterLab(manifests: LabManifests.weighted)
        defer { cluster.tearDown() }
        let port = try cluster.port("weighted", named: "http")
        let weights = Dictionary(uniqueKeysWithValues: port.endpoints.map { ($0.targetName ?? "", $0.weight) })
        #expect(weights == ["heavy": 3, "light-a": 1, "light-b": 1], "the annotation gives heavy 3 of 5 buckets")
        #expect(try cluster.lab.listRuleset().contains("chain lb-5"), "a service with 5 buckets goes to lb-5")

        let counts = try counts(cluster, service: "weighted", port: 80)
        let pods = ["heavy", "light-a", "light-b"]
        let observed = pods.map { counts[$0, default: 0] }

        // Expected 3/5, 1/5, 1/5; 2 degrees of freedom, critical value 13.816 at α = 0.001.
        let weighted = ChiSquareTest(observed: observed, expectedShares: [3, 1, 1])
        #expect(weighted.isConsistentAt0001, "χ² = \(weighted.statistic) > 13.816 for 3:1:1, counts \(counts)")
        // The test has teeth: the same counts are far from an equal split (expected χ² ≈ 90).
        let equal = ChiSquareTest(observed: observed, expectedShares: [1, 1, 1])
        #expect(!equal.isConsistentAt0001, "χ² = \(equal.statistic) for 1:1:1 should exceed 13.816, counts \(counts)")
    }
}
