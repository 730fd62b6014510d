import Addressing

/// Turns one object (a YAML document, a JSON value, an item of a List) into typed objects: checks
/// `apiVersion`/`kind`, validates the object against its kind's schema, then reads the fields nfcompile
/// uses and checks their values the way the API server would (addresses, port ranges, names, the Service
/// and workload rules). Every problem is collected.
struct ObjectDecoder {
    /// The API version each decoded kind must carry, and its schema.
    static let kinds: [String: (apiVersion: String, schema: Schema)] = [
        "Service": ("v1", Schema.service),
        "Pod": ("v1", Schema.pod),
        "Endpoints": ("v1", Schema.endpoints),
        "List": ("v1", Schema.list),
        "Deployment": ("apps/v1", Schema.deployment),
        "ReplicaSet": ("apps/v1", Schema.replicaSet),
        "StatefulSet": ("apps/v1", Schema.statefulSet),
        "EndpointSlice": ("discovery.k8s.io/v1", Schema.endpointSlice),
        "Ingress": ("networking.k8s.io/v1", Schema.ingress),
    ]

    let file: SourceFile
    private(set) var diagnostics: [Diagnostic] = []
    /// Objects of known kinds decoded so far; past `InputLimits.objectsPerFile` the rest is refused.
    private var objectCount = 0

    init(file: SourceFile) {
        self.file = file
    }

    // MARK: - Documents

    mutating func decode(_ root: Value, into set: inout ManifestSet) {
        guard root.kind == .mapping else {
            error(
                root, "expected a Kubernetes object (apiVersion, kind, metadata, …), found \(root.kind.article)",
                fix: "start the document with \"apiVersion:\" and \"kind:\" lines")
            return
        }
        guard let kindNode = root[field: "kind"] else {
            error(root, "the object has no kind", fix: "add a line such as \"kind: Service\"")
            return
        }
        guard let kind = kindNode.stringValue, !kind.isEmpty else {
            error(
                kindNode, "kind must be a name such as Service, found \(kindNode.kind.article)",
                fix: "write the kind as text, for example \"kind: Service\"")
            return
        }
        guard let entry = Self.kinds[kind] else {
            // Kinds nfcompile has no use for (ConfigMap, ServiceAccount, …) are skipped, but a known kind
            // spelt with the wrong case is a typo the API server would reject.
            if let known = Self.kinds.keys.first(where: { $0.lowercased() == kind.lowercased() }) {
                error(
                    kindNode, "unknown kind \"\(kind)\"", fix: "did you mean \"\(known)\"? (kinds are case-sensitive)")
            }
            return
        }
        if kind != "List" {
            objectCount += 1
            guard objectCount <= InputLimits.objectsPerFile else {
                if objectCount == InputLimits.objectsPerFile + 1 {
                    error(
                        root,
                        "the file has more than \(InputLimits.objectsPerFile) objects, the most nfcompile reads from one file",
                        fix: "split the objects over several files")
                }
                return
            }
        }
        checkAPIVersion(root, kind: kind, expected: entry.apiVersion)

        var validator = SchemaValidator(file: file, kind: kind.lowercased())
        validator.validate(root, against: entry.schema)
        diagnostics += validator.diagnostics

        switch kind {
        case "List":
            // Null items were reported by the schema.
            for item in root[field: "items"]?.items ?? [] where !item.isNull { decode(item, into: &set) }
        case "Service":
            if let service = service(root) { set.services.append(service) }
        case "Pod":
            if let pod = pod(root) { set.pods.append(pod) }
        case "Deployment", "ReplicaSet", "StatefulSet":
            if let kind = WorkloadManifest.Kind(rawValue: kind), let workload = workload(root, kind: kind) {
                set.workloads.append(workload)
            }
        case "EndpointSlice":
            if let slice = endpointSlice(root) { set.endpointSlices.append(slice) }
        case "Endpoints":
            if let endpoints = endpoints(root) { set.endpoints.append(endpoints) }
        case "Ingress":
            if let ingress = ingress(root) {
                set.ingresses.append(ingress)
                set.diagnostics.append(
                    .note(
                        at: ingress.meta.location,
                        "Ingress \"\(ingress.meta.name)\": L7 routing is an ingress controller's job; its backend Services are compiled"
                    ))
            }
        default:
            break
        }
    }

    /// Item `index` of a `kind: List` read one item at a time (the List itself is decoded without them).
    mutating func decodeListItem(_ item: Value, index: Int, into set: inout ManifestSet) {
        guard !item.isNull else {
            diagnostics.append(
                SchemaValidator.emptyListItem(
                    at: file.location(of: item), path: FieldPath.root.appending("items").appending(index)))
            return
        }
        decode(item, into: &set)
    }

    private mutating func checkAPIVersion(_ root: Value, kind: String, expected: String) {
        guard let node = root[field: "apiVersion"] else {
            error(root, "\(kind) has no apiVersion", fix: "add \"apiVersion: \(expected)\"")
            return
        }
        let written = node.scalarText ?? ""
        guard written != expected else { return }
        let caseOnly = written.lowercased() == expected.lowercased()
        error(
            node, "apiVersion \"\(written)\" is not valid for kind \(kind)",
            fix: "use \"\(expected)\"" + (caseOnly ? " (API versions are case-sensitive)" : ""))
    }

    // MARK: - Metadata

    private enum NameRule {
        case subdomain, dns1035
    }

    /// The object's metadata; nil (with an error) when it has no usable name.
    private mutating func meta(_ root: Value, kind: String, rule: NameRule = .subdomain) -> ObjectMeta? {
        let metadata = root[field: "metadata"]
        let path = FieldPath.root.appending("metadata")
        guard let nameNode = metadata?[field: "name"], let name = nameNode.stringValue, !name.isEmpty else {
            error(
                metadata ?? root, "\(kind) has no metadata.name",
                fix: "add \"name: <name>\" under metadata (generateName is not supported: nfcompile needs a fixed name)"
            )
            return nil
        }
        switch rule {
        case .subdomain where !Names.isDNSSubdomain(name):
            error(
                nameNode, "\(kind) name \"\(name)\" is not valid",
                fix: "use lowercase letters, digits, \"-\" and \".\", starting and ending with a letter or digit")
        case .dns1035 where !Names.isDNS1035Label(name):
            error(
                nameNode, "\(kind) name \"\(name)\" is not valid (Service names become DNS labels)",
                fix:
                    "use at most 63 lowercase letters, digits and \"-\", starting with a letter and ending with a letter or digit"
            )
        default:
            break
        }
        var namespace = "default"
        if let namespaceNode = metadata?[field: "namespace"], let written = namespaceNode.stringValue {
            if Names.isDNSLabel(written) {
                namespace = written
            } else {
                error(
                    namespaceNode, "namespace \"\(written)\" is not valid",
                    fix:
                        "use at most 63 lowercase letters, digits and \"-\", starting and ending with a letter or digit"
                )
            }
        }
        return ObjectMeta(
            name: name, namespace: namespace,
            labels: labels(metadata?[field: "labels"], path: path.appending("labels")),
            annotations: stringMap(metadata?[field: "annotations"], keeping: ObjectMeta.readAnnotations),
            isTerminating: metadata?[field: "deletionTimestamp"] != nil,
            location: file.location(of: root)
        )
    }

    /// A label map, each key and value checked against the label syntax.
    private mutating func labels(_ node: Value?, path: @autoclosure () -> FieldPath) -> [String: String] {
        var result: [String: String] = [:]
        for (keyNode, value) in node?.pairs ?? [] {
            guard let key = keyNode.scalarText else { continue }  // the schema reported it
            guard let text = value.stringValue else { continue }  // the schema reported it
            if !Names.isLabelKey(key) {
                error(
                    keyNode, "\(path()): label key \"\(key)\" is not valid",
                    fix:
                        "use an optional DNS prefix and \"/\", then at most 63 letters, digits, \"-\", \"_\" or \".\", starting and ending with a letter or digit"
                )
            }
            if !Names.isLabelValue(text) {
                error(
                    value, "\(path().appending(key)): label value \"\(text)\" is not valid",
                    fix:
                        "use at most 63 letters, digits, \"-\", \"_\" or \".\", starting and ending with a letter or digit"
                )
            }
            result[key] = text
        }
        return result
    }

    private func stringMap(_ node: Value?, keeping kept: Set<String>) -> [String: String] {
        var result: [String: String] = [:]
        for (keyNode, value) in node?.pairs ?? [] {
            if let key = keyNode.scalarText, kept.contains(key), let text = value.stringValue { result[key] = text }
        }
        return result
    }

    // MARK: - Service

    private mutating func service(_ root: Value) -> ServiceManifest? {
        guard let meta = meta(root, kind: "Service", rule: .dns1035)?.keepingProxyLabels() else { return nil }
        let spec = root[field: "spec"]
        let specPath = FieldPath.root.appending("spec")
        var service = ServiceManifest(meta: meta)
        service.type = spec?[field: "type"]?.stringValue.flatMap(ServiceManifest.ServiceType.init) ?? .clusterIP

        if let selector = spec?[field: "selector"] {
            let labels = labels(selector, path: specPath.appending("selector"))
            // `selector: {}` selects nothing: endpoints come from slices.
            service.selector = labels.isEmpty ? nil : labels
        }

        clusterIPs(spec, into: &service)
        service.ports = servicePorts(spec, type: service.type)
        // Only when no port is written at all: ports that are written but wrong have been reported already.
        let portsWritten = spec?[field: "ports"].map { $0.kind != .sequence || !$0.items.isEmpty } ?? false
        if !portsWritten, service.type != .externalName, !service.isHeadless {
            error(
                spec ?? root, "Service \"\(meta.name)\" has no ports",
                fix: "add spec.ports with at least one port (port: 80, targetPort: 8080 …)")
        }

        service.externalIPs = addresses(spec?[field: "externalIPs"], path: specPath.appending("externalIPs"))
        if let ip = spec?[field: "loadBalancerIP"], ip.stringValue != "" {
            service.requestedLoadBalancerIP = address(ip, path: specPath.appending("loadBalancerIP"))
        }
        for (index, node) in (spec?[field: "loadBalancerSourceRanges"]?.items ?? []).enumerated() {
            if let range = network(node, path: specPath.appending("loadBalancerSourceRanges").appending(index)) {
                service.loadBalancerSourceRanges.append(range)
            }
        }
        let external = spec?[field: "externalTrafficPolicy"]?.stringValue
        service.externalTrafficPolicy = external.flatMap(ServiceManifest.TrafficPolicy.init) ?? .cluster
        let `internal` = spec?[field: "internalTrafficPolicy"]?.stringValue
        service.internalTrafficPolicy = `internal`.flatMap(ServiceManifest.TrafficPolicy.init) ?? .cluster
        if let healthCheck = spec?[field: "healthCheckNodePort"],
            let port = portNumber(healthCheck, path: specPath.appending("healthCheckNodePort"))
        {
            service.healthCheckNodePort = Located(port, at: file.location(of: healthCheck))
        }
        if let distribution = spec?[field: "trafficDistribution"], let text = distribution.stringValue {
            service.trafficDistribution = Located(text, at: file.location(of: distribution))
        }
        if let allocate = spec?[field: "allocateLoadBalancerNodePorts"]?.booleanValue {
            service.allocateLoadBalancerNodePorts = allocate
        }
        ipFamilies(spec, into: &service)

        if spec?[field: "sessionAffinity"]?.stringValue == "ClientIP" {
            let timeoutNode = spec?[field: "sessionAffinityConfig"]?[field: "clientIP"]?[field: "timeoutSeconds"]
            let timeout = timeoutNode?.integerValue ?? 10800
            if let timeoutNode, !(1...86400).contains(timeout) {
                error(
                    timeoutNode, "spec.sessionAffinityConfig.clientIP.timeoutSeconds: \(timeout) is out of range",
                    fix: "use 1 to 86400 seconds (the default is 10800)")
            }
            service.sessionAffinityTimeout = timeout
        }

        if service.type == .externalName {
            let nameNode = spec?[field: "externalName"]
            if let name = nameNode?.stringValue, !name.isEmpty {
                service.externalName = name
            } else {
                error(
                    nameNode ?? spec ?? root, "an ExternalName Service needs spec.externalName",
                    fix: "add \"externalName: <DNS name>\" under spec, or change spec.type")
            }
        }
        service.publishNotReadyAddresses = spec?[field: "publishNotReadyAddresses"]?.booleanValue ?? false

        for (index, entry) in (root[field: "status"]?[field: "loadBalancer"]?[field: "ingress"]?.items ?? [])
            .enumerated()
        {
            if let ip = entry[field: "ip"],
                let parsed = address(
                    ip,
                    path: .root.appending("status").appending("loadBalancer").appending("ingress").appending(index)
                        .appending("ip"))
            {
                if entry[field: "ipMode"]?.stringValue == "Proxy" {
                    service.proxiedLoadBalancerIngress.append(parsed)
                } else {
                    service.loadBalancerIngress.append(parsed)
                }
            }
        }
        return service
    }

    /// `ipFamilies` and `ipFamilyPolicy`, checked against each other and against the ClusterIPs
    /// (as the API server does): no family twice, one family for SingleStack, the ClusterIPs'
    /// families in the same order.
    private mutating func ipFamilies(_ spec: Value?, into service: inout ServiceManifest) {
        let path = FieldPath.root.appending("spec").appending("ipFamilies")
        if let policy = spec?[field: "ipFamilyPolicy"], let text = policy.stringValue,
            let value = ServiceManifest.IPFamilyPolicy(rawValue: text)
        {
            service.ipFamilyPolicy = Located(value, at: file.location(of: policy))
        }
        guard let list = spec?[field: "ipFamilies"] else { return }
        for node in list.items {
            guard let text = node.stringValue else { continue }
            service.ipFamilies.append(Located(text == "IPv6" ? .ipv6 : .ipv4, at: file.location(of: node)))
        }
        let families = service.ipFamilies.map(\.value)
        if Set(families).count < families.count {
            error(list, "\(path): a family is listed twice", fix: "list each of IPv4 and IPv6 at most once")
        } else if families.count > 1, service.ipFamilyPolicy?.value ?? .singleStack == .singleStack {
            error(
                list, "\(path): two families for a SingleStack Service",
                fix: "set ipFamilyPolicy: PreferDualStack or RequireDualStack, or list one family")
        }
        for (address, family) in zip(service.clusterIPs, service.ipFamilies) where address.value.family != family.value
        {
            let name = family.value == .ipv4 ? "IPv4" : "IPv6"
            error(
                list, "clusterIP \(address.value) is not an \(name) address, but ipFamilies lists \(name) in its place",
                fix: "list the families in the order of clusterIPs, or fix the address")
        }
    }

    /// `clusterIP` / `clusterIPs`: "None" (headless), "" (allocate), or at most one address per family.
    private mutating func clusterIPs(_ spec: Value?, into service: inout ServiceManifest) {
        let specPath = FieldPath.root.appending("spec")
        let single = spec?[field: "clusterIP"]
        let list = spec?[field: "clusterIPs"]
        let singleText = single?.stringValue
        let listTexts = list?.items.compactMap(\.stringValue) ?? []

        service.isHeadless = singleText == "None" || listTexts.first == "None"
        if service.isHeadless {
            if listTexts.count > 1, let list {
                error(
                    list, "spec.clusterIPs: \"None\" must be the only entry of a headless Service",
                    fix: "write clusterIPs: [\"None\"], or leave clusterIPs out")
            }
            if service.type == .nodePort || service.type == .loadBalancer {
                if let node = single ?? list {
                    error(
                        node, "a headless Service (clusterIP: None) cannot be of type \(service.type.rawValue)",
                        fix: "remove \"clusterIP: None\", or use type: ClusterIP")
                }
            }
            return
        }
        if let singleText, !listTexts.isEmpty, listTexts.first != singleText, let list {
            error(
                list, "spec.clusterIPs must start with spec.clusterIP (\"\(singleText)\")",
                fix: "make \"\(singleText)\" the first entry of clusterIPs, or leave one of the two fields out")
        }
        if list != nil {
            service.clusterIPs = addresses(list, path: specPath.appending("clusterIPs"))
        } else if let single, singleText != "" {
            service.clusterIPs = address(single, path: specPath.appending("clusterIP")).map { [$0] } ?? []
        }
        if service.clusterIPs.count > 2 || Set(service.clusterIPs.map(\.value.family)).count < service.clusterIPs.count,
            let list
        {
            error(
                list, "spec.clusterIPs: at most one IPv4 and one IPv6 address",
                fix: "keep one address per IP family")
        }
    }

    private mutating func servicePorts(_ spec: Value?, type: ServiceManifest.ServiceType) -> [ServiceManifest.Port] {
        let portsPath = FieldPath.root.appending("spec").appending("ports")
        let items = spec?[field: "ports"]?.items ?? []
        var ports: [ServiceManifest.Port] = []
        var names: [String: SourceLocation] = [:]
        var numbers: [String: SourceLocation] = [:]
        var nodePorts: [String: SourceLocation] = [:]

        for (index, item) in items.enumerated() where !item.isNull {
            let path = portsPath.appending(index)
            let location = file.location(of: item)
            let transport = transport(item)

            var name: String?
            if let nameNode = item[field: "name"], let text = nameNode.stringValue, !text.isEmpty {
                name = text
                if !Names.isDNSLabel(text) {
                    error(
                        nameNode, "\(path).name: port name \"\(text)\" is not valid",
                        fix:
                            "use at most 63 lowercase letters, digits and \"-\", starting and ending with a letter or digit"
                    )
                }
                if let first = names[text] {
                    error(
                        nameNode, "\(path).name: duplicate port name \"\(text)\" (first used at \(first))",
                        fix: "give each port of the Service its own name")
                } else {
                    names[text] = file.location(of: nameNode)
                }
            } else if items.count > 1 {
                error(
                    item, "\(path): a Service with more than one port must name every port",
                    fix: "add a name to this port, for example \"name: http\"")
            }

            guard let portNode = item[field: "port"] else {
                error(item, "\(path): the port number is missing", fix: "add \"port: <1-65535>\"")
                continue
            }
            guard let port = portNumber(portNode, path: path.appending("port")) else { continue }
            let key = "\(port)/\(transport.rawValue)"
            if let first = numbers[key] {
                error(
                    portNode, "\(path): port \(port)/\(transport.rawValue) is already defined at \(first)",
                    fix: "remove one of the two, or use a different port number or protocol")
            } else {
                numbers[key] = file.location(of: portNode)
            }

            var targetPort = PortReference.number(port)
            if let targetNode = item[field: "targetPort"] {
                targetPort = self.targetPort(targetNode, path: path.appending("targetPort")) ?? targetPort
            }

            var nodePort: Located<UInt16>?
            if let nodeNode = item[field: "nodePort"],
                let number = portNumber(nodeNode, path: path.appending("nodePort"))
            {
                if type == .clusterIP || type == .externalName {
                    error(
                        nodeNode, "\(path).nodePort: a \(type.rawValue) Service cannot have a nodePort",
                        fix: "set spec.type: NodePort (or LoadBalancer), or remove nodePort")
                }
                let nodeKey = "\(number)/\(transport.rawValue)"
                if let first = nodePorts[nodeKey] {
                    error(
                        nodeNode, "\(path).nodePort: node port \(number) is already used at \(first)",
                        fix: "give each port its own nodePort, or leave nodePort out to have one allocated")
                }
                nodePorts[nodeKey] = file.location(of: nodeNode)
                nodePort = Located(number, at: file.location(of: nodeNode))
            }
            ports.append(
                ServiceManifest.Port(
                    name: name, transport: transport, port: port, targetPort: targetPort, nodePort: nodePort,
                    location: location
                ))
        }
        return ports
    }

    /// A targetPort: a number, or the name of a container port (IANA_SVC_NAME).
    private mutating func targetPort(_ node: Value, path: @autoclosure () -> FieldPath) -> PortReference? {
        if node.kind == .integer {
            return portNumber(node, path: path()).map(PortReference.number)
        }
        guard let text = node.stringValue else { return nil }
        if Names.isPortName(text) { return .name(text) }
        let fix =
            Int(text) != nil
            ? "remove the quotes to give a port number: targetPort: \(text)"
            : "name a container port (at most 15 lowercase letters, digits and \"-\", with at least one letter), or give a number"
        error(node, "\(path()): \"\(text)\" is neither a port number nor a valid port name", fix: fix)
        return nil
    }

    private func transport(_ node: Value) -> TransportProtocol {
        node[field: "protocol"]?.stringValue.flatMap(TransportProtocol.init) ?? .tcp
    }

    // MARK: - Pods and workloads

    private mutating func pod(_ root: Value) -> PodManifest? {
        guard let meta = meta(root, kind: "Pod") else { return nil }
        let template = podTemplate(
            root[field: "spec"], owner: root, path: FieldPath.root.appending("spec"), labels: meta.labels)
        var pod = PodManifest(meta: meta, template: template)

        let status = root[field: "status"]
        let statusPath = FieldPath.root.appending("status")
        let single = status?[field: "podIP"]
        if let list = status?[field: "podIPs"] {
            for (index, entry) in list.items.enumerated() {
                if let ip = entry[field: "ip"],
                    let parsed = address(ip, path: statusPath.appending("podIPs").appending(index).appending("ip"))
                {
                    pod.podIPs.append(parsed)
                }
            }
            if let single, let first = pod.podIPs.first, single.stringValue.flatMap(parseIP) != first.value {
                error(
                    single, "status.podIP must be the first of status.podIPs (\(first.value))",
                    fix: "make podIP and the first podIPs entry the same address")
            }
        } else if let single, let parsed = address(single, path: statusPath.appending("podIP")) {
            pod.podIPs = [parsed]
        }
        pod.phase = status?[field: "phase"]?.stringValue.flatMap(PodManifest.Phase.init)
        for condition in status?[field: "conditions"]?.items ?? []
        where condition[field: "type"]?.stringValue == "Ready" {
            pod.ready = condition[field: "status"]?.stringValue.map { $0 == "True" }
        }
        return pod
    }

    /// A pod spec: containers (at least one), their names and ports.
    private mutating func podTemplate(_ spec: Value?, owner: Value, path: FieldPath, labels: [String: String])
        -> PodTemplate
    {
        let containers = spec?[field: "containers"]?.items.filter { !$0.isNull } ?? []
        if containers.isEmpty {
            error(
                spec ?? owner, "\(path).containers: a Pod needs at least one container",
                fix: "add containers with a name and an image under \(path)")
        }
        let initContainers = spec?[field: "initContainers"]?.items.filter { !$0.isNull } ?? []
        var containerNames: [String: SourceLocation] = [:]
        var portNames: [String: SourceLocation] = [:]
        var ports: [ContainerPort] = []

        let all =
            initContainers.enumerated().map { ("initContainers", $0, $1) }
            + containers.enumerated().map { ("containers", $0, $1) }
        for (field, index, container) in all {
            let containerPath = path.appending(field).appending(index)
            if let nameNode = container[field: "name"], let name = nameNode.stringValue {
                if !Names.isDNSLabel(name) {
                    error(
                        nameNode, "\(containerPath).name: container name \"\(name)\" is not valid",
                        fix:
                            "use at most 63 lowercase letters, digits and \"-\", starting and ending with a letter or digit"
                    )
                } else if let first = containerNames[name] {
                    error(
                        nameNode,
                        "\(containerPath).name: duplicate container name \"\(name)\" (first used at \(first))",
                        fix: "give each container of the Pod its own name")
                }
                containerNames[name] = containerNames[name] ?? file.location(of: nameNode)
            } else {
                error(
                    container, "\(containerPath): the container has no name",
                    fix: "add \"name: <name>\" to the container")
            }
            if container[field: "image"]?.stringValue?.isEmpty ?? true {
                error(
                    container, "\(containerPath): the container has no image",
                    fix: "add \"image: <image reference>\" to the container")
            }

            // Init containers only serve traffic when they are sidecars (restartPolicy: Always).
            let serves = field == "containers" || container[field: "restartPolicy"]?.stringValue == "Always"
            for (portIndex, portNode) in (container[field: "ports"]?.items ?? []).enumerated() where !portNode.isNull {
                let portPath = containerPath.appending("ports").appending(portIndex)
                if let hostPort = portNode[field: "hostPort"] {
                    _ = portNumber(hostPort, path: portPath.appending("hostPort"))
                }
                var name: String?
                if let nameNode = portNode[field: "name"], let text = nameNode.stringValue, !text.isEmpty {
                    name = text
                    if !Names.isPortName(text) {
                        error(
                            nameNode, "\(portPath).name: port name \"\(text)\" is not valid",
                            fix: "use at most 15 lowercase letters, digits and \"-\", with at least one letter")
                    } else if let first = portNames[text] {
                        error(
                            nameNode,
                            "\(portPath).name: duplicate port name \"\(text)\" in the Pod (first used at \(first))",
                            fix: "give each container port of the Pod its own name")
                    }
                    portNames[text] = portNames[text] ?? file.location(of: nameNode)
                }
                guard let numberNode = portNode[field: "containerPort"] else {
                    error(portNode, "\(portPath): containerPort is missing", fix: "add \"containerPort: <1-65535>\"")
                    continue
                }
                if let number = portNumber(numberNode, path: portPath.appending("containerPort")), serves {
                    ports.append(ContainerPort(name: name, number: number, transport: transport(portNode)))
                }
            }
        }
        let nodeName = SharedNames.shared(spec?[field: "nodeName"]?.stringValue)
        return PodTemplate(labels: labels, ports: ports, nodeName: nodeName)
    }

    private mutating func workload(_ root: Value, kind: WorkloadManifest.Kind) -> WorkloadManifest? {
        guard let meta = meta(root, kind: kind.rawValue) else { return nil }
        guard let spec = root[field: "spec"] else {
            error(root, "\(kind.rawValue) \"\(meta.name)\" has no spec", fix: "add spec with selector and template")
            return nil
        }
        let specPath = FieldPath.root.appending("spec")

        var replicas = 1
        if let node = spec[field: "replicas"], let value = node.integerValue {
            if value < 0 {
                error(node, "spec.replicas: \(value) is negative", fix: "use 0 or more replicas")
            } else {
                replicas = value
            }
        }

        let selectorNode = spec[field: "selector"]
        let selector = labelSelector(selectorNode, path: specPath.appending("selector"))
        let template = spec[field: "template"]
        let templateMetadata = template?[field: "metadata"]
        let templatePath = specPath.appending("template")
        let templateLabels = labels(
            templateMetadata?[field: "labels"], path: templatePath.appending("metadata").appending("labels"))
        let podTemplate = podTemplate(
            template?[field: "spec"], owner: template ?? spec, path: templatePath.appending("spec"),
            labels: templateLabels)

        if let selectorNode, selector.matchLabels.isEmpty, selector.matchExpressions.isEmpty {
            error(
                selectorNode, "spec.selector is empty; a \(kind.rawValue) must select its Pods",
                fix: "add matchLabels with the labels of spec.template.metadata.labels")
        } else if selectorNode == nil {
            error(
                spec, "\(kind.rawValue) \"\(meta.name)\" has no spec.selector",
                fix: "add spec.selector.matchLabels with the labels of spec.template.metadata.labels")
        } else if let selectorNode, !selector.matches(templateLabels) {
            let missing = selector.matchLabels.filter { templateLabels[$0.key] != $0.value }
                .sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }
            error(
                selectorNode, "spec.selector does not match the labels of spec.template.metadata.labels",
                fix: missing.isEmpty
                    ? "make the selector's matchExpressions accept the template's labels"
                    : "add \(missing.joined(separator: ", ")) to the template's labels, or change the selector")
        }
        return WorkloadManifest(kind: kind, meta: meta, replicas: replicas, selector: selector, template: podTemplate)
    }

    private mutating func labelSelector(_ node: Value?, path: FieldPath) -> LabelSelector {
        var selector = LabelSelector(
            matchLabels: labels(node?[field: "matchLabels"], path: path.appending("matchLabels")))
        for (index, item) in (node?[field: "matchExpressions"]?.items ?? []).enumerated() where !item.isNull {
            let itemPath = path.appending("matchExpressions").appending(index)
            guard let key = item[field: "key"]?.stringValue, !key.isEmpty else {
                error(item, "\(itemPath): the requirement has no key", fix: "add \"key: <label key>\"")
                continue
            }
            guard let op = item[field: "operator"]?.stringValue.flatMap(LabelSelector.Requirement.Operator.init) else {
                if item[field: "operator"] == nil {
                    error(
                        item, "\(itemPath): the requirement has no operator",
                        fix: "add \"operator:\" In, NotIn, Exists or DoesNotExist")
                }
                continue
            }
            let values = item[field: "values"]?.items.compactMap(\.stringValue) ?? []
            let needsValues = op == .in || op == .notIn
            if needsValues, values.isEmpty {
                error(item, "\(itemPath): operator \(op.rawValue) needs at least one value", fix: "add values: [ … ]")
            } else if !needsValues, !values.isEmpty {
                error(item, "\(itemPath): operator \(op.rawValue) takes no values", fix: "remove values")
            }
            selector.matchExpressions.append(.init(key: key, operator: op, values: values))
        }
        return selector
    }

    // MARK: - Endpoints given explicitly

    private mutating func endpointSlice(_ root: Value) -> EndpointSliceManifest? {
        guard let fullMeta = meta(root, kind: "EndpointSlice") else { return nil }
        let meta = fullMeta.keepingProxyLabels()
        guard let typeNode = root[field: "addressType"], let text = typeNode.stringValue,
            let addressType = EndpointSliceManifest.AddressType(rawValue: text)
        else {
            if root[field: "addressType"] == nil {
                error(
                    root, "EndpointSlice \"\(meta.name)\" has no addressType",
                    fix: "add \"addressType: IPv4\" (or IPv6, FQDN)")
            }
            return nil
        }
        let items = root[field: "endpoints"]?.items ?? []
        var endpoints: [EndpointSliceManifest.Endpoint] = []
        // Exactly: grown by appending, 10 endpoints took room for 16, and the agent keeps every slice.
        endpoints.reserveCapacity(items.count)
        for (index, item) in items.enumerated() where !item.isNull {
            // Paths are spelt out only for a message: this loop runs for every endpoint of the cluster.
            func path() -> FieldPath { FieldPath.root.appending("endpoints").appending(index) }
            let addressNodes = item[field: "addresses"]?.items ?? []
            if addressNodes.isEmpty {
                error(item, "\(path()): the endpoint has no addresses", fix: "add addresses: [\"10.0.0.1\"]")
            }
            var addresses: [Located<IPAddress>] = []
            addresses.reserveCapacity(addressNodes.count)
            if addressType != .fqdn {
                for (addressIndex, node) in addressNodes.enumerated() {
                    guard let parsed = address(node, path: path().appending("addresses").appending(addressIndex)) else {
                        continue
                    }
                    if (parsed.value.family == .ipv4) != (addressType == .ipv4) {
                        error(
                            node,
                            "\(path().appending("addresses").appending(addressIndex)): \(parsed.value) is not an \(addressType.rawValue) address",
                            fix:
                                "list only \(addressType.rawValue) addresses in an \(addressType.rawValue) EndpointSlice"
                        )
                    } else {
                        addresses.append(parsed)
                    }
                }
            }
            let conditions = item[field: "conditions"]
            endpoints.append(
                EndpointSliceManifest.Endpoint(
                    addresses: addresses,
                    ready: conditions?[field: "ready"]?.booleanValue,
                    serving: conditions?[field: "serving"]?.booleanValue,
                    terminating: conditions?[field: "terminating"]?.booleanValue,
                    nodeName: SharedNames.shared(item[field: "nodeName"]?.stringValue),
                    zone: SharedNames.shared(item[field: "zone"]?.stringValue),
                    targetName: item[field: "targetRef"]?[field: "name"]?.stringValue,
                    zoneHints: item[field: "hints"]?[field: "forZones"]?.items.compactMap {
                        $0[field: "name"]?.stringValue
                    },
                    nodeHints: item[field: "hints"]?[field: "forNodes"]?.items.compactMap {
                        $0[field: "name"]?.stringValue
                    }
                ))
        }
        return EndpointSliceManifest(
            meta: meta, serviceName: fullMeta.labels[EndpointSliceManifest.serviceNameLabel], addressType: addressType,
            ports: endpointPorts(root[field: "ports"], path: FieldPath.root.appending("ports"), numberRequired: false),
            endpoints: endpoints
        )
    }

    private mutating func endpoints(_ root: Value) -> EndpointsManifest? {
        guard let meta = meta(root, kind: "Endpoints") else { return nil }
        var subsets: [EndpointsManifest.Subset] = []
        for (index, subset) in (root[field: "subsets"]?.items ?? []).enumerated() where !subset.isNull {
            let path = FieldPath.root.appending("subsets").appending(index)
            subsets.append(
                EndpointsManifest.Subset(
                    addresses: endpointAddresses(subset[field: "addresses"], path: path.appending("addresses")),
                    notReadyAddresses: endpointAddresses(
                        subset[field: "notReadyAddresses"], path: path.appending("notReadyAddresses")),
                    ports: endpointPorts(subset[field: "ports"], path: path.appending("ports"), numberRequired: true)
                ))
        }
        return EndpointsManifest(meta: meta, subsets: subsets)
    }

    private mutating func endpointAddresses(_ node: Value?, path: FieldPath) -> [EndpointsManifest.Address] {
        var result: [EndpointsManifest.Address] = []
        for (index, item) in (node?.items ?? []).enumerated() where !item.isNull {
            guard let ipNode = item[field: "ip"] else {
                error(item, "\(path.appending(index)): the address has no ip", fix: "add \"ip: <address>\"")
                continue
            }
            if let ip = address(ipNode, path: path.appending(index).appending("ip")) {
                result.append(
                    EndpointsManifest.Address(
                        ip: ip, nodeName: SharedNames.shared(item[field: "nodeName"]?.stringValue),
                        targetName: item[field: "targetRef"]?[field: "name"]?.stringValue
                    ))
            }
        }
        return result
    }

    private mutating func endpointPorts(_ node: Value?, path: FieldPath, numberRequired: Bool) -> [EndpointSliceManifest
        .Port]
    {
        var result: [EndpointSliceManifest.Port] = []
        for (index, item) in (node?.items ?? []).enumerated() where !item.isNull {
            var number: UInt16?
            if let portNode = item[field: "port"] {
                guard let parsed = portNumber(portNode, path: path.appending(index).appending("port")) else { continue }
                number = parsed
            } else if numberRequired {
                error(item, "\(path.appending(index)): the port number is missing", fix: "add \"port: <1-65535>\"")
                continue
            }
            let name = item[field: "name"]?.stringValue
            result.append(
                EndpointSliceManifest.Port(
                    name: name?.isEmpty == true ? nil : name, port: number, transport: transport(item)))
        }
        return result
    }

    // MARK: - Ingress

    private mutating func ingress(_ root: Value) -> IngressManifest? {
        guard let meta = meta(root, kind: "Ingress") else { return nil }
        let spec = root[field: "spec"]
        let specPath = FieldPath.root.appending("spec")
        var backends: [Located<String>] = []
        if let backend = spec?[field: "defaultBackend"] {
            backends += ingressBackend(backend, path: specPath.appending("defaultBackend"))
        }
        for (ruleIndex, rule) in (spec?[field: "rules"]?.items ?? []).enumerated() {
            let rulePath = specPath.appending("rules").appending(ruleIndex).appending("http").appending("paths")
            for (index, path) in (rule[field: "http"]?[field: "paths"]?.items ?? []).enumerated() where !path.isNull {
                if path[field: "pathType"] == nil {
                    error(
                        path, "\(rulePath.appending(index)): pathType is missing",
                        fix: "add \"pathType: Prefix\" (or Exact, ImplementationSpecific)")
                }
                guard let backend = path[field: "backend"] else {
                    error(
                        path, "\(rulePath.appending(index)): the path has no backend",
                        fix: "add backend.service with a name and a port")
                    continue
                }
                backends += ingressBackend(backend, path: rulePath.appending(index).appending("backend"))
            }
        }
        return IngressManifest(meta: meta, backendServices: backends)
    }

    private mutating func ingressBackend(_ backend: Value, path: FieldPath) -> [Located<String>] {
        guard let service = backend[field: "service"] else {
            if backend[field: "resource"] == nil {
                error(
                    backend, "\(path): the backend names neither a service nor a resource",
                    fix: "add service: with name and port")
            }
            return []
        }
        let port = service[field: "port"]
        let hasName = port?[field: "name"] != nil
        let number = port?[field: "number"]
        if hasName == (number != nil) {
            error(
                port ?? service, "\(path).service.port: give exactly one of name and number",
                fix: "write port: {number: 80} or port: {name: http}")
        }
        if let number { _ = portNumber(number, path: path.appending("service").appending("port").appending("number")) }
        guard let nameNode = service[field: "name"], let name = nameNode.stringValue, !name.isEmpty else {
            error(service, "\(path).service: the backend service has no name", fix: "add \"name: <Service name>\"")
            return []
        }
        return [Located(name, at: file.location(of: nameNode))]
    }

    // MARK: - Values

    /// A port number 1…65535 (the schema has already checked it is an integer).
    private mutating func portNumber(_ node: Value, path: @autoclosure () -> FieldPath) -> UInt16? {
        guard let value = node.integerValue else { return nil }
        guard (1...65535).contains(value) else {
            error(node, "\(path()): port \(value) is out of range", fix: "use a port number from 1 to 65535")
            return nil
        }
        return UInt16(value)
    }

    private func parseIP(_ text: String) -> IPAddress? {
        text.utf8.contains(0) ? nil : IPAddress(text)
    }

    private mutating func address(_ node: Value, path: @autoclosure () -> FieldPath) -> Located<IPAddress>? {
        guard let text = node.stringValue else { return nil }
        guard let ip = parseIP(text) else {
            error(
                node, "\(path()): \"\(text)\" is not a valid IP address",
                fix: text.contains("/")
                    ? "write a single address without a prefix length"
                    : "write an IPv4 address such as 10.0.0.10 or an IPv6 address such as fd00::10")
            return nil
        }
        return Located(ip, at: file.location(of: node))
    }

    private mutating func addresses(_ node: Value?, path: @autoclosure () -> FieldPath) -> [Located<IPAddress>] {
        (node?.items ?? []).enumerated().compactMap { index, item in address(item, path: path().appending(index)) }
    }

    private mutating func network(_ node: Value, path: @autoclosure () -> FieldPath) -> Located<IPNetwork>? {
        guard let text = node.stringValue else { return nil }
        if !text.utf8.contains(0), let network = IPNetwork(text) {
            return Located(network, at: file.location(of: node))
        }
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        if parts.count == 2, let ip = parseIP(String(parts[0])), let length = Int(parts[1]),
            let network = IPNetwork(address: ip, prefixLength: length)
        {
            error(node, "\(path()): \"\(text)\" has host bits set", fix: "write the network address: \(network)")
        } else {
            error(
                node, "\(path()): \"\(text)\" is not a valid CIDR range",
                fix: "write an address and a prefix length, such as 203.0.113.0/24")
        }
        return nil
    }

    private mutating func error(_ node: Value, _ message: String, fix: String? = nil) {
        diagnostics.append(.error(at: file.location(of: node), message, fix: fix))
    }
}
