import Foundation
import Manifests
import Testing

@Suite("The shared example manifests")
struct SharedDataTests {
    func seedFiles() throws -> [URL] {
        let folder = try fixturesFolder().appendingPathComponent("seed")
        let names = try FileManager.default.contentsOfDirectory(atPath: folder.path).filter { $0.hasSuffix(".yaml") }
            .sorted()
        try #require(names.count == 14, "expected the 14 seed manifests in \(folder.path), found \(names.count)")
        return names.map { folder.appendingPathComponent($0) }
    }

    @Test("every seed file, as published, is rejected for its tab indentation, at the right line")
    func seedsAsPublished() throws {
        for file in try seedFiles() {
            let text = try String(contentsOf: file, encoding: .utf8)
            let found = errors(text, file: "seed/\(file.lastPathComponent)")
            let first = try #require(found.first, "\(file.lastPathComponent) was accepted")
            #expect(found.count == 1, "\(file.lastPathComponent): \(found)")
            #expect(first.location?.file == "seed/\(file.lastPathComponent)")
            #expect(first.message == "tab character in indentation; YAML allows only spaces")
            #expect(first.fix?.contains("indent with spaces") == true)
            #expect(first.fix?.contains("expand -t 2 seed/\(file.lastPathComponent)") == true)
            // The first tab-indented line: line 4 everywhere except the Pod whose labels mix spaces and a tab.
            let expected = file.lastPathComponent.hasPrefix("02-") ? (6, 3) : (4, 1)
            #expect(first.location?.line == expected.0, "\(first)")
            #expect(first.location?.column == expected.1, "\(first)")
        }
    }

    @Test("loading the seed directory reports every file, in path order, and nothing is decoded")
    func seedDirectory() throws {
        let folder = try fixturesFolder().appendingPathComponent("seed").path
        let error = try #require(throws: InputError.self) { try ManifestLoader.load(paths: [folder]) }
        let files = error.errors.compactMap { $0.location?.file }
        #expect(files.count == 14)
        #expect(files == files.sorted())
        #expect(files.first?.hasSuffix("/01-petclinic-nodeport-service.yaml") == true)
    }

    @Test("with the tabs expanded, the typos remain: spec.seletor and apiVersion V1")
    func seedsWithTabsExpanded() throws {
        for file in try seedFiles() {
            let name = file.lastPathComponent
            let text = expandTabs(try String(contentsOf: file, encoding: .utf8))
            let found = errors(text, file: name)
            switch name {
            case "07-mysql-pod.yaml":
                let error = try #require(found.first)
                #expect(found.count == 1)
                #expect(error.message == "apiVersion \"V1\" is not valid for kind Pod")
                #expect(error.fix == "use \"v1\" (API versions are case-sensitive)")
                #expect(error.location == SourceLocation(file: name, line: 1, column: 13))
            case "08-mysql-clusterip-service.yaml":
                let error = try #require(found.first)
                #expect(found.count == 1)
                #expect(error.message == "unknown field \"spec.seletor\"")
                #expect(error.fix == "did you mean \"selector\"?")
                #expect(error.location == SourceLocation(file: name, line: 6, column: 3))
            default:
                #expect(found.isEmpty, "\(name): \(found)")
            }
        }
    }

    @Test("expanded seed Service: NodePort 31080 in front of petclinic:8080")
    func seedServiceContent() throws {
        let file = try seedFiles()[0]
        let set = try #require(decoded(expandTabs(try String(contentsOf: file, encoding: .utf8))))
        let service = try #require(set.services.first)
        #expect(service.type == .nodePort)
        #expect(service.selector == ["app": "petclinic"])
        #expect(service.ports.map(\.port) == [8080])
        #expect(service.ports.first?.targetPort == .number(8080))
        #expect(service.ports.first?.nodePort?.value == 31080)
        #expect(service.ports.first?.nodePort?.location.line == 13)
    }

    @Test("Istio's Bookinfo decodes: 4 Services, 6 Deployments, targetPort defaulting to port")
    func bookinfo() throws {
        let path = try fixturesFolder().appendingPathComponent("real/bookinfo.yaml").path
        let set = try ManifestLoader.load(paths: [path])
        #expect(set.diagnostics.isEmpty)
        #expect(set.services.map(\.meta.name) == ["details", "ratings", "reviews", "productpage"])
        #expect(set.workloads.count == 6)
        #expect(set.workloads.allSatisfy { $0.kind == .deployment && $0.replicas == 1 })
        #expect(set.pods.isEmpty && set.ingresses.isEmpty)
        for service in set.services {
            #expect(service.type == .clusterIP)
            #expect(
                service.ports == [
                    ServiceManifest.Port(
                        name: "http", transport: .tcp, port: 9080, targetPort: .number(9080), nodePort: nil,
                        location: service.ports[0].location
                    )
                ])
        }
        let reviews = set.workloads.filter { $0.selector.matchLabels["app"] == "reviews" }
        #expect(reviews.map(\.meta.name) == ["reviews-v1", "reviews-v2", "reviews-v3"])
        #expect(reviews.allSatisfy { $0.selector.matches($0.template.labels) })
        #expect(reviews.first?.template.ports == [ContainerPort(name: nil, number: 9080)])
        #expect(set.services.first?.meta.location.file == path)
    }

    @Test("Google's microservices-demo decodes: 12 Services with one LoadBalancer, 12 Deployments")
    func microservicesDemo() throws {
        let path = try fixturesFolder().appendingPathComponent("real/microservices-demo.yaml").path
        let set = try ManifestLoader.load(paths: [path])
        #expect(set.diagnostics.isEmpty)
        #expect(set.services.count == 12)
        #expect(set.workloads.count == 12)
        #expect(set.services.filter { $0.type == .loadBalancer }.map(\.meta.name) == ["frontend-external"])
        let email = try #require(set.services.first { $0.meta.name == "emailservice" })
        #expect(email.ports.first?.port == 5000)
        #expect(email.ports.first?.targetPort == .number(8080))
        let currency = try #require(set.workloads.first { $0.meta.name == "currencyservice" })
        #expect(currency.template.ports == [ContainerPort(name: "grpc", number: 7000)])
        let loadGenerator = try #require(set.workloads.first { $0.meta.name == "loadgenerator" })
        #expect(loadGenerator.template.ports.isEmpty)  // its init container is not a sidecar
        #expect(set.workloads.allSatisfy { $0.replicas == 1 })
    }
}
