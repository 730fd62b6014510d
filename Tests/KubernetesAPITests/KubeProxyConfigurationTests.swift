import Manifests
import Testing

@testable import KubernetesAPI

/// `--config FILE`: a KubeProxyConfiguration read as the agent's options.
@Suite struct KubeProxyConfigurationTests {
    static let full = """
        apiVersion: kubeproxy.config.k8s.io/v1alpha1
        kind: KubeProxyConfiguration
        mode: nftables
        bindAddress: 192.0.2.10
        clusterCIDR: 10.244.0.0/16,fd00:10:244::/56
        nodePortAddresses: [192.0.2.0/24]
        detectLocalMode: InterfaceNamePrefix
        detectLocal:
          interfaceNamePrefix: cali
        masqueradeAll: true
        nftables:
          masqueradeBit: 14
          syncPeriod: 1m0s
          minSyncPeriod: 500ms
        healthzBindAddress: 0.0.0.0:10256
        metricsBindAddress: 127.0.0.1:10249
        hostnameOverride: Node-A
        clientConnection:
          kubeconfig: /var/lib/kube-proxy/kubeconfig.conf
          qps: 5
        conntrack:
          maxPerCore: 32768
        iptables:
          masqueradeBit: null
        """

    @Test func fieldsThatMapBecomeArguments() throws {
        let file = try KubeProxyConfiguration(text: Self.full, file: "kp.yaml")
        #expect(
            file.arguments(given: []) == [
                "--node-ip", "192.0.2.10",
                "--cluster-cidr", "10.244.0.0/16,fd00:10:244::/56",
                "--nodeport-addresses", "192.0.2.0/24",
                "--detect-local-mode", "InterfaceNamePrefix",
                "--pod-interface-name-prefix", "cali",
                "--masquerade-all",
                "--masquerade-bit", "14",
                "--sync-period", "60000ms",
                "--min-sync-period", "500ms",
                "--healthz-bind-address", "0.0.0.0:10256",
                "--metrics-bind-address", "127.0.0.1:10249",
                "--node-name", "node-a",
                "--kubeconfig", "/var/lib/kube-proxy/kubeconfig.conf",
            ])
    }

    @Test func otherFieldsAreNamedInWarningsWithTheirLine() throws {
        let file = try KubeProxyConfiguration(text: Self.full, file: "kp.yaml")
        #expect(
            file.warnings.map { "\($0.location?.line ?? 0): \($0.message)" } == [
                "20: clientConnection.qps is not honoured by nfcompile and is ignored",
                "21: conntrack is not honoured by nfcompile and is ignored",
            ])
    }

    @Test func flagsOverrideTheFile() throws {
        let file = try KubeProxyConfiguration(text: Self.full, file: "kp.yaml")
        let merged = file.arguments(given: ["--cluster-cidr=10.0.0.0/8", "--node-name", "b", "--config", "kp.yaml"])
        #expect(!merged.contains("10.244.0.0/16,fd00:10:244::/56"))
        #expect(!merged.contains("node-a"))
        #expect(merged.suffix(4) == ["--node-name", "b", "--config", "kp.yaml"])
        #expect(merged.contains("--masquerade-all"))
    }

    /// kubeadm writes every field, most at their zero value: those say nothing and warn nothing.
    @Test func kubeadmsZeroValuedFieldsAreQuiet() throws {
        let text =
            Self.header + """
                bindAddress: 0.0.0.0
                bindAddressHardFail: false
                clientConnection:
                  acceptContentTypes: ""
                  burst: 0
                  contentType: ""
                  kubeconfig: /var/lib/kube-proxy/kubeconfig.conf
                  qps: 0
                clusterCIDR: 10.244.0.0/16
                configSyncPeriod: 0s
                conntrack:
                  maxPerCore: null
                  min: null
                detectLocal:
                  bridgeInterface: ""
                  interfaceNamePrefix: ""
                detectLocalMode: ""
                enableProfiling: false
                healthzBindAddress: ""
                hostnameOverride: ""
                iptables:
                  localhostNodePorts: null
                  masqueradeAll: false
                  masqueradeBit: null
                  minSyncPeriod: 0s
                  syncPeriod: 0s
                logging:
                  flushFrequency: 0
                  options:
                    json:
                      infoBufferSize: "0"
                  verbosity: 0
                metricsBindAddress: ""
                mode: ""
                nodePortAddresses: null
                oomScoreAdj: null
                portRange: ""
                showHiddenMetricsForVersion: ""
                nftables: null

                """
        let file = try KubeProxyConfiguration(text: text, file: "kube-proxy.yaml")
        #expect(file.warnings.isEmpty, "\(file.warnings)")
        #expect(
            file.arguments(given: []) == [
                "--kubeconfig", "/var/lib/kube-proxy/kubeconfig.conf", "--cluster-cidr", "10.244.0.0/16",
            ])
    }

    @Test func jsonIsReadToo() throws {
        let text = """
            {"apiVersion": "kubeproxy.config.k8s.io/v1alpha1", "kind": "KubeProxyConfiguration",
             "clusterCIDR": "10.244.0.0/16", "masqueradeAll": false, "featureGates": {"X": true}}
            """
        let file = try KubeProxyConfiguration(text: text, file: "kp.json")
        #expect(file.arguments(given: []) == ["--cluster-cidr", "10.244.0.0/16"])
        #expect(file.warnings.map(\.message) == ["featureGates is not honoured by nfcompile and is ignored"])
    }

    @Test(arguments: [
        ("kind: KubeProxyConfiguration\napiVersion: v1\n", 2, "apiVersion is 'v1'"),
        ("apiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: Service\n", 2, "kind is 'Service'"),
        (header + "clusterCIDR: 10.244.0.0/33\n", 3, "clusterCIDR: '10.244.0.0/33' is not a CIDR"),
        (header + "masqueradeAll: sometimes\n", 3, "masqueradeAll must be true or false"),
        (header + "nftables:\n  syncPeriod: soon\n", 4, "nftables.syncPeriod 'soon' is not a positive duration"),
        (header + "detectLocalMode: PodCIDR\n", 3, "detectLocalMode 'PodCIDR' is not a mode"),
        (header + "nodePortAddresses: [primary, nowhere]\n", 3, "nodePortAddresses: 'nowhere' is neither"),
        (header + "nftables:\n  masqueradeBit: 40\n", 4, "nftables.masqueradeBit 40 is not a bit"),
        (header + "detectLocal: cali\n", 3, "detectLocal must be a mapping of fields"),
        (header + "clusterCIDR: [a\n", 4, "not valid YAML or JSON"),
        ("- just\n- a list\n", 1, "must be a mapping"),
    ])
    func badFilesAreErrorsWithLineAndFix(_ text: String, _ line: Int, _ message: String) throws {
        let error = try #require(throws: InputError.self) { try KubeProxyConfiguration(text: text, file: "kp.yaml") }
        let first = try #require(error.errors.first)
        #expect(first.message.contains(message), "\(first)")
        #expect(first.location?.file == "kp.yaml")
        #expect(first.location?.line == line, "\(first)")
        #expect(first.fix != nil)
    }

    static let header = "apiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeProxyConfiguration\n"

    @Test(arguments: [("30s", 30_000), ("1m0s", 60_000), ("1h30m", 5_400_000), ("500ms", 500), ("1.5s", 1500)])
    func goDurations(_ text: String, _ milliseconds: Int64) {
        #expect(GoDuration.milliseconds(text) == milliseconds)
    }

    @Test func aMissingFileIsAnError() throws {
        let error = try #require(throws: InputError.self) {
            try KubeProxyConfiguration(path: "/nonexistent/kube-proxy.yaml")
        }
        #expect(error.errors.first?.message.contains("/nonexistent/kube-proxy.yaml") == true)
    }
}
