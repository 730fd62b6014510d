import Foundation
import Lab
import Manifests
import Testing

@testable import KubernetesAPI

/// Objects as a real API server sends them (server-set fields and all) reach the Manifests module intact.
@Suite struct ManifestDecodingTests {
    @Test func apiObjectsServedAndWatchedDecodeIntoManifests() async throws {
        let cluster = try await TestCluster()
        let server = cluster.server
        for fixture in ["service-web", "service-gateway-loadbalancer", "endpointslice-web"] {
            try server.apply(
                String(decoding: try Data(contentsOf: Repository.fixture("api/\(fixture).json")), as: UTF8.self))
        }
        let watch = try ClusterWatch(
            configuration: try cluster.configuration(), nodeName: nil, options: testOptions, rateLimit: testRateLimit)
        let log = EventLog(watch)
        try await log.waitForInitialList()
        defer { log.stop() }

        var sets: [String: ManifestSet] = [:]
        for change in log.changes {
            do {
                sets[change.source] = try change.manifests()
            } catch {
                Issue.record("\(change.source) does not decode: \(error)")
            }
        }
        let web = try #require(sets["api:Service shop/web"]?.services.first)
        #expect(web.meta.name == "web" && web.meta.namespace == "shop")
        #expect(web.clusterIPs.map { "\($0.value)" } == ["10.96.142.17"])
        #expect(web.ports.map(\.port) == [80])
        let gateway = try #require(sets["api:Service edge/gateway"]?.services.first)
        #expect(gateway.ports.compactMap { $0.nodePort?.value } == [30443, 30444])
        #expect(gateway.externalTrafficPolicy == .local)
        #expect(gateway.loadBalancerIngress.map { "\($0.value)" } == ["203.0.113.10"])
        let slice = try #require(sets["api:EndpointSlice shop/web-6xq2z"]?.endpointSlices.first)
        #expect(slice.endpoints.count == 2)
        #expect(slice.endpoints.map(\.terminating) == [false, true])
        #expect(
            log.changes.first { $0.kind == .endpointSlice }?.lastChangeTriggerTime
                == RFC3339.date("2026-11-30T09:13:02.417355Z"))
    }

    @Test func aDeletionHasNoManifests() throws {
        let deletion = ObjectChange(
            kind: .service, namespace: "default", name: "web", resourceVersion: "9", object: nil)
        #expect(try deletion.manifests() == nil)
    }

    @Test func anInvalidObjectIsReportedUnderItsSourceName() throws {
        let bytes = Array(
            #"{"apiVersion":"v1","kind":"Service","metadata":{"name":"web","namespace":"default"},"spec":{"ports":[{"port":"eighty"}]}}"#
                .utf8)
        let change = ObjectChange(
            kind: .service, namespace: "default", name: "web", resourceVersion: "9", object: bytes)
        let error = try #require(throws: InputError.self) { try change.manifests() }
        #expect(error.description.hasPrefix("api:Service default/web:1:"), "\(error)")
    }

    /// Go writes a nil slice as `null`: an EndpointSlice of a service without endpoints comes with
    /// `"endpoints": null`; an object built in memory can carry `"creationTimestamp": null`.
    @Test func nullsAsTheServerWritesThem() throws {
        let slice = ObjectChange(
            kind: .endpointSlice, namespace: "d", name: "e", resourceVersion: "1",
            object: Array(
                #"{"apiVersion":"discovery.k8s.io/v1","kind":"EndpointSlice","metadata":{"name":"e","namespace":"d","labels":{"kubernetes.io/service-name":"s"}},"addressType":"IPv4","endpoints":null,"ports":null}"#
                    .utf8))
        let decodedSlice = try #require(try slice.manifests()?.endpointSlices.first)
        #expect(decodedSlice.endpoints.isEmpty && decodedSlice.ports.isEmpty)
        let service = ObjectChange(
            kind: .service, namespace: "d", name: "s", resourceVersion: "1",
            object: Array(
                #"{"apiVersion":"v1","kind":"Service","metadata":{"name":"s","namespace":"d","creationTimestamp":null},"spec":{"ports":[{"port":80,"protocol":"TCP","targetPort":80}]},"status":{"loadBalancer":{}}}"#
                    .utf8))
        #expect(try service.manifests()?.services.first?.meta.name == "s")
    }
}
