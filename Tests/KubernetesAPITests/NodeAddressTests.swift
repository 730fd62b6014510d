import Foundation
import Lab
import Testing

@testable import KubernetesAPI

/// A Node's primary addresses as kube-proxy takes them for `--nodeport-addresses primary`.
@Suite struct NodeAddressTests {
    @Test func theFirstInternalIPOfEachFamilyElseTheFirstExternalIP() {
        let addresses: [(type: String, address: String)] = [
            ("Hostname", "node-a"), ("ExternalIP", "203.0.113.7"), ("InternalIP", "192.0.2.10"),
            ("InternalIP", "192.0.2.11"), ("ExternalIP", "2001:db8::7"),
        ]
        #expect(NodeFacts.hostIPs(addresses) == ["192.0.2.10", "2001:db8::7"])
        #expect(NodeFacts.hostIPs([("Hostname", "node-a")]).isEmpty)
    }

    @Test func aRealNodesAddressesAreRead() throws {
        let bytes = try Array(Data(contentsOf: Repository.fixture("api/node-a.json")))
        let facts = try #require(NodeFacts(json: bytes))
        #expect(facts.hostIPs == ["192.0.2.21"])
    }
}
