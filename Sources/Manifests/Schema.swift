import Foundation

// The shape of every kind nfcompile decodes, written down the way the Kubernetes API reference lists it.
// Validation against these schemas is what `kubectl apply --validate=strict` does: unknown fields and
// values of the wrong type are errors. Subtrees nfcompile never reads (resources, probes, volumes, …)
// are `.any`, but every object that holds them is listed completely, so a misspelt key still stands out.

indirect enum Schema: Sendable {
    /// An object with known fields. `open` objects also accept fields not listed (server-written `status`).
    case object(SchemaFields, open: Bool = false)
    case array(Schema)
    /// A mapping from arbitrary string keys to values (labels, annotations, selectors).
    case map(Schema)
    case string
    /// A string restricted to these values (case-sensitive, as the API server checks them).
    case oneOf([String])
    case int
    case bool
    /// Kubernetes' IntOrString: a port number or a port name, a count or a percentage.
    case intOrString
    /// Anything at all: a subtree nfcompile does not model.
    case any
}

extension Schema {
    static let stringList = Schema.array(.string)
    static let stringMap = Schema.map(.string)
    static let transportProtocol = Schema.oneOf(["TCP", "UDP", "SCTP"])

    static let objectMeta = Schema.object([
        "name": .string, "generateName": .string, "namespace": .string,
        "labels": .stringMap, "annotations": .stringMap,
        "uid": .string, "resourceVersion": .string, "generation": .int,
        "creationTimestamp": .string, "deletionTimestamp": .string, "deletionGracePeriodSeconds": .int,
        "ownerReferences": .array(
            .object([
                "apiVersion": .string, "kind": .string, "name": .string, "uid": .string,
                "controller": .bool, "blockOwnerDeletion": .bool,
            ])),
        "finalizers": .stringList, "managedFields": .array(.any), "selfLink": .string,
    ])

    static let objectReference = Schema.object([
        "kind": .string, "namespace": .string, "name": .string, "uid": .string,
        "apiVersion": .string, "resourceVersion": .string, "fieldPath": .string,
    ])

    static let labelSelector = Schema.object([
        "matchLabels": .stringMap,
        "matchExpressions": .array(
            .object([
                "key": .string, "operator": .oneOf(["In", "NotIn", "Exists", "DoesNotExist"]), "values": .stringList,
            ])),
    ])

    /// The common top: apiVersion, kind, metadata, plus the kind's own top-level fields.
    static func topLevel(_ fields: SchemaFields) -> Schema {
        .object(fields.merging(["apiVersion": .string, "kind": .string, "metadata": objectMeta]))
    }

    // MARK: Service (core/v1)

    static let servicePort = Schema.object([
        "name": .string, "protocol": transportProtocol, "appProtocol": .string,
        "port": .int, "targetPort": .intOrString, "nodePort": .int,
    ])

    static let serviceSpec = Schema.object([
        "ports": .array(servicePort),
        "selector": .stringMap,
        "clusterIP": .string, "clusterIPs": .stringList,
        "type": .oneOf(["ClusterIP", "NodePort", "LoadBalancer", "ExternalName"]),
        "externalIPs": .stringList,
        "sessionAffinity": .oneOf(["None", "ClientIP"]),
        "sessionAffinityConfig": .object(["clientIP": .object(["timeoutSeconds": .int])]),
        "loadBalancerIP": .string, "loadBalancerSourceRanges": .stringList, "loadBalancerClass": .string,
        "allocateLoadBalancerNodePorts": .bool,
        "externalName": .string,
        "externalTrafficPolicy": .oneOf(["Cluster", "Local"]),
        "internalTrafficPolicy": .oneOf(["Cluster", "Local"]),
        "healthCheckNodePort": .int,
        "publishNotReadyAddresses": .bool,
        "ipFamilies": .array(.oneOf(["IPv4", "IPv6"])),
        "ipFamilyPolicy": .oneOf(["SingleStack", "PreferDualStack", "RequireDualStack"]),
        "trafficDistribution": .string,
    ])

    static let serviceStatus = Schema.object(
        [
            "loadBalancer": .object([
                "ingress": .array(
                    .object([
                        "ip": .string, "hostname": .string, "ipMode": .oneOf(["VIP", "Proxy"]), "ports": .array(.any),
                    ]))
            ]),
            "conditions": .array(.any),
        ], open: true)

    static let service = topLevel(["spec": serviceSpec, "status": serviceStatus])

    // MARK: Pod (core/v1)

    static let containerPort = Schema.object([
        "name": .string, "containerPort": .int, "protocol": transportProtocol, "hostPort": .int, "hostIP": .string,
    ])

    static let container = Schema.object([
        "name": .string, "image": .string, "command": .stringList, "args": .stringList, "workingDir": .string,
        "ports": .array(containerPort),
        "env": .array(.object(["name": .string, "value": .string, "valueFrom": .any])),
        "envFrom": .array(.object(["prefix": .string, "configMapRef": .any, "secretRef": .any])),
        "resources": .any, "resizePolicy": .array(.any),
        "restartPolicy": .oneOf(["Always", "OnFailure", "Never"]), "restartPolicyRules": .array(.any),
        "volumeMounts": .array(.any), "volumeDevices": .array(.any),
        "livenessProbe": .any, "readinessProbe": .any, "startupProbe": .any, "lifecycle": .any,
        "terminationMessagePath": .string, "terminationMessagePolicy": .oneOf(["File", "FallbackToLogsOnError"]),
        "imagePullPolicy": .oneOf(["Always", "Never", "IfNotPresent"]),
        "securityContext": .any,
        "stdin": .bool, "stdinOnce": .bool, "tty": .bool,
    ])

    static let podSpec = Schema.object([
        "volumes": .array(.any),
        "initContainers": .array(container), "containers": .array(container), "ephemeralContainers": .array(.any),
        "restartPolicy": .oneOf(["Always", "OnFailure", "Never"]),
        "terminationGracePeriodSeconds": .int, "activeDeadlineSeconds": .int,
        "dnsPolicy": .oneOf(["ClusterFirstWithHostNet", "ClusterFirst", "Default", "None"]),
        "nodeSelector": .stringMap,
        "serviceAccountName": .string, "serviceAccount": .string, "automountServiceAccountToken": .bool,
        "nodeName": .string,
        "hostNetwork": .bool, "hostPID": .bool, "hostIPC": .bool, "shareProcessNamespace": .bool,
        "securityContext": .any,
        "imagePullSecrets": .array(.object(["name": .string])),
        "hostname": .string, "subdomain": .string, "setHostnameAsFQDN": .bool, "hostnameOverride": .string,
        "affinity": .any, "schedulerName": .string, "tolerations": .array(.any),
        "hostAliases": .array(.object(["ip": .string, "hostnames": .stringList])),
        "priorityClassName": .string, "priority": .int, "preemptionPolicy": .oneOf(["PreemptLowerPriority", "Never"]),
        "dnsConfig": .any, "readinessGates": .array(.object(["conditionType": .string])),
        "runtimeClassName": .string, "enableServiceLinks": .bool, "overhead": .any,
        "topologySpreadConstraints": .array(.any),
        "os": .object(["name": .oneOf(["linux", "windows"])]), "hostUsers": .bool,
        "schedulingGates": .array(.object(["name": .string])),
        "resourceClaims": .array(.any), "resources": .any,
    ])

    static let podStatus = Schema.object(
        [
            "phase": .oneOf(["Pending", "Running", "Succeeded", "Failed", "Unknown"]),
            "conditions": .array(
                .object([
                    "type": .string, "status": .oneOf(["True", "False", "Unknown"]),
                    "lastProbeTime": .string, "lastTransitionTime": .string, "reason": .string, "message": .string,
                    "observedGeneration": .int,
                ])),
            "podIP": .string,
            "podIPs": .array(.object(["ip": .string])),
        ], open: true)

    static let pod = topLevel(["spec": podSpec, "status": podStatus])

    static let podTemplate = Schema.object(["metadata": objectMeta, "spec": podSpec])

    // MARK: Workloads (apps/v1)

    static let deployment = topLevel([
        "spec": .object([
            "replicas": .int, "selector": labelSelector, "template": podTemplate, "strategy": .any,
            "minReadySeconds": .int, "revisionHistoryLimit": .int, "paused": .bool, "progressDeadlineSeconds": .int,
        ]),
        "status": .any,
    ])

    static let replicaSet = topLevel([
        "spec": .object([
            "replicas": .int, "minReadySeconds": .int, "selector": labelSelector, "template": podTemplate,
        ]),
        "status": .any,
    ])

    static let statefulSet = topLevel([
        "spec": .object([
            "replicas": .int, "selector": labelSelector, "template": podTemplate,
            "volumeClaimTemplates": .array(.any), "serviceName": .string,
            "podManagementPolicy": .oneOf(["OrderedReady", "Parallel"]), "updateStrategy": .any,
            "revisionHistoryLimit": .int, "minReadySeconds": .int,
            "persistentVolumeClaimRetentionPolicy": .any, "ordinals": .object(["start": .int]),
        ]),
        "status": .any,
    ])

    // MARK: Endpoints given explicitly

    static let endpointPort = Schema.object([
        "name": .string, "port": .int, "protocol": transportProtocol, "appProtocol": .string,
    ])

    static let endpointSlice = topLevel([
        "addressType": .oneOf(["IPv4", "IPv6", "FQDN"]),
        "endpoints": .array(
            .object([
                "addresses": .stringList,
                "conditions": .object(["ready": .bool, "serving": .bool, "terminating": .bool]),
                "hostname": .string, "targetRef": objectReference, "nodeName": .string, "zone": .string,
                "hints": .any, "deprecatedTopology": .stringMap,
            ])),
        "ports": .array(endpointPort),
    ])

    static let endpointAddress = Schema.object([
        "ip": .string, "hostname": .string, "nodeName": .string, "targetRef": objectReference,
    ])

    static let endpoints = topLevel([
        "subsets": .array(
            .object([
                "addresses": .array(endpointAddress),
                "notReadyAddresses": .array(endpointAddress),
                "ports": .array(endpointPort),
            ]))
    ])

    // MARK: Ingress (networking.k8s.io/v1)

    static let ingressBackend = Schema.object([
        "service": .object(["name": .string, "port": .object(["name": .string, "number": .int])]),
        "resource": .object(["apiGroup": .string, "kind": .string, "name": .string]),
    ])

    static let ingress = topLevel([
        "spec": .object([
            "ingressClassName": .string,
            "defaultBackend": ingressBackend,
            "tls": .array(.object(["hosts": .stringList, "secretName": .string])),
            "rules": .array(
                .object([
                    "host": .string,
                    "http": .object([
                        "paths": .array(
                            .object([
                                "path": .string,
                                "pathType": .oneOf(["Exact", "Prefix", "ImplementationSpecific"]),
                                "backend": ingressBackend,
                            ]))
                    ]),
                ])),
        ]),
        "status": .any,
    ])

    /// `kind: List`, as `kubectl get … -o yaml` prints it; each item is checked against its own kind.
    static let list = Schema.object([
        "apiVersion": .string, "kind": .string, "items": .array(.any),
        "metadata": .object([
            "resourceVersion": .string, "continue": .string, "remainingItemCount": .int, "selfLink": .string,
        ]),
    ])
}

/// An object schema's fields, found from a key's bytes (no `String` made for the thousands of keys a
/// large input has): FNV-1a hashes in a small open-addressing table.
struct SchemaFields: ExpressibleByDictionaryLiteral, Sendable {
    let names: [String]
    private let schemas: [Schema]
    /// Every name's UTF-8, one after the other; name `i` is `bytes[offsets[i]..<offsets[i + 1]]`.
    private let bytes: [UInt8]
    private let offsets: [Int]
    /// Index + 1 of the name hashed to each slot, 0 for an empty slot; the count is a power of two.
    private let slots: [Int]

    init(dictionaryLiteral elements: (String, Schema)...) { self.init(elements) }

    init(_ elements: [(String, Schema)]) {
        names = elements.map(\.0)
        schemas = elements.map(\.1)
        bytes = names.flatMap(\.utf8)
        offsets = names.reduce(into: [0]) { $0.append($0.last! + $1.utf8.count) }
        var size = 4
        while size < elements.count * 2 { size *= 2 }
        var slots = [Int](repeating: 0, count: size)
        for (index, name) in names.enumerated() {
            var slot = Int(truncatingIfNeeded: Self.hash(Array(name.utf8))) & (size - 1)
            while slots[slot] != 0 { slot = (slot + 1) & (size - 1) }
            slots[slot] = index + 1
        }
        self.slots = slots
    }

    /// The fields in the order they were listed.
    var entries: [(name: String, schema: Schema)] { Array(zip(names, schemas)) }

    /// These fields and those of `other` that are not already here.
    func merging(_ other: SchemaFields) -> SchemaFields {
        let own = Set(names)
        return SchemaFields(Array(zip(names, schemas)) + zip(other.names, other.schemas).filter { !own.contains($0.0) })
    }

    /// The schema of the field whose name is `key`, nil when there is none.
    func schema(for key: UnsafeBufferPointer<UInt8>) -> Schema? {
        let mask = slots.count - 1
        var slot = Int(truncatingIfNeeded: Self.hash(key)) & mask
        while slots[slot] != 0 {
            let index = slots[slot] - 1
            let start = offsets[index]
            let length = offsets[index + 1] - start
            if length == key.count,
                bytes.withUnsafeBufferPointer({
                    key.count == 0 || memcmp($0.baseAddress! + start, key.baseAddress!, length) == 0
                })
            {
                return schemas[index]
            }
            slot = (slot + 1) & mask
        }
        return nil
    }

    private static func hash(_ key: some Sequence<UInt8>) -> UInt64 {
        key.reduce(0xcbf2_9ce4_8422_2325) { ($0 ^ UInt64($1)) &* 0x0000_0100_0000_01b3 }
    }
}
