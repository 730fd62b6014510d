import Manifests
import Testing

@Suite("Strict validation")
struct ValidationTests {
    @Test("an unknown field is reported with its full path and a did-you-mean")
    func unknownFieldWithSuggestion() throws {
        let text = service(
            """
            ports:
            - port: 80
              nodeport: 30080
            """)
        let error = try #require(errors(text).first)
        #expect(error.message == "unknown field \"spec.ports[0].nodeport\"")
        #expect(error.fix == "did you mean \"nodePort\"?")
        #expect(error.location == SourceLocation(file: "test.yaml", line: 8, column: 5))
    }

    @Test("an unknown field with nothing close points at kubectl explain")
    func unknownFieldWithoutSuggestion() throws {
        let text = service(
            """
            ports:
            - port: 80
            frobnicate: yes
            """)
        let error = try #require(errors(text).first)
        #expect(error.message == "unknown field \"spec.frobnicate\"")
        #expect(error.fix?.contains("kubectl explain service.spec") == true)
    }

    @Test("unknown fields deep in a pod template and in metadata are found")
    func unknownFieldsInTemplate() {
        let text = """
            apiVersion: apps/v1
            kind: Deployment
            metadata:
              name: web
              label:
                app: web
            spec:
              selector:
                matchLabels: {app: web}
              template:
                metadata:
                  labels: {app: web}
                spec:
                  containers:
                  - name: web
                    image: nginx
                    imagePulPolicy: Always
            """
        let found = errors(text)
        #expect(
            found.map(\.message) == [
                "unknown field \"metadata.label\"",
                "unknown field \"spec.template.spec.containers[0].imagePulPolicy\"",
            ])
        #expect(found.map(\.fix) == ["did you mean \"labels\"?", "did you mean \"imagePullPolicy\"?"])
    }

    @Test("a value of the wrong type is an error at the value, with a fix")
    func wrongTypes() {
        let text = service(
            """
            ports:
            - port: "80"
              name: 8080
            publishNotReadyAddresses: "true"
            selector:
              version: 1.0
            """)
        let found = errors(text)
        #expect(found.count == 4)
        #expect(
            found.map(\.message) == [
                "spec.ports[0].port: expected a whole number, found a string (\"80\")",
                "spec.ports[0].name: expected a string, found a whole number (8080)",
                "spec.publishNotReadyAddresses: expected a boolean, found a string (\"true\")",
                "spec.selector.version: expected a string, found a decimal number (1.0)",
            ])
        #expect(found.first?.fix == "remove the quotes: port: 80")
        #expect(found.last?.fix == "quote the value so it stays text: version: \"1.0\"")
        #expect(found.first?.location == SourceLocation(file: "test.yaml", line: 7, column: 11))
    }

    @Test("a list written as a mapping is a type error")
    func mappingInsteadOfList() throws {
        let error = try #require(errors(service("ports:\n  port: 80")).first)
        #expect(error.message == "spec.ports: expected a list, found a mapping (key: value pairs)")
        #expect(error.fix?.contains("\"- \"") == true)
    }

    @Test("an enumerated value outside its set gets a case-insensitive suggestion")
    func enumeratedValues() throws {
        let error = try #require(errors(service("type: Nodeport\nports:\n- port: 80")).first)
        #expect(error.message == "spec.type: \"Nodeport\" is not a valid value")
        #expect(error.fix == "did you mean \"NodePort\"? (values are case-sensitive)")
        let protocolError = try #require(errors(service("ports:\n- port: 80\n  protocol: HTTP")).first)
        #expect(protocolError.fix == "use one of: TCP, UDP, SCTP")
    }

    @Test("bad IP addresses and CIDR ranges are errors at the value")
    func badAddresses() {
        let text = service(
            """
            clusterIP: 10.0.0.300
            externalIPs: [192.0.2.1, not-an-ip]
            loadBalancerSourceRanges: [10.1.2.3/8, 203.0.113.0/24, 1.2.3.4/40]
            ports:
            - port: 80
            """)
        let found = errors(text)
        #expect(
            found.map(\.message) == [
                "spec.clusterIP: \"10.0.0.300\" is not a valid IP address",
                "spec.externalIPs[1]: \"not-an-ip\" is not a valid IP address",
                "spec.loadBalancerSourceRanges[0]: \"10.1.2.3/8\" has host bits set",
                "spec.loadBalancerSourceRanges[2]: \"1.2.3.4/40\" is not a valid CIDR range",
            ])
        #expect(found[2].fix == "write the network address: 10.0.0.0/8")
    }

    @Test("addresses that parse are kept with their locations; None means headless")
    func goodAddresses() throws {
        let text = service(
            """
            clusterIPs: [10.96.0.10, "fd00::10"]
            externalIPs: [192.0.2.1]
            loadBalancerSourceRanges: [203.0.113.0/24]
            ports:
            - port: 80
            """)
        let decodedService = try #require(decoded(text)?.services.first)
        #expect(decodedService.clusterIPs.map(\.value.description) == ["10.96.0.10", "fd00::10"])
        #expect(decodedService.clusterIPs.first?.location == SourceLocation(file: "test.yaml", line: 6, column: 16))
        #expect(decodedService.externalIPs.map(\.value.description) == ["192.0.2.1"])
        #expect(decodedService.loadBalancerSourceRanges.map(\.value.description) == ["203.0.113.0/24"])
        let headless = try #require(
            decoded(service(name: "db", "clusterIP: None\nselector: {app: db}"))?.services.first)
        #expect(headless.isHeadless && headless.clusterIPs.isEmpty && headless.ports.isEmpty)
    }

    @Test("ports must be within 1…65535, node ports too")
    func portRanges() {
        let text = service(
            """
            type: NodePort
            ports:
            - name: a
              port: 0
            - name: b
              port: 70000
            - name: c
              port: 80
              targetPort: 65536
              nodePort: 99999
            """)
        let found = errors(text)
        #expect(
            found.map(\.message) == [
                "spec.ports[0].port: port 0 is out of range",
                "spec.ports[1].port: port 70000 is out of range",
                "spec.ports[2].targetPort: port 65536 is out of range",
                "spec.ports[2].nodePort: port 99999 is out of range",
            ])
        #expect(found.allSatisfy { $0.fix == "use a port number from 1 to 65535" })
    }

    @Test("duplicate port names are an error at the second one, naming the first")
    func duplicatePortNames() throws {
        let text = service(
            """
            ports:
            - name: http
              port: 80
            - name: http
              port: 8080
            """)
        let error = try #require(errors(text).first)
        #expect(errors(text).count == 1)
        #expect(error.message == "spec.ports[1].name: duplicate port name \"http\" (first used at test.yaml:7:11)")
        #expect(error.location == SourceLocation(file: "test.yaml", line: 9, column: 11))
    }

    @Test("a Service with more than one port must name every port")
    func unnamedMultiPort() throws {
        let text = service(
            """
            ports:
            - name: http
              port: 80
            - port: 443
            """)
        let error = try #require(errors(text).first)
        #expect(errors(text).count == 1)
        #expect(error.message == "spec.ports[1]: a Service with more than one port must name every port")
        #expect(error.location?.line == 9)
        #expect(decoded(service("ports:\n- port: 80"))?.services.first?.ports.first?.name == nil)
    }

    @Test("port names follow the API server's rules; a quoted number is not a port name")
    func portNames() {
        let text = service(
            """
            ports:
            - name: HTTP
              port: 80
              targetPort: "8080"
            - name: https
              port: 443
              targetPort: web-https-backend
            """)
        let found = errors(text)
        #expect(
            found.map(\.message) == [
                "spec.ports[0].name: port name \"HTTP\" is not valid",
                "spec.ports[0].targetPort: \"8080\" is neither a port number nor a valid port name",
                "spec.ports[1].targetPort: \"web-https-backend\" is neither a port number nor a valid port name",
            ])
        #expect(found[1].fix == "remove the quotes to give a port number: targetPort: 8080")
    }

    @Test("targetPort: a number, a container port name, or the port itself by default")
    func targetPorts() throws {
        let text = service(
            """
            ports:
            - name: http
              port: 80
              targetPort: http-alt
            - name: metrics
              port: 9090
              protocol: UDP
            """)
        let ports = try #require(decoded(text)?.services.first?.ports)
        #expect(ports.map(\.targetPort) == [.name("http-alt"), .number(9090)])
        #expect(ports.map(\.transport) == [.tcp, .udp])
    }

    @Test("defaults: ClusterIP, TCP, Cluster policies, namespace default, no session affinity")
    func serviceDefaults() throws {
        let service = try #require(decoded(service("selector: {app: web}\nports:\n- port: 80"))?.services.first)
        #expect(service.type == .clusterIP)
        #expect(service.meta.namespace == "default")
        #expect(service.meta.location == SourceLocation(file: "test.yaml", line: 1, column: 1))
        #expect(service.externalTrafficPolicy == .cluster && service.internalTrafficPolicy == .cluster)
        #expect(service.sessionAffinityTimeout == nil)
        #expect(service.selector == ["app": "web"])
    }

    @Test("session affinity: ClientIP with the default or the written timeout")
    func sessionAffinity() throws {
        let standard = try #require(decoded(service("sessionAffinity: ClientIP\nports:\n- port: 80"))?.services.first)
        #expect(standard.sessionAffinityTimeout == 10800)
        let custom = service(
            """
            sessionAffinity: ClientIP
            sessionAffinityConfig:
              clientIP:
                timeoutSeconds: 60
            ports:
            - port: 80
            """)
        #expect(decoded(custom)?.services.first?.sessionAffinityTimeout == 60)
        let tooLong = custom.replacingOccurrences(of: "60", with: "100000")
        #expect(
            errors(tooLong).first?.message
                == "spec.sessionAffinityConfig.clientIP.timeoutSeconds: 100000 is out of range")
    }

    @Test("Service rules: nodePort needs NodePort type, ports are required, headless cannot be NodePort")
    func serviceRules() {
        #expect(
            errors(service("ports:\n- port: 80\n  nodePort: 30080")).map(\.message)
                == ["spec.ports[0].nodePort: a ClusterIP Service cannot have a nodePort"])
        #expect(errors(service("selector: {app: web}")).map(\.message) == ["Service \"web\" has no ports"])
        #expect(
            errors(service("type: NodePort\nclusterIP: None\nports:\n- port: 80")).map(\.message)
                == ["a headless Service (clusterIP: None) cannot be of type NodePort"])
        #expect(
            errors(service("type: ExternalName")).map(\.message) == ["an ExternalName Service needs spec.externalName"])
        #expect(
            decoded(service("type: ExternalName\nexternalName: db.example.com"))?.services.first?.externalName
                == "db.example.com")
    }

    @Test("apiVersion must match the kind; kind, apiVersion and metadata.name are required")
    func apiVersionAndRequiredFields() {
        let wrongGroup = "apiVersion: v1\nkind: Deployment\nmetadata: {name: web}\n"
        #expect(
            errors(wrongGroup).contains(
                .error(
                    at: SourceLocation(file: "test.yaml", line: 1, column: 13),
                    "apiVersion \"v1\" is not valid for kind Deployment", fix: "use \"apps/v1\""
                )))
        #expect(
            errors("kind: Service\nmetadata: {name: web}\nspec: {ports: [{port: 80}]}\n").map(\.message)
                == ["Service has no apiVersion"])
        #expect(errors("apiVersion: v1\nmetadata: {name: web}\n").map(\.message) == ["the object has no kind"])
        #expect(
            errors("apiVersion: v1\nkind: Service\nmetadata:\n  generateName: web-\nspec: {ports: [{port: 80}]}\n")
                .map(\.message) == ["Service has no metadata.name"])
        #expect(
            errors("apiVersion: v1\nkind: service\nmetadata: {name: web}\n").first?.fix
                == "did you mean \"Service\"? (kinds are case-sensitive)")
    }

    @Test("names and labels follow Kubernetes syntax")
    func namesAndLabels() {
        let text = """
            apiVersion: v1
            kind: Pod
            metadata:
              name: My_Pod
              namespace: Team-A
              labels:
                app: "-web"
            spec:
              containers: [{name: web, image: nginx}]
            """
        #expect(
            errors(text).map(\.message) == [
                "Pod name \"My_Pod\" is not valid",
                "namespace \"Team-A\" is not valid",
                "metadata.labels.app: label value \"-web\" is not valid",
            ])
    }

    @Test("what no proxy reads is checked, then not kept: a Service's or slice's other labels, other annotations")
    func unreadMetadataIsNotKept() throws {
        let lastApplied = String(repeating: "x", count: 4_000)
        let text = """
            apiVersion: v1
            kind: Service
            metadata:
              name: web
              labels: {app: web, service.kubernetes.io/service-proxy-name: other}
              annotations: {kubectl.kubernetes.io/last-applied-configuration: "\(lastApplied)"}
            spec:
              selector: {app: web}
              ports: [{port: 80}]
            ---
            apiVersion: discovery.k8s.io/v1
            kind: EndpointSlice
            metadata:
              name: web-1
              labels: {kubernetes.io/service-name: web, app: web, service.kubernetes.io/headless: ""}
            addressType: IPv4
            endpoints: [{addresses: [10.0.0.1]}]
            ---
            apiVersion: v1
            kind: Pod
            metadata:
              name: web-0
              labels: {app: web}
              annotations: {nfcompile.io/weight: "3", note: hello}
            spec:
              containers: [{name: web, image: nginx}]
            """
        let set = try #require(decoded(text))
        #expect(set.services.first?.meta.labels == ["service.kubernetes.io/service-proxy-name": "other"])
        #expect(set.services.first?.meta.annotations == [:])
        #expect(set.endpointSlices.first?.meta.labels == ["service.kubernetes.io/headless": ""])
        #expect(set.endpointSlices.first?.serviceName == "web")
        // A Pod's labels are what selectors match; its weight annotation is read.
        #expect(set.pods.first?.meta.labels == ["app": "web"])
        #expect(set.pods.first?.meta.annotations == ["nfcompile.io/weight": "3"])
        // Labels that are not kept are still checked.
        let invalid = text.replacingOccurrences(of: "{app: web, service", with: "{app: -web, service")
        #expect(errors(invalid).map(\.message) == ["metadata.labels.app: label value \"-web\" is not valid"])
    }

    @Test("a Deployment's selector must match its template labels")
    func deploymentSelector() throws {
        let text = """
            apiVersion: apps/v1
            kind: Deployment
            metadata: {name: web}
            spec:
              replicas: 3
              selector:
                matchLabels: {app: web, tier: front}
              template:
                metadata:
                  labels: {app: web}
                spec:
                  containers: [{name: web, image: nginx}]
            """
        let error = try #require(errors(text).first)
        #expect(error.message == "spec.selector does not match the labels of spec.template.metadata.labels")
        #expect(error.fix == "add tier: front to the template's labels, or change the selector")
        #expect(error.location?.line == 7)
        let fixed = text.replacingOccurrences(of: "labels: {app: web}", with: "labels: {app: web, tier: front}")
        let workload = try #require(decoded(fixed)?.workloads.first)
        #expect(workload.replicas == 3)
        #expect(workload.template.labels == ["app": "web", "tier": "front"])
    }

    @Test("replicas default to 1 and may not be negative; StatefulSets and ReplicaSets decode too")
    func replicas() throws {
        func workload(_ kind: String, _ replicas: String) -> String {
            """
            apiVersion: apps/v1
            kind: \(kind)
            metadata: {name: db}
            spec:
              \(replicas)
              serviceName: db
              selector: {matchExpressions: [{key: app, operator: In, values: [db]}]}
              template:
                metadata: {labels: {app: db}}
                spec:
                  containers: [{name: db, image: postgres, ports: [{name: pg, containerPort: 5432}]}]
            """.replacingOccurrences(
                of: "serviceName: db", with: kind == "StatefulSet" ? "serviceName: db" : "minReadySeconds: 0")
        }
        let set = try #require(decoded(workload("StatefulSet", "") + "\n---\n" + workload("ReplicaSet", "replicas: 0")))
        #expect(set.workloads.map(\.kind) == [.statefulSet, .replicaSet])
        #expect(set.workloads.map(\.replicas) == [1, 0])
        #expect(set.workloads.first?.template.ports == [ContainerPort(name: "pg", number: 5432)])
        #expect(errors(workload("Deployment", "replicas: -1")).map(\.message) == ["spec.replicas: -1 is negative"])
    }

    @Test("Pods: ports from containers and sidecars, status addresses, readiness and phase")
    func podStatus() throws {
        let text = """
            apiVersion: v1
            kind: Pod
            metadata: {name: web, namespace: shop, labels: {app: web}, deletionTimestamp: "2024-01-01T00:00:00Z"}
            spec:
              nodeName: node-1
              initContainers:
              - {name: proxy, image: envoy, restartPolicy: Always, ports: [{name: admin, containerPort: 9901}]}
              - {name: setup, image: busybox, ports: [{containerPort: 1234}]}
              containers:
              - name: web
                image: nginx
                ports: [{name: http, containerPort: 80}, {containerPort: 53, protocol: UDP}]
            status:
              phase: Running
              podIP: 10.244.1.5
              podIPs: [{ip: 10.244.1.5}, {ip: "fd00::5"}]
              conditions: [{type: Ready, status: "False"}]
              hostIP: 192.168.1.10
            """
        let pod = try #require(decoded(text)?.pods.first)
        #expect(pod.meta.namespace == "shop")
        #expect(pod.meta.isTerminating)
        #expect(pod.template.nodeName == "node-1")
        #expect(
            pod.template.ports == [
                ContainerPort(name: "admin", number: 9901),
                ContainerPort(name: "http", number: 80),
                ContainerPort(name: nil, number: 53, transport: .udp),
            ])
        #expect(pod.podIPs.map(\.value.description) == ["10.244.1.5", "fd00::5"])
        #expect(pod.ready == false)
        #expect(pod.phase == .running)
    }

    @Test("a Pod needs containers with names and images")
    func podContainers() {
        #expect(
            errors("apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {}\n").map(\.message)
                == ["spec.containers: a Pod needs at least one container"])
        #expect(
            errors("apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {containers: [{image: nginx}]}\n")
                .map(\.message) == ["spec.containers[0]: the container has no name"])
    }

    @Test("EndpointSlices and Endpoints decode with their addresses checked")
    func explicitEndpoints() throws {
        let text = """
            apiVersion: discovery.k8s.io/v1
            kind: EndpointSlice
            metadata:
              name: legacy-abc
              labels: {kubernetes.io/service-name: legacy}
            addressType: IPv4
            ports: [{name: http, port: 8080, protocol: TCP}]
            endpoints:
            - addresses: [10.0.0.7]
              conditions: {ready: true, serving: true, terminating: false}
              nodeName: node-2
              targetRef: {kind: Pod, name: legacy-0}
            ---
            apiVersion: v1
            kind: Endpoints
            metadata: {name: legacy}
            subsets:
            - addresses: [{ip: 10.0.0.8, nodeName: node-3}]
              notReadyAddresses: [{ip: 10.0.0.9}]
              ports: [{port: 8080}]
            """
        let set = try #require(decoded(text))
        let slice = try #require(set.endpointSlices.first)
        #expect(slice.serviceName == "legacy")
        #expect(slice.addressType == .ipv4)
        #expect(slice.ports == [EndpointSliceManifest.Port(name: "http", port: 8080, transport: .tcp)])
        #expect(slice.endpoints.first?.addresses.map(\.value.description) == ["10.0.0.7"])
        #expect(slice.endpoints.first?.ready == true && slice.endpoints.first?.targetName == "legacy-0")
        let endpoints = try #require(set.endpoints.first)
        #expect(endpoints.subsets.first?.addresses.map(\.ip.value.description) == ["10.0.0.8"])
        #expect(endpoints.subsets.first?.notReadyAddresses.count == 1)

        let wrongFamily = text.replacingOccurrences(of: "[10.0.0.7]", with: "[\"fd00::7\"]")
        #expect(errors(wrongFamily).map(\.message) == ["endpoints[0].addresses[0]: fd00::7 is not an IPv4 address"])
        let badIP = text.replacingOccurrences(of: "ip: 10.0.0.9", with: "ip: 10.0.0")
        #expect(
            errors(badIP).map(\.message) == ["subsets[0].notReadyAddresses[0].ip: \"10.0.0\" is not a valid IP address"]
        )
    }

    @Test("an Ingress is decoded into its backend Services, with a note")
    func ingressNote() throws {
        let text = """
            apiVersion: networking.k8s.io/v1
            kind: Ingress
            metadata: {name: ingress-nginx}
            spec:
              defaultBackend: {service: {name: fallback, port: {number: 80}}}
              rules:
              - host: foo.bar.com
                http:
                  paths:
                  - {path: /, pathType: Prefix, backend: {service: {name: petclinic, port: {number: 8080}}}}
                  - {path: /api, pathType: Exact, backend: {service: {name: api, port: {name: http}}}}
            """
        let set = try #require(decoded(text))
        #expect(set.ingresses.first?.backendServices.map(\.value) == ["fallback", "petclinic", "api"])
        #expect(set.ingresses.first?.backendServices[1].location.line == 10)
        #expect(
            set.diagnostics == [
                .note(
                    at: SourceLocation(file: "test.yaml", line: 1, column: 1),
                    "Ingress \"ingress-nginx\": L7 routing is an ingress controller's job; its backend Services are compiled"
                )
            ])
        let noPathType = text.replacingOccurrences(of: "pathType: Exact, ", with: "")
        #expect(errors(noPathType).map(\.message) == ["spec.rules[0].http.paths[1]: pathType is missing"])
    }

    @Test("other kinds are skipped without diagnostics, whatever their content")
    func skippedKinds() throws {
        let text = """
            apiVersion: v1
            kind: ServiceAccount
            metadata: {name: web}
            anything: goes
            ---
            apiVersion: v1
            kind: ConfigMap
            data: {key: 1}
            ---
            apiVersion: v1
            kind: Namespace
            metadata: {name: shop}
            """
        let set = try #require(decoded(text))
        #expect(set == ManifestSet())
    }

    @Test("the same object twice is an error at the second, naming the first")
    func duplicateObject() throws {
        let one = service("ports:\n- port: 80")
        let error = try #require(errors(one + "---\n" + one).first)
        #expect(error.message == "Service \"default/web\" is defined twice; the first definition is at test.yaml:1:1")
        #expect(error.location == SourceLocation(file: "test.yaml", line: 9, column: 1))
        // Another namespace, or another kind with the same name, is a different object.
        let other = one.replacingOccurrences(of: "name: web", with: "name: web\n  namespace: other")
        #expect(decoded(one + "---\n" + other)?.services.count == 2)
    }

    @Test("all errors are collected and sorted by location")
    func allErrorsSorted() throws {
        let text =
            service(
                """
                type: Nodeport
                seletor: {app: web}
                ports:
                - port: 0
                """)
            + "---\napiVersion: V1\nkind: Pod\nmetadata: {name: p}\nspec: {containers: [{name: c, image: i}]}\n"
        let error = try #require(throws: InputError.self) { try ManifestLoader.decode(text, file: "all.yaml") }
        #expect(error.errors.count == 4)
        let lines = error.errors.compactMap(\.location?.line)
        #expect(lines == lines.sorted())
        #expect(error.description.contains("all.yaml:6:9: error: spec.type: \"Nodeport\" is not a valid value"))
    }
}

@Suite("Service fields for dual stack, load balancers and topology")
struct ServiceFieldTests {
    static func service(_ spec: String, status: String = "") -> String {
        """
        apiVersion: v1
        kind: Service
        metadata:
          name: web
        spec:
          ports:
            - port: 80
        \(spec.split(separator: "\n").map { "  " + $0 }.joined(separator: "\n"))
        \(status)
        """
    }

    @Test func familiesPolicyAndLoadBalancerFieldsAreDecoded() throws {
        let text = Self.service(
            """
            type: LoadBalancer
            clusterIPs: ["10.96.0.10", "fd00:10:96::10"]
            ipFamilies: [IPv4, IPv6]
            ipFamilyPolicy: RequireDualStack
            allocateLoadBalancerNodePorts: false
            healthCheckNodePort: 30999
            trafficDistribution: PreferClose
            externalTrafficPolicy: Local
            """,
            status: """
                status:
                  loadBalancer:
                    ingress:
                      - ip: 192.0.2.10
                      - ip: 192.0.2.11
                        ipMode: Proxy
                """)
        let service = try #require(try ManifestLoader.decode(text, file: "web.yaml").services.first)
        #expect(service.ipFamilies.map(\.value) == [.ipv4, .ipv6])
        #expect(service.ipFamilyPolicy?.value == .requireDualStack)
        #expect(!service.allocateLoadBalancerNodePorts)
        #expect(service.healthCheckNodePort?.value == 30999)
        #expect(service.trafficDistribution?.value == "PreferClose")
        #expect(service.loadBalancerIngress.map(\.value.description) == ["192.0.2.10"])
        #expect(service.proxiedLoadBalancerIngress.map(\.value.description) == ["192.0.2.11"])
    }

    @Test func aClusterIPOfTheWrongFamilyIsRefusedAtItsLine() {
        let text = Self.service(
            """
            clusterIP: "fd00:10:96::10"
            ipFamilies: [IPv4]
            """)
        let found = diagnostics(text, file: "web.yaml").filter { $0.severity == .error }
        #expect(found.count == 1 && found[0].message.contains("not an IPv4 address"), "\(found)")
        #expect(found.first?.location?.line == 9)
        let twice = Self.service("ipFamilies: [IPv4, IPv4]")
        #expect(diagnostics(twice, file: "web.yaml").contains { $0.message.contains("listed twice") })
        let single = Self.service("ipFamilies: [IPv4, IPv6]\nipFamilyPolicy: SingleStack")
        #expect(diagnostics(single, file: "web.yaml").contains { $0.message.contains("SingleStack") })
    }
}
