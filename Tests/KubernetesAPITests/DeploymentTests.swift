import Foundation
import Lab
import Testing
import Yams

@testable import KubernetesAPI

/// What deploy/ promises: the DaemonSet's shape, an RBAC role of list and watch only, and a kubeconfig that
/// nfcompile itself reads.
@Suite struct DeploymentTests {
    static func documents(_ file: String) throws -> [[String: Any]] {
        let text = try String(contentsOf: Repository.root.appendingPathComponent("deploy/\(file)"), encoding: .utf8)
        return try Yams.load_all(yaml: text).compactMap { $0 as? [String: Any] }
    }

    @Test func theDaemonSetRunsOnTheHostNetworkWithCapabilitiesNotPrivilege() throws {
        let daemonSet = try #require(try Self.documents("daemonset.yaml").first)
        #expect(daemonSet["kind"] as? String == "DaemonSet")
        let pod = try #require(
            ((daemonSet["spec"] as? [String: Any])?["template"] as? [String: Any])?["spec"] as? [String: Any])
        #expect(pod["hostNetwork"] as? Bool == true)
        #expect(pod["priorityClassName"] as? String == "system-node-critical")
        #expect(pod["serviceAccountName"] as? String == "nfcompile")
        let tolerations = try #require(pod["tolerations"] as? [[String: Any]])
        #expect(
            tolerations.count == 1 && tolerations[0]["operator"] as? String == "Exists" && tolerations[0]["key"] == nil,
            "tolerates every taint")
        let container = try #require((pod["containers"] as? [[String: Any]])?.first)
        let args = try #require(container["args"] as? [String])
        #expect(args.first == "agent")
        #expect(args.contains("--node-name=$(NODE_NAME)"))
        #expect(args.contains("--kubeconfig=/etc/nfcompile/kubeconfig"))
        let env = try #require((container["env"] as? [[String: Any]])?.first { $0["name"] as? String == "NODE_NAME" })
        #expect(
            ((env["valueFrom"] as? [String: Any])?["fieldRef"] as? [String: Any])?["fieldPath"] as? String
                == "spec.nodeName")
        let probe = try #require((container["livenessProbe"] as? [String: Any])?["httpGet"] as? [String: Any])
        #expect(probe["path"] as? String == "/healthz" && probe["port"] as? Int == 10256)
        let security = try #require(container["securityContext"] as? [String: Any])
        #expect(security["privileged"] == nil)
        let capabilities = try #require(security["capabilities"] as? [String: Any])
        #expect(capabilities["add"] as? [String] == ["NET_ADMIN", "NET_RAW"])
        #expect(capabilities["drop"] as? [String] == ["ALL"])
    }

    @Test func theRoleListsAndWatchesServicesEndpointSlicesAndNodesAndNothingMore() throws {
        let documents = try Self.documents("rbac.yaml")
        #expect(
            documents.map { $0["kind"] as? String ?? "" } == ["ServiceAccount", "ClusterRole", "ClusterRoleBinding"])
        let rules = try #require(documents[1]["rules"] as? [[String: Any]])
        var granted: Set<String> = []
        for rule in rules {
            for group in rule["apiGroups"] as? [String] ?? [] {
                for resource in rule["resources"] as? [String] ?? [] {
                    for verb in rule["verbs"] as? [String] ?? [] { granted.insert("\(verb) \(group)/\(resource)") }
                }
            }
        }
        #expect(
            granted == [
                "list /services", "watch /services", "list /nodes", "watch /nodes",
                "list discovery.k8s.io/endpointslices", "watch discovery.k8s.io/endpointslices",
            ])
        let subject = try #require((documents[2]["subjects"] as? [[String: Any]])?.first)
        #expect(subject["name"] as? String == "nfcompile" && subject["namespace"] as? String == "kube-system")
    }

    @Test func theShippedKubeconfigIsOneNfcompileReads() throws {
        let configMap = try #require(try Self.documents("kubeconfig.yaml").first)
        let text = try #require((configMap["data"] as? [String: Any])?["kubeconfig"] as? String)
        // As in the pod: the service account's token and CA, here in a folder of the test's.
        let folder = try ScratchFolder()
        try folder.write("token", "pod-token")
        try folder.write("ca.crt", "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")
        let local =
            text
            .replacingOccurrences(of: InClusterEnvironment.defaultServiceAccountFolder, with: folder.url.path)
            .replacingOccurrences(of: "CONTROL-PLANE-ENDPOINT", with: "192.0.2.10")
        let configuration = try APIServerConfiguration.resolve(
            kubeconfig: try folder.write("kubeconfig", local), master: nil)
        #expect(configuration.server == "https://192.0.2.10:6443")
        #expect(configuration.credential == .tokenFile(folder.path("token")))
    }
}
