import Foundation

/// What a pod sees of its cluster: the `KUBERNETES_SERVICE_HOST`/`_PORT` variables and the mounted
/// service-account folder (token, ca.crt). Injectable so tests need no pod.
public struct InClusterEnvironment: Sendable {
    public var variables: [String: String]
    public var serviceAccountFolder: String

    public static let defaultServiceAccountFolder = "/var/run/secrets/kubernetes.io/serviceaccount"

    public init(variables: [String: String], serviceAccountFolder: String = Self.defaultServiceAccountFolder) {
        self.variables = variables
        self.serviceAccountFolder = serviceAccountFolder
    }

    /// This process's environment and the standard mount point.
    public static var process: InClusterEnvironment {
        InClusterEnvironment(variables: ProcessInfo.processInfo.environment)
    }

    /// The API server behind the `kubernetes` Service's environment variables, trusted through the mounted
    /// ca.crt, authenticated with the mounted token — read again for every request, since the kubelet
    /// rotates the projected token.
    public func configuration() throws(ConfigurationError) -> APIServerConfiguration {
        let fix = "pass --kubeconfig FILE (or --master URL) when not running in a pod"
        guard let host = variables["KUBERNETES_SERVICE_HOST"], !host.isEmpty,
            let port = variables["KUBERNETES_SERVICE_PORT"], !port.isEmpty
        else {
            throw ConfigurationError(
                at: nil,
                "no --kubeconfig or --master, and not in a pod: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are not set",
                fix: fix)
        }
        guard let portNumber = UInt16(port), portNumber > 0 else {
            throw ConfigurationError(at: nil, "KUBERNETES_SERVICE_PORT=\(port) is not a port number", fix: fix)
        }
        let tokenPath = serviceAccountFolder + "/token"
        guard FileManager.default.isReadableFile(atPath: tokenPath) else {
            throw ConfigurationError(
                at: nil, "in a pod but the service-account token \(tokenPath) cannot be read",
                fix:
                    "run with a service account whose token is mounted (automountServiceAccountToken must not be false)"
            )
        }
        let caPath = serviceAccountFolder + "/ca.crt"
        guard let ca = FileManager.default.contents(atPath: caPath) else {
            throw ConfigurationError(
                at: nil, "in a pod but the cluster CA \(caPath) cannot be read",
                fix: "run with a service account whose token is mounted (it brings ca.crt)")
        }
        // An IPv6 host needs brackets in a URL, as Go's net.JoinHostPort writes it.
        let hostPart = host.contains(":") ? "[\(host)]" : host
        return APIServerConfiguration(
            server: "https://\(hostPart):\(portNumber)", trust: .certificateAuthority(pem: Array(ca), origin: caPath),
            credential: .tokenFile(tokenPath), origin: "in-cluster service account (\(serviceAccountFolder))")
    }
}
