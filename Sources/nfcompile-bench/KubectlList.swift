/// The synthetic cluster as `kubectl get svc,endpointslices -A -o json` prints it: a `kind: List` of
/// the Services, then their EndpointSlices, with the fields a real API server fills in (uid,
/// resourceVersion, creationTimestamp, ownerReferences, status), indented by four. managedFields
/// are left out, as kubectl leaves them out unless asked (`--show-managed-fields`, since 1.21);
/// the decoder's tests cover them.
/// Addresses and names are `SyntheticCluster`'s, so the List compiles to the same ruleset.
enum KubectlList {
    static let namespace = "bench"
    /// Print managedFields, as `kubectl get --show-managed-fields` does.
    static let withManagedFields = false

    static func json(services: Int, endpoints: Int) -> String {
        let json = PrettyJSON()
        json.object {
            json.field("apiVersion", "v1")
            json.array("items") {
                for index in 0..<services { service(index, into: json) }
                for index in 0..<services { endpointSlice(index, endpoints: endpoints, into: json) }
            }
            json.field("kind", "List")
            json.object("metadata") { json.field("resourceVersion", "") }
        }
        return json.text + "\n"
    }

    /// Services picking Pods by label, `podsPerService` Pods each with its own address (as `kubectl
    /// get svc,pods -o json` prints a cluster without EndpointSlices, the tutorial's way): the input
    /// of the pod bound in the README's "Limits".
    static func podsJSON(services: Int, podsPerService: Int) -> String {
        let json = PrettyJSON()
        json.object {
            json.field("apiVersion", "v1")
            json.array("items") {
                for index in 0..<services {
                    json.object {
                        json.field("apiVersion", "v1")
                        json.field("kind", "Service")
                        json.object("metadata") {
                            json.field("name", "svc-\(index)")
                            json.field("namespace", namespace)
                        }
                        json.object("spec") {
                            json.field("clusterIP", SyntheticCluster.clusterIP(index).description)
                            json.array("ports") {
                                json.object {
                                    json.field("port", 80)
                                    json.field("protocol", "TCP")
                                    json.field("targetPort", 8080)
                                }
                            }
                            json.object("selector") { json.field("app", "svc-\(index)") }
                        }
                    }
                    for pod in 0..<podsPerService {
                        self.pod(service: index, pod: pod, number: index * podsPerService + pod, into: json)
                    }
                }
            }
            json.field("kind", "List")
        }
        return json.text + "\n"
    }

    private static func pod(service: Int, pod: Int, number: Int, into json: PrettyJSON) {
        let address = "10.\(64 + number >> 16).\((number >> 8) & 255).\(number & 255)"
        json.object {
            json.field("apiVersion", "v1")
            json.field("kind", "Pod")
            json.object("metadata") {
                json.object("labels") {
                    json.field("app", "svc-\(service)")
                    json.field("pod-template-hash", "5d8f7c9b6d")
                }
                json.field("name", "svc-\(service)-\(pod)")
                json.field("namespace", namespace)
                json.field("uid", uid(number, kind: 2))
            }
            json.object("spec") {
                json.array("containers") {
                    json.object {
                        json.field("image", "registry.example/app:1.2.3")
                        json.field("name", "app")
                        json.array("ports") {
                            json.object {
                                json.field("containerPort", 8080)
                                json.field("protocol", "TCP")
                            }
                        }
                    }
                }
                json.field("nodeName", "node-\(number % 100)")
            }
            json.object("status") {
                json.array("conditions") {
                    json.object {
                        json.field("status", "True")
                        json.field("type", "Ready")
                    }
                }
                json.field("phase", "Running")
                json.field("podIP", address)
                json.array("podIPs") { json.object { json.field("ip", address) } }
            }
        }
    }

    private static func service(_ index: Int, into json: PrettyJSON) {
        let name = "svc-\(index)"
        let clusterIP = SyntheticCluster.clusterIP(index).description
        json.object {
            json.field("apiVersion", "v1")
            json.field("kind", "Service")
            json.object("metadata") {
                json.field("creationTimestamp", timestamp(index))
                json.object("labels") {
                    json.field("app", name)
                    json.field("team", "bench")
                }
                managedFields(apiVersion: "v1", manager: "kubectl-create", index: index, into: json) {
                    json.object("f:metadata") {
                        json.object("f:labels") {
                            json.object(".") {}
                            json.object("f:app") {}
                            json.object("f:team") {}
                        }
                    }
                    json.object("f:spec") {
                        json.object("f:internalTrafficPolicy") {}
                        json.object("f:ports") {
                            json.object(".") {}
                            json.object(#"k:{"port":80,"protocol":"TCP"}"#) {
                                for field in [".", "f:name", "f:port", "f:protocol", "f:targetPort"] {
                                    json.object(field) {}
                                }
                            }
                        }
                        json.object("f:selector") {}
                        json.object("f:sessionAffinity") {}
                        json.object("f:type") {}
                    }
                }
                json.field("name", name)
                json.field("namespace", namespace)
                json.field("resourceVersion", "\(100_000 + 2 * index)")
                json.field("uid", uid(index, kind: 1))
            }
            json.object("spec") {
                json.field("clusterIP", clusterIP)
                json.array("clusterIPs") { json.item(clusterIP) }
                json.field("internalTrafficPolicy", "Cluster")
                json.array("ipFamilies") { json.item("IPv4") }
                json.field("ipFamilyPolicy", "SingleStack")
                json.array("ports") {
                    json.object {
                        json.field("name", "http")
                        json.field("port", 80)
                        json.field("protocol", "TCP")
                        json.field("targetPort", 8080)
                    }
                }
                json.object("selector") { json.field("app", name) }
                json.field("sessionAffinity", "None")
                json.field("type", "ClusterIP")
            }
            json.object("status") { json.object("loadBalancer") {} }
        }
    }

    private static func endpointSlice(_ index: Int, endpoints: Int, into json: PrettyJSON) {
        let service = "svc-\(index)"
        json.object {
            json.field("addressType", "IPv4")
            json.field("apiVersion", "discovery.k8s.io/v1")
            json.array("endpoints") {
                for slot in 0..<endpoints {
                    json.object {
                        json.array("addresses") {
                            json.item(SyntheticCluster.podAddress(index * endpoints + slot).description)
                        }
                        json.object("conditions") {
                            json.field("ready", true)
                            json.field("serving", true)
                            json.field("terminating", false)
                        }
                        json.field("nodeName", "node-\(slot % 3)")
                        json.object("targetRef") {
                            json.field("kind", "Pod")
                            json.field("name", "pod-\(index)-\(slot)")
                            json.field("namespace", namespace)
                            json.field("uid", uid(index * endpoints + slot, kind: 3))
                        }
                        json.field("zone", "zone-\(["a", "b", "c"][slot % 3])")
                    }
                }
            }
            json.field("kind", "EndpointSlice")
            json.object("metadata") {
                json.object("annotations") {
                    json.field("endpoints.kubernetes.io/last-change-trigger-time", timestamp(index))
                }
                json.field("creationTimestamp", timestamp(index))
                json.field("generateName", "\(service)-")
                json.field("generation", 1)
                json.object("labels") {
                    json.field("app", service)
                    json.field("endpointslice.kubernetes.io/managed-by", "endpointslice-controller.k8s.io")
                    json.field("kubernetes.io/service-name", service)
                    json.field("team", "bench")
                }
                managedFields(
                    apiVersion: "discovery.k8s.io/v1", manager: "kube-controller-manager", index: index, into: json
                ) {
                    json.object("f:addressType") {}
                    json.object("f:endpoints") {}
                    json.object("f:metadata") {
                        json.object("f:annotations") {
                            json.object(".") {}
                            json.object("f:endpoints.kubernetes.io/last-change-trigger-time") {}
                        }
                        json.object("f:generateName") {}
                        json.object("f:labels") {
                            for field in [
                                ".", "f:app", "f:endpointslice.kubernetes.io/managed-by",
                                "f:kubernetes.io/service-name", "f:team",
                            ] {
                                json.object(field) {}
                            }
                        }
                        json.object("f:ownerReferences") {
                            json.object(".") {}
                            json.object("k:{\"uid\":\"\(uid(index, kind: 1))\"}") {}
                        }
                    }
                    json.object("f:ports") {}
                }
                json.field("name", "\(service)-\(suffix(index))")
                json.field("namespace", namespace)
                json.array("ownerReferences") {
                    json.object {
                        json.field("apiVersion", "v1")
                        json.field("blockOwnerDeletion", true)
                        json.field("controller", true)
                        json.field("kind", "Service")
                        json.field("name", service)
                        json.field("uid", uid(index, kind: 1))
                    }
                }
                json.field("resourceVersion", "\(100_001 + 2 * index)")
                json.field("uid", uid(index, kind: 2))
            }
            json.array("ports") {
                json.object {
                    json.field("name", "http")
                    json.field("port", 8080)
                    json.field("protocol", "TCP")
                }
            }
        }
    }

    /// `metadata.managedFields` with one entry, by `manager`; `fields` writes its fieldsV1.
    private static func managedFields(
        apiVersion: String, manager: String, index: Int, into json: PrettyJSON, _ fields: () -> Void
    ) {
        guard withManagedFields else { return }
        json.array("managedFields") {
            json.object {
                json.field("apiVersion", apiVersion)
                json.field("fieldsType", "FieldsV1")
                json.object("fieldsV1", fields)
                json.field("manager", manager)
                json.field("operation", "Update")
                json.field("time", timestamp(index))
            }
        }
    }

    private static func timestamp(_ index: Int) -> String {
        "2025-01-\(10 + index % 18)T0\(index % 10):\(10 + index % 50):\(10 + index % 49)Z"
    }

    /// A UUID-shaped id, distinct per index and kind of object.
    private static func uid(_ index: Int, kind: Int) -> String {
        let hex = String(UInt64(index) &* 0x9E37_79B9_7F4A_7C15 ^ UInt64(kind), radix: 16)
        let digits = String(repeating: "0", count: max(0, 32 - hex.count)) + hex
        let parts = [8, 4, 4, 4, 12].reduce(into: (parts: [String](), rest: Substring(digits))) { state, length in
            state.parts.append(String(state.rest.prefix(length)))
            state.rest = state.rest.dropFirst(length)
        }.parts
        return parts.joined(separator: "-")
    }

    /// The five random characters the EndpointSlice controller appends to generateName.
    private static func suffix(_ index: Int) -> String {
        let letters = Array("bcdfghjklmnpqrstvwxz2456789")
        var value = index &* 2_654_435_761 & 0x7FFF_FFFF
        return String(
            (0..<5).map { _ in
                defer { value /= letters.count }
                return letters[value % letters.count]
            })
    }
}

/// JSON as Go's `json.MarshalIndent(…, "", "    ")` writes it (what kubectl prints). A class, so
/// that the nested closures that write an object's fields can all append to it.
final class PrettyJSON {
    private(set) var text = ""
    private var depth = 0
    /// Per open container: whether it has an entry yet.
    private var hasEntries: [Bool] = []

    func object(_ key: String? = nil, _ body: () -> Void) {
        open(key, "{")
        body()
        close("}")
    }

    func array(_ key: String, _ body: () -> Void) {
        open(key, "[")
        body()
        close("]")
    }

    func field(_ key: String, _ value: String) { entry(key, quoted(value)) }
    func field(_ key: String, _ value: Int) { entry(key, "\(value)") }
    func field(_ key: String, _ value: Bool) { entry(key, value ? "true" : "false") }
    func item(_ value: String) { entry(nil, quoted(value)) }

    private func entry(_ key: String?, _ value: String) {
        startEntry(key)
        text += value
    }

    private func open(_ key: String?, _ bracket: String) {
        startEntry(key)
        text += bracket
        hasEntries.append(false)
        depth += 1
    }

    private func close(_ bracket: String) {
        depth -= 1
        if hasEntries.removeLast() { text += "\n" + String(repeating: "    ", count: depth) }
        text += bracket
    }

    private func startEntry(_ key: String?) {
        if let last = hasEntries.indices.last {
            text += hasEntries[last] ? ",\n" : "\n"
            hasEntries[last] = true
        }
        text += String(repeating: "    ", count: depth)
        if let key { text += quoted(key) + ": " }
    }

    private func quoted(_ value: String) -> String {
        guard value.utf8.contains(where: { $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\\") }) else {
            return "\"" + value + "\""
        }
        return "\"" + value.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
            + "\""
    }
}
