import Testing

@testable import Manifests

@Suite struct SharedNamesTests {
    /// Where a string's bytes are: the same place for two strings means one copy.
    func storage(_ text: String) -> UnsafeRawPointer? {
        text.utf8.withContiguousStorageIfAvailable { UnsafeRawPointer($0.baseAddress) } ?? nil
    }

    @Test func endpointsDecodedApartShareTheirNodeAndZoneNames() throws {
        func slice(_ name: String) -> String {
            """
            apiVersion: discovery.k8s.io/v1
            kind: EndpointSlice
            metadata: {name: \(name), labels: {kubernetes.io/service-name: web}}
            addressType: IPv4
            endpoints:
            - addresses: [10.0.0.1]
              nodeName: ip-10-0-12-34.us-west-2.compute.internal
              zone: us-west-2a-long-zone-name
            """
        }
        let first = try #require(try ManifestLoader.decode(slice("web-1"), file: "a.yaml").endpointSlices.first)
        let second = try #require(try ManifestLoader.decode(slice("web-2"), file: "b.yaml").endpointSlices.first)
        let (a, b) = (try #require(first.endpoints.first), try #require(second.endpoints.first))
        #expect(a.nodeName == "ip-10-0-12-34.us-west-2.compute.internal")
        #expect(a.zone == "us-west-2a-long-zone-name")
        #expect(storage(a.nodeName!) != nil)
        #expect(storage(a.nodeName!) == storage(b.nodeName!))
        #expect(storage(a.zone!) == storage(b.zone!))
    }

    @Test func shortAndAbsentNamesPassThrough() {
        #expect(SharedNames.shared(nil) == nil)
        #expect(SharedNames.shared("node-1") == "node-1")
    }
}
