import Addressing
import Manifests
import PropertyBased
import Testing

@testable import ServiceGraph

/// Random inputs from small integer genomes: each source (a "file") holds a few objects drawn from
/// a small universe, so that selectors overlap, explicit addresses collide with allocated ones, and
/// tiny ranges force allocation to probe.
enum RandomInput {
    /// A step: the source it replaces (gene 0), then its objects (0 removes the source).
    static let steps = Gen.int(in: 0...199).array(of: 1...5).array(of: 1...12)

    /// Small ranges: 13 usable ClusterIPs, 29 pod addresses, 8 node ports.
    static let options = GraphOptions(
        serviceCIDR: IPNetwork("10.96.0.0/28")!, podCIDR: IPNetwork("10.244.0.0/27")!, nodePortRange: 30000...30007)

    static func source(_ step: [Int]) -> String { "file-\(step[0] % 4).yaml" }

    /// The objects of a step's genes; nil when the step removes its source.
    static func objects(_ step: [Int]) -> ManifestSet? {
        let genes = Array(step.dropFirst())
        guard !genes.isEmpty, genes.first != 0 else { return nil }
        var set = ManifestSet()
        let file = source(step)
        for (line, gene) in genes.enumerated() {
            let at = SourceLocation(file: file, line: line * 10 + 1, column: 1)
            let index = (gene / 5) % 6
            let variant = gene / 30
            switch gene % 5 {
            case 0, 1:
                let ports = [
                    ServiceManifest.Port(
                        name: "http", transport: .tcp, port: 80,
                        targetPort: variant % 3 == 0 ? .name("web") : .number(8080),
                        nodePort: variant % 4 == 1 ? Located(UInt16(30000 + index), at: at) : nil, location: at)
                ]
                set.services.append(
                    ServiceManifest(
                        meta: ObjectMeta(name: "s\(index)", location: at),
                        type: variant % 2 == 0 ? .clusterIP : .nodePort,
                        selector: index == 5 ? nil : ["app": "a\(index % 3)"],
                        clusterIPs: variant % 5 == 2
                            ? [Located(IPAddress(ipv4: 0x0A60_0000 + UInt32(2 + index)), at: at)] : [],
                        ports: ports))
            case 2:
                set.pods.append(
                    PodManifest(
                        meta: ObjectMeta(name: "p\(index)", labels: ["app": "a\(variant % 3)"], location: at),
                        template: PodTemplate(
                            labels: ["app": "a\(variant % 3)"],
                            ports: [ContainerPort(name: "web", number: 8000 + UInt16(index))]),
                        podIPs: variant % 3 == 1
                            ? [Located(IPAddress(ipv4: 0x0AF4_0000 + UInt32(2 + index)), at: at)] : [],
                        ready: variant % 4 != 3))
            case 3:
                set.workloads.append(
                    WorkloadManifest(
                        kind: .deployment, meta: ObjectMeta(name: "d\(index % 3)", location: at), replicas: variant % 4,
                        selector: LabelSelector(matchLabels: ["app": "a\(index % 3)"]),
                        template: PodTemplate(
                            labels: ["app": "a\(index % 3)"], ports: [ContainerPort(name: "web", number: 9000)])))
            default:
                set.endpointSlices.append(
                    EndpointSliceManifest(
                        meta: ObjectMeta(
                            name: "s5-\(index % 2)", labels: ["kubernetes.io/service-name": "s5"], location: at),
                        serviceName: "s5", addressType: .ipv4,
                        ports: [.init(name: "http", port: 7000, transport: .tcp)],
                        endpoints: [.init(addresses: [Located(IPAddress(ipv4: 0x0A01_0000 + UInt32(variant)), at: at)])]
                    ))
            }
        }
        return set
    }
}

@Suite struct GraphBuilderTests {
    /// After any sequence of source changes, the builder's graph (and its errors) equal a fresh
    /// build of the sources as they are; and the changes it delivers, applied to what it delivered
    /// before, give that graph.
    @Test func incrementalUpdatesEqualAFreshBuild() async {
        await propertyCheck(count: 400, input: RandomInput.steps) { steps in
            var builder = GraphBuilder(options: RandomInput.options)
            var sources: [String: ManifestSet] = [:]
            var delivered: [ServiceID: Service] = [:]
            for step in steps {
                let source = RandomInput.source(step)
                let objects = RandomInput.objects(step)
                builder.replace(source, with: objects)
                sources[source] = objects
                var whole = ManifestSet()
                for (_, set) in sources.sorted(by: { $0.key < $1.key }) { whole.append(set) }

                let fresh = Result { () throws(InputError) in
                    try ServiceGraph.build(from: whole, options: RandomInput.options)
                }
                let incremental = Result { () throws(InputError) in try builder.commit() }
                switch (fresh, incremental) {
                case (.success(let build), .success(let change)):
                    for service in change.changed { delivered[service.id] = service }
                    for id in change.removed { delivered[id] = nil }
                    #expect(builder.graph == build.graph, "steps: \(steps)")
                    #expect(ServiceGraph(services: Array(delivered.values)) == build.graph, "steps: \(steps)")
                    #expect(change.diagnostics == build.diagnostics)
                case (.failure(let expected), .failure(let got)):
                    #expect(Set(got.errors) == Set(expected.errors), "steps: \(steps)")
                default:
                    Issue.record("the fresh build and the incremental one disagree on errors; steps: \(steps)")
                }
            }
        }
    }

    @Test func replacingAFileWithAnUnchangedServiceDeliversNothing() throws {
        var builder = GraphBuilder()
        let service = Make.service("web")
        builder.replace("a.yaml", with: Make.set(services: [service]))
        builder.replace("b.yaml", with: Make.set(pods: [Make.pod("x", ip: "10.244.1.2")]))
        let first = try builder.commit()
        #expect(first.changed.map(\.id.name) == ["web"])
        builder.replace("a.yaml", with: Make.set(services: [service]))
        #expect(try builder.commit().isEmpty)
        builder.replace("b.yaml", with: Make.set(pods: [Make.pod("x", ip: "10.244.1.3")]))
        let moved = try builder.commit()
        #expect(moved.changed.first?.ports.first?.endpoints.map(\.address) == [IPAddress("10.244.1.3")!])
        builder.replace("a.yaml", with: nil)
        #expect(try builder.commit().removed == [ServiceID(namespace: "default", name: "web")])
    }

    @Test func anErrorDeliversNothingAndTheFixDeliversEverythingSince() throws {
        var builder = GraphBuilder()
        builder.replace("a.yaml", with: Make.set(services: [Make.service("a", clusterIP: "10.96.0.50")]))
        _ = try builder.commit()
        builder.replace("b.yaml", with: Make.set(services: [Make.service("b", clusterIP: "10.96.0.50", line: 10)]))
        builder.replace("c.yaml", with: Make.set(services: [Make.service("c")]))
        #expect(throws: InputError.self) { try builder.commit() }
        builder.replace("b.yaml", with: Make.set(services: [Make.service("b", clusterIP: "10.96.0.51", line: 10)]))
        let change = try builder.commit()
        #expect(change.changed.map(\.id.name) == ["b", "c"])
    }

    @Test func aServiceDefinedInTwoFilesIsAnErrorAtTheLaterOne() {
        var builder = GraphBuilder()
        builder.replace("b.yaml", with: Make.set(services: [Make.service("web")]))
        builder.replace("a.yaml", with: Make.set(services: [Make.service("web")]))
        let error = #expect(throws: InputError.self) { try builder.commit() }
        let message = error?.errors.first?.description ?? ""
        #expect(message.contains("test.yaml") && message.contains("defined twice"), "\(message)")
    }

    /// The bounds behind the agent's stated memory bound: beyond them an error and nothing
    /// delivered; back within them, everything since the last good commit delivered.
    @Test func moreServicesThanTheBoundAreAnErrorThatDeliversNothing() throws {
        var builder = GraphBuilder(options: GraphOptions(serviceCIDR: IPNetwork("10.96.0.0/12")!))
        builder.replace("a.yaml", with: Make.set(services: [Make.service("first", selector: nil)]))
        _ = try builder.commit()
        let many = (0..<InputLimits.services).map { Make.service("s\($0)", selector: nil) }
        builder.replace("many.yaml", with: Make.set(services: many))
        let error = #expect(throws: InputError.self) { try builder.commit() }
        let message = error?.description ?? ""
        #expect(message.contains("\(InputLimits.services + 1) Services") && message.contains("at most"), "\(message)")
        builder.replace("a.yaml", with: nil)
        let change = try builder.commit()
        #expect(change.changed.count == InputLimits.services)
        #expect(change.removed.map(\.name) == ["first"])
    }

    @Test func moreEndpointsThanTheBoundAreAnErrorCountedFromTheChange() throws {
        var builder = GraphBuilder(options: GraphOptions(podCIDR: IPNetwork("10.0.0.0/12")!))
        let ports = (0..<4).map { Make.port(UInt16(80 + $0), name: "p\($0)", target: .number(8080)) }
        let replicas = InputLimits.endpoints / 4 / 2 + 1
        builder.replace(
            "a.yaml",
            with: Make.set(
                services: [Make.service("web", ports: ports)], workloads: [Make.deployment("web", replicas: replicas)]))
        _ = try builder.commit()
        builder.replace(
            "b.yaml",
            with: Make.set(
                services: [Make.service("db", selector: ["app": "db"], ports: ports)],
                workloads: [Make.deployment("db", replicas: replicas, labels: ["app": "db"])]))
        let error = #expect(throws: InputError.self) { try builder.commit() }
        let message = error?.description ?? ""
        #expect(
            message.contains("\(replicas * 8) endpoints") && message.contains("at most \(InputLimits.endpoints)"),
            "\(message)")
        builder.replace("a.yaml", with: nil)
        let change = try builder.commit()
        #expect(change.changed.map(\.id.name) == ["db"] && change.removed.map(\.name) == ["web"])
    }

    @Test func replicasBeyondWhatThePodRangeHoldsAreAnErrorNotACrash() {
        let huge = Make.deployment("web", replicas: 2_147_483_647)
        let error = #expect(throws: InputError.self) {
            try ServiceGraph.build(from: Make.set(services: [Make.service("web")], workloads: [huge]))
        }
        let message = error?.errors.first?.description ?? ""
        #expect(message.contains("test.yaml:30:1") && message.contains("2147483647 replicas"), "\(message)")
    }
}

@Suite struct SlotPoolTests {
    /// Claims, releases and reservations in any order leave every claimant where a fresh pool
    /// puts it (reservations first, then the claimants in sorted order), and each operation
    /// reports exactly the claimants whose slot changed.
    @Test func theLayoutDependsOnTheClaimantsNotOnTheirHistory() async {
        await propertyCheck(count: 500, input: Gen.int(in: 0...59).array(of: 1...60)) { genes in
            var pool = SlotPool<Int>(capacity: 12) { $0 != 3 }
            var claimants: Set<Int> = []
            var reserved: [UInt64: Int] = [:]
            for gene in genes {
                let before = Dictionary(uniqueKeysWithValues: (0..<15).map { ($0, pool.slot(of: $0)) })
                let moved: Set<Int>
                switch gene / 15 {
                case 0, 1:
                    moved = pool.claim(gene % 15, name: "c\(gene % 15)")
                    claimants.insert(gene % 15)
                case 2:
                    moved = pool.release(gene % 15)
                    claimants.remove(gene % 15)
                default:
                    let slot = UInt64(gene % 12)
                    if reserved[slot, default: 0] > 0, gene % 2 == 0 {
                        moved = pool.unreserve(slot)
                        reserved[slot]! -= 1
                    } else {
                        moved = pool.reserve(slot)
                        reserved[slot, default: 0] += 1
                    }
                }
                var fresh = SlotPool<Int>(capacity: 12) { $0 != 3 }
                for (slot, count) in reserved { for _ in 0..<count { _ = fresh.reserve(slot) } }
                for claimant in claimants.sorted() { _ = fresh.claim(claimant, name: "c\(claimant)") }
                for claimant in 0..<15 {
                    #expect(pool.slot(of: claimant) == fresh.slot(of: claimant), "genes: \(genes)")
                    let changed = before[claimant]! != pool.slot(of: claimant)
                    if changed { #expect(moved.contains(claimant), "genes: \(genes)") }
                }
                let slots = claimants.compactMap { pool.slot(of: $0) }
                #expect(Set(slots).count == slots.count, "no slot is handed out twice")
                #expect(slots.allSatisfy { $0 != 3 && reserved[$0, default: 0] == 0 })
            }
        }
    }
}

/// What the API server refuses, refused here too, with the place and a fix.
@Suite struct ValidationAsTheAPIServerDoesIt {
    func errors(_ input: ManifestSet, options: GraphOptions = GraphOptions()) -> [String] {
        do {
            _ = try ServiceGraph.build(from: input, options: options)
            return []
        } catch {
            return error.errors.map(\.description)
        }
    }

    @Test func aNodePortOutsideTheRangeIsRefused() {
        let ssh = Make.service(
            "ssh", type: .nodePort, ports: [Make.port(22, target: .number(22), nodePort: 22, line: 7)])
        let found = errors(Make.set(services: [ssh]))
        #expect(found.count == 1 && found[0].contains("test.yaml:7:1") && found[0].contains("30000-32767"), "\(found)")
        #expect(errors(Make.set(services: [ssh]), options: GraphOptions(nodePortRange: 1...1024)).isEmpty)
    }

    @Test(arguments: [
        ("127.0.0.1", "loopback"), ("169.254.169.254", "metadata"), ("169.254.3.4", "link-local"),
        ("224.0.0.1", "multicast"), ("0.0.0.0", "unspecified"), ("::1", "loopback"), ("fe80::1", "link-local"),
        ("ff02::1", "multicast"), ("::", "unspecified"), ("::ffff:127.0.0.1", "loopback"),
    ])
    func specialPurposeAddressesAreRefused(_ address: String, _ kind: String) {
        let at = Make.at(5)
        var external = Make.service("ext")
        external.externalIPs = [Located(IPAddress(address)!, at: at)]
        #expect(errors(Make.set(services: [external])).contains { $0.contains("externalIPs") && $0.contains(kind) })
        var balancer = Make.service("lb", type: .loadBalancer)
        balancer.loadBalancerIngress = [Located(IPAddress(address)!, at: at)]
        #expect(errors(Make.set(services: [balancer])).contains { $0.contains("loadBalancer") && $0.contains(kind) })
        let pod = Make.pod("p", ip: address)
        #expect(
            errors(Make.set(services: [Make.service("web")], pods: [pod])).contains {
                $0.contains("pod IP") && $0.contains(kind)
            })
    }

    @Test func twoServicesOnOneExternalAddressAndPortIsAnError() {
        var a = Make.service("a")
        a.externalIPs = [Located(IPAddress("192.0.2.10")!, at: Make.at(4))]
        var b = Make.service("b", line: 20)
        b.externalIPs = [Located(IPAddress("192.0.2.10")!, at: Make.at(24))]
        let found = errors(Make.set(services: [a, b]))
        #expect(found.count == 1 && found[0].contains("test.yaml:24:1") && found[0].contains("default/a"), "\(found)")
        b.ports = [Make.port(443, target: .number(8443))]
        #expect(errors(Make.set(services: [a, b])).isEmpty, "other ports share the address")
    }

    @Test func anIPv6ClusterIPNeedsAnIPv6ServiceRangeAndMustBeInIt() {
        let v6 = Make.service("v6", clusterIP: "fd00:10:96::10")
        #expect(errors(Make.set(services: [v6])).contains { $0.contains("no IPv6 service range") })
        let dual = GraphOptions(serviceCIDRs: [IPNetwork("10.96.0.0/12")!, IPNetwork("fd00:10:96::/112")!])
        #expect(errors(Make.set(services: [v6]), options: dual).isEmpty)
        let outside = Make.service("v6", clusterIP: "fd00:99::10")
        #expect(
            errors(Make.set(services: [outside]), options: dual).contains { $0.contains("outside the service range") })
    }

    @Test func podsBeyondWhatThePodRangeCanAllocateAreOneErrorNotMinutesOfWork() {
        // A /22 gives 1,021 addresses; two Deployments of 600 need 1,200.
        let options = GraphOptions(podCIDR: IPNetwork("10.244.0.0/22")!)
        let found = errors(
            Make.set(
                services: [Make.service("web")],
                workloads: [Make.deployment("a", replicas: 600), Make.deployment("b", replicas: 600)]),
            options: options)
        #expect(found.count == 1 && found[0].contains("1200 pods") && found[0].contains("--pod-cidr"), "\(found)")
        #expect(
            errors(
                Make.set(services: [Make.service("web")], workloads: [Make.deployment("a", replicas: 600)]),
                options: options
            ).isEmpty)
    }
}

@Suite struct CompactSetTests {
    /// Any sequence of insertions and removals leaves the same elements as a `Set` given them,
    /// whether one, none or many are left.
    @Test func itHoldsWhatASetHolds() async {
        await propertyCheck(count: 500, input: Gen.int(in: 0...11).array(of: 1...40)) { genes in
            var compact: CompactSet<Int> = []
            var reference: Set<Int> = []
            for gene in genes {
                let element = gene / 2 % 4  // few elements, so that removals and repeats hit
                if gene % 2 == 0 {
                    compact.insert(element)
                    reference.insert(element)
                } else {
                    compact.remove(element)
                    reference.remove(element)
                }
                #expect(Set(compact) == reference)
                #expect(compact.count == reference.count)
                #expect(compact.isEmpty == reference.isEmpty)
                #expect((0..<4).allSatisfy { compact.contains($0) == reference.contains($0) })
            }
        }
    }
}
