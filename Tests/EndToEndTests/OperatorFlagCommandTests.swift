import Foundation
import Lab
import Testing

/// kube-proxy's operator flags on the command line, and `agent --config`, as a user runs them.
@Suite struct OperatorFlagCommandTests {
    func run(_ arguments: [String]) throws -> EndToEndTests.Outcome { try EndToEndTests().run(arguments) }

    func dryRun(_ flags: [String]) throws -> EndToEndTests.Outcome {
        try run(["--dry-run"] + flags + ["rules/petclinic-nodeport"])
    }

    @Test func flagsShapeTheMasqueradingAndNodePortRules() throws {
        let prefix = try dryRun(["--detect-local-mode", "InterfaceNamePrefix", "--pod-interface-name-prefix", "cali"])
        #expect(prefix.status == 0, "\(prefix.errors)")
        #expect(
            prefix.output.contains("iifname != \"cali*\" ip daddr . meta l4proto . th dport != @local-external-ips"))
        let bridge = try dryRun(["--detect-local-mode", "BridgeInterface", "--pod-bridge-interface", "cbr0"])
        #expect(bridge.output.contains("iifname != \"cbr0\""), "\(bridge.errors)")
        let node = try dryRun(["--detect-local-mode", "NodeCIDR", "--node-cidr", "10.244.3.0/24"])
        #expect(node.output.contains("ip saddr != 10.244.3.0/24"), "\(node.errors)")
        let all = try dryRun(["--masquerade-all"])
        // No marking by source in `lb` (`local-policy` still tells external clients by theirs).
        #expect(all.status == 0 && !all.output.contains("ip saddr != 10.244.0.0/16 ip daddr"), "\(all.errors)")
        let addresses = try dryRun(["--nodeport-addresses", "192.168.0.0/16,fd00::/64"])
        #expect(addresses.output.contains("@service-nodeports ip daddr 192.168.0.0/16 fib daddr type local"))
        let primary = try dryRun(["--nodeport-addresses", "primary", "--node-ip", "192.0.2.10"])
        #expect(primary.output.contains("ip daddr @nodeport-ips"), "\(primary.errors)")
        let twoFamilies = try dryRun(["--cluster-cidr", "10.1.0.0/16", "--cluster-cidr", "fd00:1::/64"])
        #expect(twoFamilies.output.contains("ip saddr != 10.1.0.0/16"), "\(twoFamilies.errors)")
    }

    @Test(arguments: [
        (["--cluster-cidr", "10.1.0.0/16,10.2.0.0/16"], "--cluster-cidr takes at most one network per address family"),
        (["--detect-local-mode", "InterfaceNamePrefix"], "needs --pod-interface-name-prefix"),
        (["--detect-local-mode", "NodeCIDR"], "needs --node-cidr"),
        (["--detect-local-mode", "PodCIDR"], "detect-local-mode"),
        (["--nodeport-addresses", "primary"], "needs --node-ip"),
        (["--nodeport-addresses", "primary,10.0.0.0/8"], "primary cannot be combined"),
        (["--pod-bridge-interface", "a very long bridge name"], "--pod-bridge-interface"),
    ])
    func inconsistentFlagsAreUsageErrors(_ flags: [String], _ message: String) throws {
        let outcome = try dryRun(flags)
        #expect(outcome.status == 64, "\(outcome.errors)")
        #expect(outcome.errors.contains(message), "\(outcome.errors)")
        #expect(outcome.output.isEmpty)
    }

    func configFile(_ text: String) throws -> URL {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("nfcompile-kp-\(UUID()).yaml")
        try text.write(to: file, atomically: true, encoding: .utf8)
        return file
    }

    @Test func aBadConfigFileIsAnErrorWithItsLineAndNothingStarts() throws {
        let file = try configFile(
            """
            apiVersion: kubeproxy.config.k8s.io/v1alpha1
            kind: KubeProxyConfiguration
            masqueradeAll: sometimes
            """)
        defer { try? FileManager.default.removeItem(at: file) }
        let outcome = try run(["agent", "--manifests", "/nonexistent", "--config", file.path])
        #expect(outcome.status == 1)
        #expect(
            outcome.errors.contains("\(file.path):3:16: error: masqueradeAll must be true or false"),
            "\(outcome.errors)")
        #expect(outcome.errors.contains("fix:"))
        #expect(outcome.errors.contains("nothing was started"))
    }

    @Test func theConfigFileIsReadAsOptionsAndItsOtherFieldsWarned() throws {
        // The file's mode needs a prefix it does not give: the agent's own check refuses it,
        // which shows the file's value reached the options; its unknown field is named first.
        let file = try configFile(
            """
            apiVersion: kubeproxy.config.k8s.io/v1alpha1
            kind: KubeProxyConfiguration
            detectLocalMode: InterfaceNamePrefix
            clientConnection:
              kubeconfig: /var/lib/kube-proxy/kubeconfig.conf
            conntrack:
              maxPerCore: 1
            """)
        defer { try? FileManager.default.removeItem(at: file) }
        let outcome = try run(["agent", "--manifests", "/nonexistent", "--config", file.path])
        #expect(outcome.status == 64, "\(outcome.errors)")
        #expect(outcome.errors.contains("\(file.path):6:1: warning: conntrack is not honoured"), "\(outcome.errors)")
        #expect(!outcome.errors.contains("leave out --kubeconfig"), "a folder agent ignores the file's kubeconfig")
        #expect(outcome.errors.contains("--detect-local-mode InterfaceNamePrefix needs --pod-interface-name-prefix"))
    }
}
