import Addressing
import Compiler
import Foundation
import Lab
import Pipeline
import Testing

/// The rules the operator's options shape, as nft text checked in beside this file
/// (`Snapshots/operator-*.nft`) and reviewed like code; re-recorded on purpose with
/// NFCOMPILE_RECORD=1. The input: a LoadBalancer Service of each externalTrafficPolicy with an
/// external IP and a load-balancer IP, and a NodePort.
@Suite struct OperatorOptionGoldenTests {
    static let cases: [(name: String, options: CompilerOptions)] = [
        ("operator-cluster-cidr", CompilerOptions()),
        (
            "operator-interface-prefix-nodeport-cidrs",
            CompilerOptions(
                localTraffic: .interfaceNamePrefix("cali"),
                nodePortNetworks: [IPNetwork("192.168.0.0/16")!, IPNetwork("10.0.0.0/8")!])
        ),
        (
            "operator-bridge-masquerade-all-primary",
            CompilerOptions(
                localTraffic: .bridgeInterface("cbr0"), masqueradeAll: true, nodeIPs: [IPAddress("192.0.2.10")!])
        ),
    ]

    static let manifests = """
        apiVersion: v1
        kind: Pod
        metadata:
          name: web-0
          labels:
            app: web
        spec:
          containers:
            - name: web
              image: example.com/web:1
              ports:
                - name: http
                  containerPort: 8080
        status:
          podIP: 10.244.1.10
        ---
        apiVersion: v1
        kind: Service
        metadata:
          name: cluster-policy
        spec:
          type: LoadBalancer
          clusterIP: 10.96.0.10
          selector:
            app: web
          externalIPs: [198.51.100.10]
          ports:
            - name: http
              port: 80
              targetPort: http
              nodePort: 30081
        status:
          loadBalancer:
            ingress:
              - ip: 198.51.100.20
        ---
        apiVersion: v1
        kind: Service
        metadata:
          name: local-policy
        spec:
          type: LoadBalancer
          clusterIP: 10.96.0.11
          externalTrafficPolicy: Local
          selector:
            app: web
          externalIPs: [198.51.100.11]
          ports:
            - name: http
              port: 80
              targetPort: http
              nodePort: 30082
        status:
          loadBalancer:
            ingress:
              - ip: 198.51.100.21
        """

    static func compile(_ options: CompilerOptions) throws -> String {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("nfc-golden-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        try manifests.write(to: directory.appendingPathComponent("input.yaml"), atomically: true, encoding: .utf8)
        return try CompiledInput(paths: [directory.path], compilerOptions: options).ruleset.nftText()
    }

    @Test(arguments: cases.map(\.name))
    func optionsMatchTheirSnapshot(_ name: String) throws {
        let options = try #require(Self.cases.first { $0.name == name }).options
        let text = try Self.compile(options)
        try expectSnapshot(text, named: name)
    }
}
