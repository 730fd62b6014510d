import Compiler
import Foundation
import Lab
import Pipeline
import Testing

/// Labs compiled with the operator's options (kube-proxy's flags), and the node-side changes
/// those tests need: an interface renamed, a second local address.
extension ClusterLab {
    /// Compiles manifests given as YAML text with `options` and starts them.
    convenience init(manifests: String, options: CompilerOptions) throws {
        try self.init(compiled: Self.compile(manifests: manifests, options: options))
    }

    static func compile(manifests: String, options: CompilerOptions) throws -> CompiledInput {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("nfc-lab-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        try manifests.write(to: directory.appendingPathComponent("manifests.yaml"), atomically: true, encoding: .utf8)
        return try CompiledInput(paths: [directory.path], compilerOptions: options)
    }

    /// Adds a client whose link on the node is named `interface` instead of the lab's `vethN`,
    /// so that the node sees its packets come in on that name.
    func addClient(_ name: String, address: String, nodeInterface interface: String) throws -> String {
        let namespace = try addClient(name, address: address)
        let route = try lab.node("ip", "-o", "route", "show", "\(address)/32")
        let words = route.split(whereSeparator: \.isWhitespace)
        guard let index = words.firstIndex(of: "dev"), index + 1 < words.count else {
            throw LabError("no route to \(address) on the node: \(route)")
        }
        let veth = words[index + 1]
        // An interface is renamed while down; its routes go with it, so the host route comes back.
        try lab.ip(
            in: lab.nodeNamespace,
            [
                "link set \(veth) down",
                "link set \(veth) name \(interface)",
                "link set \(interface) up",
                "route replace \(address)/32 dev \(interface)",
            ])
        return namespace
    }

    /// Gives the node another local address (on its uplink), which clients reach through it.
    func addNodeAddress(_ address: String) throws {
        let prefix = address.contains(":") ? "/128 dev uplink nodad" : "/32 dev uplink"
        try lab.ip(in: lab.nodeNamespace, ["address add \(address)\(prefix)"])
    }
}

extension LabManifests {
    /// One pod behind two LoadBalancer Services with external IPs, one of each
    /// externalTrafficPolicy; `cluster-policy` has NodePort 30081.
    static let externalPolicies = """
        apiVersion: apps/v1
        kind: Deployment
        metadata:
          name: web
        spec:
          replicas: 1
          selector:
            matchLabels:
              app: web
          template:
            metadata:
              labels:
                app: web
            spec:
              containers:
                - name: web
                  image: example.com/web:1
                  ports:
                    - name: http
                      containerPort: 8080
        ---
        apiVersion: v1
        kind: Service
        metadata:
          name: cluster-policy
        spec:
          type: LoadBalancer
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
}
