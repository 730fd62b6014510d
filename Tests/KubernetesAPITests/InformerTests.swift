import APIServer
import Foundation
import Lab
import Testing

@testable import KubernetesAPI

/// The cluster watch against the test API server, over TLS on loopback.
@Suite struct InformerTests {
    func watch(_ cluster: TestCluster, nodeName: String? = nil, user: String = "token: \(TestCluster.token)") throws
        -> (ClusterWatch, EventLog)
    {
        let watch = try ClusterWatch(
            configuration: try cluster.configuration(user: user), nodeName: nodeName, options: testOptions,
            rateLimit: testRateLimit)
        return (watch, EventLog(watch))
    }

    /// List requests of a resource that started a list (no continue token).
    func lists(_ server: TestAPIServer, _ path: String) -> [TestAPIServer.Request] {
        server.requests.filter { $0.path == path && !$0.isWatch && $0.query["continue"] == nil }
    }

    func watches(_ server: TestAPIServer, _ path: String) -> [TestAPIServer.Request] {
        server.requests.filter { $0.path == path && $0.isWatch }
    }

    @Test func listsInPagesThenWatchesFromTheListsResourceVersion() async throws {
        let cluster = try await TestCluster()
        let server = cluster.server
        for name in ["a", "b", "c"] { try server.apply(Objects.service(name)) }
        try server.apply(
            Objects.service("other-proxy", labels: ["service.kubernetes.io/service-proxy-name": "elsewhere"]))
        try server.apply(Objects.endpointSlice("a-1", service: "a"))
        try server.apply(Objects.endpointSlice("b-1", service: "b"))
        try server.apply(
            Objects.endpointSlice("headless-1", service: "h", extraLabels: ["service.kubernetes.io/headless": ""]))
        let listRevision = server.revision

        let (_, log) = try watch(cluster)
        try await log.waitForInitialList()
        let initial = log.changes.map(\.source)
        #expect(
            Set(initial) == [
                "api:Service default/a", "api:Service default/b", "api:Service default/c",
                "api:EndpointSlice default/a-1", "api:EndpointSlice default/b-1",
            ])
        #expect(initial.count == 5, "each object once")
        let beforeComplete = log.all.prefix { if case .initialListComplete = $0 { false } else { true } }
        #expect(
            beforeComplete.flatMap { if case .changed(let c) = $0 { c } else { [] } }.count == 5,
            "initialListComplete comes after every object of both lists")

        let servicePages = server.requests.filter { $0.path == "/api/v1/services" && !$0.isWatch }
        #expect(servicePages.count == 2, "3 services in pages of 2: \(servicePages)")
        #expect(
            servicePages.allSatisfy {
                $0.query["labelSelector"] == "!service.kubernetes.io/service-proxy-name,!service.kubernetes.io/headless"
            })
        #expect(servicePages.last?.query["continue"] != nil)

        try await log.wait("both watches") { _ in server.openWatches == 2 }
        for watchRequest in watches(server, "/api/v1/services")
            + watches(server, "/apis/discovery.k8s.io/v1/endpointslices")
        {
            #expect(watchRequest.query["resourceVersion"] == "\(listRevision)")
            #expect(watchRequest.query["allowWatchBookmarks"] == "true")
            #expect(Int(watchRequest.query["timeoutSeconds"] ?? "") ?? 0 >= 120)
        }

        // Then every watch event is a change.
        try server.apply(Objects.endpointSlice("c-1", service: "c", triggerTime: "2026-11-30T09:13:02.5Z"))
        try await log.waitForChange("api:EndpointSlice default/c-1")
        let created = try #require(log.changes.last)
        #expect(created.lastChangeTriggerTime == RFC3339.date("2026-11-30T09:13:02.5Z"))
        #expect(created.resourceVersion == "\(server.revision)")
        let object = try #require(created.object)
        let decoded = try JSONSerialization.jsonObject(with: Data(object)) as? [String: Any]
        #expect(decoded?["kind"] as? String == "EndpointSlice")

        let count = log.changes.count
        try server.apply(Objects.endpointSlice("c-1", service: "c", addresses: ["10.244.1.10", "10.244.2.20"]))
        try await log.waitForChange("api:EndpointSlice default/c-1", after: count)
        try server.delete(.services, namespace: "default", name: "b")
        try await log.waitForChange("api:Service default/b", deleted: true)
        // An object that leaves the selection is deleted for us, as kube-proxy sees it.
        try server.apply(Objects.service("c", labels: ["service.kubernetes.io/service-proxy-name": "elsewhere"]))
        try await log.waitForChange("api:Service default/c", deleted: true)
        #expect(lists(server, "/api/v1/services").count == 1, "no relist")
        log.stop()
    }

    @Test func aCutWatchResumesFromTheLastResourceVersionWithoutRelisting() async throws {
        let cluster = try await TestCluster()
        let server = cluster.server
        try server.apply(Objects.service("web"))
        let (watch, log) = try watch(cluster)
        try await log.waitForInitialList()
        try await log.wait("both watches") { _ in server.openWatches == 2 }
        try server.apply(Objects.endpointSlice("web-1", service: "web"))
        try await log.waitForChange("api:EndpointSlice default/web-1")
        let lastSeen = server.revision

        server.cutWatches()
        // Changes made while no watch is open are delivered by the next watch, from its resourceVersion.
        try server.apply(Objects.endpointSlice("web-2", service: "web"))
        try await log.waitForChange("api:EndpointSlice default/web-2")
        let sliceWatches = watches(server, "/apis/discovery.k8s.io/v1/endpointslices")
        #expect(sliceWatches.count == 2)
        #expect(sliceWatches.last?.query["resourceVersion"] == "\(lastSeen)")
        #expect(lists(server, "/apis/discovery.k8s.io/v1/endpointslices").count == 1, "resumed without a relist")
        #expect(lists(server, "/api/v1/services").count == 1)
        #expect(log.changes.filter { $0.source == "api:EndpointSlice default/web-1" }.count == 1, "nothing repeated")
        #expect(watch.statistics[.endpointSlice].reconnects >= 1)
        #expect(watch.statistics[.endpointSlice].relists == 0)
        #expect(log.connectionEvents.isEmpty, "a cut is routine, not a failure: \(log.connectionEvents)")
        log.stop()
    }

    @Test(arguments: [TestAPIServer.ExpiredWatch.errorEvent, .httpStatus])
    func goneRelistsAndReportsWhatWasMissedDeletionsIncluded(_ expired: TestAPIServer.ExpiredWatch) async throws {
        let cluster = try await TestCluster(expiredWatch: expired)
        let server = cluster.server
        for name in ["keep", "change", "remove"] { try server.apply(Objects.service(name)) }
        try server.apply(Objects.endpointSlice("keep-1", service: "keep"))
        let (watch, log) = try watch(cluster)
        try await log.waitForInitialList()
        try await log.wait("both watches") { _ in server.openWatches == 2 }
        let before = log.changes.count

        await server.stop()
        try server.delete(.services, namespace: "default", name: "remove")
        try server.apply(Objects.service("change", port: 8080))
        try server.apply(Objects.service("new"))
        server.compact()
        try await server.start()

        try await log.waitForChange("api:Service default/remove", deleted: true, after: before)
        try await log.waitForChange("api:Service default/change", after: before)
        try await log.waitForChange("api:Service default/new", after: before)
        let missed = log.changes.dropFirst(before).filter { $0.kind == .service }.map(\.source)
        #expect(
            missed.sorted() == ["api:Service default/change", "api:Service default/new", "api:Service default/remove"],
            "only the difference; keep is unchanged: \(missed)")
        #expect(log.connectionEvents.contains { if case .relisting(.service, _) = $0 { true } else { false } })
        #expect(watch.statistics[.service].relists == 1)
        #expect(watch.statistics[.service].expired == 1)
        #expect(lists(server, "/api/v1/services").count == 2)
        // The slices relisted too (their watch expired alike) and found nothing new.
        try await log.wait("the slice relist") { _ in watch.statistics[.endpointSlice].relists == 1 }
        #expect(!log.changes.dropFirst(before).contains { $0.kind == .endpointSlice })
        log.stop()
    }

    @Test func bookmarksMoveTheResumePointOn() async throws {
        let cluster = try await TestCluster()
        let server = cluster.server
        let (_, log) = try watch(cluster)
        try await log.waitForInitialList()
        try await log.wait("both watches") { _ in server.openWatches == 2 }
        // Writes the watches do not select still advance the revision; a bookmark says so.
        try server.apply(Objects.service("not-ours", labels: ["service.kubernetes.io/service-proxy-name": "x"]))
        try server.apply(Objects.node("node-z"))
        let bookmarked = server.revision
        server.sendBookmarks()
        try await Task.sleep(for: .milliseconds(200))
        server.cutWatches()
        try await log.wait("the resumed watches") { _ in
            self.watches(server, "/api/v1/services").count == 2
                && self.watches(server, "/apis/discovery.k8s.io/v1/endpointslices").count == 2
        }
        #expect(watches(server, "/api/v1/services").last?.query["resourceVersion"] == "\(bookmarked)")
        #expect(log.changes.isEmpty)
        log.stop()
    }

    @Test func aRotatedTokenFileIsUsedOnTheNextRequest() async throws {
        let cluster = try await TestCluster()
        let server = cluster.server
        server.setUsers(.init(tokens: ["first": "proxy-1", "second": "proxy-2"], authorized: ["proxy-1", "proxy-2"]))
        let tokenFile = try cluster.folder.write("token", "first\n")
        let (_, log) = try watch(cluster, user: "tokenFile: \(tokenFile)")
        try await log.waitForInitialList()
        try await log.wait("both watches") { _ in server.openWatches == 2 }
        #expect(server.requests.allSatisfy { $0.user == "proxy-1" })

        // The kubelet writes the new token; the old one stops working.
        try cluster.folder.write("token", "second\n")
        server.setUsers(.init(tokens: ["second": "proxy-2"], authorized: ["proxy-2"]))
        server.cutWatches()
        try server.apply(Objects.service("after-rotation"))
        try await log.waitForChange("api:Service default/after-rotation")
        #expect(server.requests.last { $0.path == "/api/v1/services" }?.user == "proxy-2")
        #expect(server.requests.allSatisfy { $0.status != 401 }, "the new token was read before the request")
        log.stop()
    }

    @Test func aClientCertificateAuthenticates() async throws {
        let cluster = try await TestCluster()
        let server = cluster.server
        let issued = try server.certificateAuthority.issueClientCertificate(
            user: "system:kube-proxy", groups: ["system:node-proxier"])
        try server.authenticate(clientCertificate: issued.certificatePEM, as: TestCluster.user)
        try server.apply(Objects.service("web"))
        let (_, log) = try watch(
            cluster, user: "client-certificate: \(issued.certificatePath)\n      client-key: \(issued.keyPath)")
        try await log.waitForInitialList()
        #expect(log.changes.map(\.source) == ["api:Service default/web"])
        #expect(server.requests.allSatisfy { $0.user == TestCluster.user })
        log.stop()
    }

    /// Waits until both informers have retried a few times, then returns the failures they reported.
    func reportedFailures(_ log: EventLog, _ watch: ClusterWatch) async throws -> [APIError] {
        try await log.wait("several retries") { _ in
            watch.statistics[.service].failures >= 3 && watch.statistics[.endpointSlice].failures >= 3
        }
        return log.connectionEvents.compactMap { if case .failing(_, let error, _) = $0 { error } else { nil } }
    }

    @Test func aWrongTokenIsOneClearErrorPerInformerNotOnePerRetry() async throws {
        let cluster = try await TestCluster()
        let (watch, log) = try watch(cluster, user: "token: wrong")
        let failures = try await reportedFailures(log, watch)
        #expect(failures.count == 2, "\(failures)")
        #expect(failures.allSatisfy { $0.reason == .unauthorized })
        let message = try #require(failures.first?.description)
        #expect(
            message.contains(
                "at \(cluster.server.url): 401 Unauthorized: the server does not accept the credentials of kubeconfig "),
            "\(message)")
        #expect(message.contains("fix: check the token"))
        #expect(!log.all.contains { if case .initialListComplete = $0 { true } else { false } })
        log.stop()
    }

    @Test func aWrongCertificateAuthorityIsOneClearError() async throws {
        let cluster = try await TestCluster()
        let otherCA = try TestCertificateAuthority(name: "someone-else")
        let watch = try ClusterWatch(
            configuration: try APIServerConfiguration.resolve(
                kubeconfig: try cluster.kubeconfig(caLine: "certificate-authority: \(otherCA.certificatePath)"),
                master: nil),
            nodeName: nil, options: testOptions, rateLimit: testRateLimit)
        let log = EventLog(watch)
        let failures = try await reportedFailures(log, watch)
        #expect(failures.count == 2, "\(failures)")
        #expect(failures.allSatisfy { $0.reason == .tls })
        let message = try #require(failures.first?.description)
        #expect(
            message.contains("TLS handshake failed (trusting certificate-authority \(otherCA.certificatePath))"),
            "\(message)")
        #expect(message.contains("fix: check certificate-authority"))
        log.stop()
    }

    @Test func aForbiddenUserIsToldWhichPermissionIsMissing() async throws {
        let cluster = try await TestCluster()
        cluster.server.setUsers(.init(tokens: [TestCluster.token: "nobody"], authorized: []))
        let (watch, log) = try watch(cluster)
        let failures = try await reportedFailures(log, watch)
        let services = try #require(failures.first { $0.request == "list services" })
        #expect(services.reason == .forbidden)
        #expect(
            services.description.contains("services is forbidden: User \"nobody\" cannot list resource \"services\""),
            "\(services)")
        #expect(services.description.contains("grant list and watch on services, endpointslices and nodes"))
        log.stop()
    }

    @Test func aServerDownAtStartIsWaitedFor() async throws {
        let cluster = try await TestCluster()
        let server = cluster.server
        try server.apply(Objects.service("web"))
        try server.apply(Objects.endpointSlice("web-1", service: "web"))
        await server.stop()
        let (watch, log) = try watch(cluster)
        let failures = try await reportedFailures(log, watch)
        #expect(failures.allSatisfy { $0.reason == .connection }, "\(failures)")
        #expect(failures.first?.description.contains("cannot reach the server") == true, "\(failures)")
        #expect(log.changes.isEmpty)

        try await server.start()
        try await log.waitForInitialList()
        #expect(Set(log.changes.map(\.source)) == ["api:Service default/web", "api:EndpointSlice default/web-1"])
        try await log.wait("recovery") { _ in
            log.connectionEvents.filter { if case .recovered = $0 { true } else { false } }.count == 2
        }
        log.stop()
    }

    @Test func theNodesFactsAndTheirChanges() async throws {
        let cluster = try await TestCluster()
        let server = cluster.server
        try server.apply(String(decoding: try Data(contentsOf: Repository.fixture("api/node-a.json")), as: UTF8.self))
        try server.apply(Objects.node("node-b", zone: "zone-b"))
        let (_, log) = try watch(cluster, nodeName: "node-a")
        func nodes() -> [NodeFacts?] {
            log.all.compactMap { event -> NodeFacts?? in
                if case .node(let facts) = event { return .some(facts) }
                return .none
            }
        }
        try await log.wait("node-a") { _ in !nodes().isEmpty }
        let first = try #require(nodes().first ?? nil)
        #expect(first.name == "node-a")
        #expect(first.zone == "zone-a")
        #expect(first.podCIDRs == ["10.244.1.0/24", "fd00:10:244:1::/64"])
        #expect(
            server.requests.contains {
                $0.path == "/api/v1/nodes" && $0.query["fieldSelector"] == "metadata.name=node-a"
            })

        try server.apply(Objects.node("node-b", zone: "zone-c"))  // not ours
        try server.apply(Objects.node("node-a", taints: ["ToBeDeletedByClusterAutoscaler"]))
        try await log.wait("the taint") { _ in nodes().last??.isTaintedToBeDeleted == true }
        try server.apply(Objects.node("node-a", taints: ["ToBeDeletedByClusterAutoscaler"], deleting: true))
        try await log.wait("the deletion timestamp") { _ in nodes().last??.isBeingDeleted == true }
        try server.delete(.nodes, name: "node-a")
        try await log.wait("the deletion") { _ in nodes().count == 4 && nodes().last! == nil }
        #expect(nodes().compactMap { $0?.name }.allSatisfy { $0 == "node-a" })
        log.stop()
    }

    @Test func aMissingNodeIsReportedOnce() async throws {
        let cluster = try await TestCluster()
        let (_, log) = try watch(cluster, nodeName: "not-there")
        try await log.waitForInitialList()
        try await log.wait("the node") { events in events.contains { if case .node(nil) = $0 { true } else { false } } }
        try cluster.server.apply(Objects.node("not-there"))
        try await log.wait("the node created") { events in
            events.contains { if case .node(let facts?) = $0 { facts.name == "not-there" } else { false } }
        }
        log.stop()
    }
}

extension InformerTests {
    @Test func anExpiredContinueTokenStartsTheListAgain() async throws {
        let cluster = try await TestCluster()
        let server = cluster.server
        for name in ["a", "b", "c", "d", "e"] { try server.apply(Objects.service(name)) }
        server.compactAfterNextPage()
        let (watch, log) = try watch(cluster)
        try await log.waitForInitialList()
        let services = log.changes.filter { $0.kind == .service }.map(\.source)
        #expect(
            services.sorted() == ["a", "b", "c", "d", "e"].map { "api:Service default/\($0)" }, "each once: \(services)"
        )
        let pages = server.requests.filter { $0.path == "/api/v1/services" && !$0.isWatch }
        #expect(pages.map(\.status).contains(410), "\(pages)")
        #expect(pages.filter { $0.query["continue"] == nil }.count == 2, "listed from the start again: \(pages)")
        #expect(watch.statistics[.service].relists == 0, "still the first list")
        #expect(log.connectionEvents.isEmpty, "\(log.connectionEvents)")
        log.stop()
    }
}
