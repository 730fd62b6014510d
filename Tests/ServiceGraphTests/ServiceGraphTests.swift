import Addressing
import Manifests
import ServiceGraph
import Testing

/// Manifests built in code, so the graph is tested without the decoder.
enum Make {
    static func at(_ line: Int) -> Manifests.SourceLocation {
        Manifests.SourceLocation(file: "test.yaml", line: line, column: 1)
    }

    static func service(
        _ name: String, selector: [String: String]? = ["app": "web"], type: ServiceManifest.ServiceType = .clusterIP,
        clusterIP: String? = nil, ports: [ServiceManifest.Port]? = nil, line: Int = 1
    ) -> ServiceManifest {
        ServiceManifest(
            meta: ObjectMeta(name: name, location: at(line)), type: type, selector: selector,
            clusterIPs: clusterIP.map { [Located(IPAddress($0)!, at: at(line + 1))] } ?? [],
            ports: ports ?? [port(80, target: .number(8080), line: line + 2)])
    }

    static func port(
        _ number: UInt16, name: String? = nil, target: PortReference, nodePort: UInt16? = nil, line: Int = 3
    ) -> ServiceManifest.Port {
        ServiceManifest.Port(
            name: name, transport: .tcp, port: number, targetPort: target,
            nodePort: nodePort.map { Located($0, at: at(line)) }, location: at(line))
    }

    static func pod(
        _ name: String, labels: [String: String] = ["app": "web"], ip: String? = nil,
        ports: [ContainerPort] = [], ready: Bool? = nil, namespace: String = "default"
    ) -> PodManifest {
        PodManifest(
            meta: ObjectMeta(name: name, namespace: namespace, labels: labels, location: at(20)),
            template: PodTemplate(labels: labels, ports: ports),
            podIPs: ip.map { [Located(IPAddress($0)!, at: at(21))] } ?? [], ready: ready)
    }

    static func deployment(_ name: String, replicas: Int, labels: [String: String] = ["app": "web"]) -> WorkloadManifest
    {
        WorkloadManifest(
            kind: .deployment, meta: ObjectMeta(name: name, location: at(30)), replicas: replicas,
            selector: LabelSelector(matchLabels: labels), template: PodTemplate(labels: labels, ports: []))
    }

    static func set(services: [ServiceManifest] = [], pods: [PodManifest] = [], workloads: [WorkloadManifest] = [])
        -> ManifestSet
    {
        var set = ManifestSet()
        set.services = services
        set.pods = pods
        set.workloads = workloads
        return set
    }
}

@Suite struct ServiceGraphTests {
    @Test func selectsPodsAndReplicasByLabelsInTheSameNamespace() throws {
        let input = Make.set(
            services: [Make.service("web")],
            pods: [
                Make.pod("a", ip: "10.244.0.7"), Make.pod("other", labels: ["app": "db"]),
                Make.pod("elsewhere", namespace: "prod"),
            ],
            workloads: [Make.deployment("web", replicas: 2)])
        let graph = try ServiceGraph.build(from: input).graph
        let endpoints = try #require(graph.services.first?.ports.first?.endpoints)
        #expect(Set(endpoints.compactMap(\.targetName)) == ["a", "web-0", "web-1"])
        #expect(endpoints.allSatisfy { $0.port == 8080 })
        #expect(endpoints.contains { $0.address == IPAddress("10.244.0.7") })
    }

    @Test func allocationIsDeterministicAndAvoidsExplicitAddresses() throws {
        let services = (0..<40).map { Make.service("s\($0)") } + [Make.service("fixed", clusterIP: "10.96.0.10")]
        let pods = (0..<40).map { Make.pod("p\($0)") }
        let one = try ServiceGraph.build(from: Make.set(services: services, pods: pods)).graph
        let two = try ServiceGraph.build(from: Make.set(services: services.reversed(), pods: pods.reversed())).graph
        #expect(one == two)
        let clusterIPs = one.services.flatMap(\.clusterIPs)
        #expect(Set(clusterIPs).count == clusterIPs.count, "no two services share a ClusterIP")
        #expect(clusterIPs.allSatisfy { IPNetwork("10.96.0.0/12")!.contains($0) && $0 != IPAddress("10.96.0.1") })
        #expect(one.services.first { $0.id.name == "fixed" }?.clusterIPs == [IPAddress("10.96.0.10")!])
        let podIPs = one.services[0].ports[0].endpoints.map(\.address)
        #expect(Set(podIPs).count == 40 && podIPs.allSatisfy { IPNetwork("10.244.0.0/16")!.contains($0) })
    }

    @Test func addingAServiceDoesNotMoveTheOthers() throws {
        let before = try ServiceGraph.build(from: Make.set(services: [Make.service("a"), Make.service("b")])).graph
        let after = try ServiceGraph.build(
            from: Make.set(services: [Make.service("a"), Make.service("b"), Make.service("c")])
        ).graph
        #expect(before.services.map(\.clusterIPs) == Array(after.services.prefix(2)).map(\.clusterIPs))
    }

    @Test func nodePortsAreAllocatedInRangeAndKeptWhenGiven() throws {
        let input = Make.set(services: [
            Make.service("fixed", type: .nodePort, ports: [Make.port(80, target: .number(80), nodePort: 31080)]),
            Make.service("auto", type: .loadBalancer),
        ])
        let graph = try ServiceGraph.build(from: input).graph
        let ports = Dictionary(uniqueKeysWithValues: graph.services.map { ($0.id.name, $0.ports[0].nodePort) })
        #expect(ports["fixed"] == 31080)
        #expect(ports["auto"].flatMap { $0 }.map { (30000...32767).contains($0) } == true)
    }

    @Test func twoServicesClaimingOneClusterIPIsAnErrorNamingBoth() {
        let input = Make.set(services: [
            Make.service("a", clusterIP: "10.96.0.50", line: 1), Make.service("b", clusterIP: "10.96.0.50", line: 10),
        ])
        let error = #expect(throws: InputError.self) { try ServiceGraph.build(from: input) }
        let message = error?.errors.first?.description ?? ""
        #expect(
            message.contains("test.yaml:11:1") && message.contains("default/a") && message.contains("fix:"),
            "\(message)")
    }

    @Test func twoServicesClaimingOneNodePortIsAnError() {
        let input = Make.set(services: [
            Make.service("a", type: .nodePort, ports: [Make.port(80, target: .number(80), nodePort: 30500)]),
            Make.service("b", type: .nodePort, ports: [Make.port(81, target: .number(80), nodePort: 30500)]),
        ])
        let error = #expect(throws: InputError.self) { try ServiceGraph.build(from: input) }
        #expect(error?.errors.first?.message.contains("already used by Service \"default/a\"") == true)
    }

    @Test func clusterIPOutsideTheServiceRangeIsAnError() {
        let input = Make.set(services: [Make.service("a", clusterIP: "192.0.2.1")])
        let error = #expect(throws: InputError.self) { try ServiceGraph.build(from: input) }
        #expect(error?.errors.first?.fix?.contains("--service-cidr") == true)
    }

    @Test func namedTargetPortResolvesPerPodOrLeavesThePodOut() throws {
        let service = Make.service("web", ports: [Make.port(80, target: .name("http"))])
        let good = Make.set(
            services: [service],
            pods: [
                Make.pod("a", ports: [ContainerPort(name: "http", number: 8080)]),
                Make.pod("b", ports: [ContainerPort(name: "http", number: 9090)]),
            ])
        let ports = try ServiceGraph.build(from: good).graph.services[0].ports[0].endpoints.map(\.port)
        #expect(Set(ports) == [8080, 9090])

        let mixed = Make.set(
            services: [service],
            pods: [
                Make.pod("a", ports: [ContainerPort(name: "web", number: 8080)]),
                Make.pod("b", ports: [ContainerPort(name: "http", number: 9090)]),
            ])
        let build = try ServiceGraph.build(from: mixed)
        #expect(build.graph.services[0].ports[0].endpoints.map(\.targetName) == ["b"])
        #expect(
            build.diagnostics.contains {
                $0.severity == .warning && $0.message.contains("targetPort \"http\"")
                    && $0.message.contains("default/a")
            })
    }

    @Test func selectorMatchingNothingIsAWarningNotAnError() throws {
        let build = try ServiceGraph.build(
            from: Make.set(services: [Make.service("lonely", selector: ["app": "ghost"])]))
        #expect(build.graph.services[0].ports[0].endpoints.isEmpty)
        #expect(build.diagnostics.contains { $0.severity == .warning && $0.message.contains("app=ghost") })
    }

    @Test func headlessAndExternalNameServicesGetNoRules() throws {
        var headless = Make.service("headless")
        headless.isHeadless = true
        var external = Make.service("external", selector: nil, type: .externalName)
        external.externalName = "example.com"
        let graph = try ServiceGraph.build(from: Make.set(services: [headless, external, Make.service("web")])).graph
        #expect(graph.services.map(\.id.name) == ["web"])
    }

    @Test func unreadyPodsAreNotReadyEndpoints() throws {
        let graph = try ServiceGraph.build(
            from: Make.set(
                services: [Make.service("web")], pods: [Make.pod("a", ready: false), Make.pod("b")])
        ).graph
        let endpoints = graph.services[0].ports[0].endpoints
        #expect(endpoints.first { $0.targetName == "a" }?.isReady == false)
        #expect(endpoints.first { $0.targetName == "b" }?.isReady == true)
    }

    @Test func endpointSlicesWinOverSelectors() throws {
        var input = Make.set(services: [Make.service("web")], pods: [Make.pod("a")])
        input.endpointSlices = [
            EndpointSliceManifest(
                meta: ObjectMeta(name: "web-abc", location: Make.at(40)), serviceName: "web", addressType: .ipv4,
                ports: [.init(name: nil, port: 9376, transport: .tcp)],
                endpoints: [
                    .init(addresses: [Located(IPAddress("10.1.2.3")!, at: Make.at(41))], ready: true, nodeName: "n1"),
                    .init(
                        addresses: [Located(IPAddress("10.1.2.4")!, at: Make.at(42))], ready: false, serving: true,
                        terminating: true),
                ])
        ]
        let endpoints = try ServiceGraph.build(from: input).graph.services[0].ports[0].endpoints
        #expect(endpoints.map(\.address.description) == ["10.1.2.3", "10.1.2.4"])
        #expect(endpoints.map(\.port) == [9376, 9376])
        #expect(
            endpoints[0].nodeName == "n1" && endpoints[1].isTerminating && endpoints[1].isServing
                && !endpoints[1].isReady)
    }

    @Test func weightAnnotationSetsEndpointWeight() throws {
        var canary = Make.pod("canary")
        canary.meta.annotations[ObjectMeta.weightAnnotation] = "9"
        let graph = try ServiceGraph.build(
            from: Make.set(services: [Make.service("web")], pods: [canary, Make.pod("stable")])
        ).graph
        #expect(graph.services[0].ports[0].endpoints.first { $0.targetName == "canary" }?.weight == 9)

        var broken = Make.pod("broken")
        broken.meta.annotations[ObjectMeta.weightAnnotation] = "lots"
        #expect(throws: InputError.self) {
            try ServiceGraph.build(from: Make.set(services: [Make.service("web")], pods: [broken]))
        }
    }

    static func slice(_ name: String, labels: [String: String] = [:], _ endpoints: [EndpointSliceManifest.Endpoint])
        -> EndpointSliceManifest
    {
        EndpointSliceManifest(
            meta: ObjectMeta(name: name, labels: labels, location: Make.at(50)), serviceName: "web", addressType: .ipv4,
            ports: [.init(name: nil, port: 9376, transport: .tcp)], endpoints: endpoints)
    }

    static func endpoint(_ address: String, ready: Bool? = nil, serving: Bool? = nil, terminating: Bool? = nil)
        -> EndpointSliceManifest.Endpoint
    {
        .init(
            addresses: [Located(IPAddress(address)!, at: Make.at(51))], ready: ready, serving: serving,
            terminating: terminating)
    }

    @Test func endpointSlicesAsTheAPIDefinesThem() throws {
        var input = Make.set(services: [Make.service("web", selector: nil)])
        input.endpointSlices = [
            Self.slice(
                "web-a", [Self.endpoint("10.1.0.1"), Self.endpoint("10.1.0.2", ready: false, terminating: true)]),
            // The same endpoint in a second slice (mid-update) counts once.
            Self.slice("web-b", [Self.endpoint("10.1.0.1"), Self.endpoint("10.1.0.3", ready: false, serving: false)]),
            // Slices for another proxy, or of a headless Service, are not ours.
            Self.slice(
                "web-c", labels: ["service.kubernetes.io/service-proxy-name": "other"], [Self.endpoint("10.1.0.9")]),
            Self.slice("web-d", labels: ["service.kubernetes.io/headless": ""], [Self.endpoint("10.1.0.8")]),
        ]
        let endpoints = try ServiceGraph.build(from: input).graph.services[0].ports[0].endpoints
        #expect(endpoints.map(\.address.description) == ["10.1.0.1", "10.1.0.2", "10.1.0.3"])
        #expect(endpoints[0].isReady && endpoints[0].isServing && !endpoints[0].isTerminating, "missing conditions")
        #expect(
            !endpoints[1].isReady && endpoints[1].isServing && endpoints[1].isTerminating, "serving defaults to true")
        #expect(!endpoints[2].isReady && !endpoints[2].isServing)
    }

    @Test func aServiceForAnotherProxyGetsNoRulesAndANote() throws {
        var other = Make.service("other")
        other.meta.labels["service.kubernetes.io/service-proxy-name"] = "cilium"
        let build = try ServiceGraph.build(from: Make.set(services: [other, Make.service("web")]))
        #expect(build.graph.services.map(\.id.name) == ["web"])
        #expect(build.diagnostics.contains { $0.severity == .note && $0.message.contains("cilium") })
    }
}
