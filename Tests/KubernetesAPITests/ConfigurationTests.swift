import Foundation
import Testing

@testable import KubernetesAPI

/// Reading a kubeconfig and the in-cluster environment the way kubectl and kube-proxy do.
@Suite struct ConfigurationTests {
    let folder: ScratchFolder
    let caPEM = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"

    init() throws { folder = try ScratchFolder() }

    func load(_ text: String, context: String? = nil, master: String? = nil) throws -> APIServerConfiguration {
        try APIServerConfiguration.resolve(
            kubeconfig: try folder.write("config", text), master: master, context: context)
    }

    /// The error loading `text` gives; nil when it loads.
    func failure(_ text: String, context: String? = nil) throws -> ConfigurationError? {
        let path = try folder.write("config", text)
        do {
            _ = try APIServerConfiguration.resolve(kubeconfig: path, master: nil, context: context)
            return nil
        } catch {
            return error
        }
    }

    static let twoContexts = """
        apiVersion: v1
        kind: Config
        clusters:
          - name: production
            cluster:
              server: https://10.0.0.1:6443
              certificate-authority-data: LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSUIKLS0tLS1FTkQgQ0VSVElGSUNBVEUtLS0tLQo=
          - name: lab
            cluster:
              server: 192.0.2.7:6443/
              insecure-skip-tls-verify: true
        users:
          - name: proxy
            user:
              token: abc.def
          - name: admin
            user:
              username: admin
              password: secret
        contexts:
          - name: prod
            context:
              cluster: production
              user: proxy
          - name: lab
            context:
              cluster: lab
              user: admin
        current-context: prod
        """

    @Test func theCurrentContextGivesServerCertificateAuthorityAndToken() throws {
        let configuration = try load(Self.twoContexts)
        #expect(configuration.server == "https://10.0.0.1:6443")
        #expect(
            configuration.trust
                == .certificateAuthority(
                    pem: Array(caPEM.utf8),
                    origin: "certificate-authority-data of cluster \"production\" in \(folder.path("config"))"))
        #expect(configuration.credential == .token("abc.def"))
        #expect(configuration.clientCertificate == nil)
        #expect(configuration.origin == "kubeconfig \(folder.path("config")) (context prod)")
    }

    @Test func anotherContextCanBeChosen() throws {
        let configuration = try load(Self.twoContexts, context: "lab")
        #expect(
            configuration.server == "https://192.0.2.7:6443", "a bare host:port means https, without the trailing slash"
        )
        #expect(configuration.trust == .insecureSkipVerify)
        #expect(configuration.credential == .basic(username: "admin", password: "secret"))
    }

    @Test func masterReplacesTheKubeconfigsServer() throws {
        let configuration = try load(Self.twoContexts, master: "https://192.0.2.1:6443")
        #expect(configuration.server == "https://192.0.2.1:6443")
        #expect(configuration.credential == .token("abc.def"), "the credentials stay the kubeconfig's")
    }

    @Test func masterAloneMeansNoCredentials() throws {
        let configuration = try APIServerConfiguration.resolve(kubeconfig: nil, master: "http://127.0.0.1:8001")
        #expect(configuration.server == "http://127.0.0.1:8001")
        #expect(configuration.credential == .none)
    }

    @Test func relativeFilesAreRelativeToTheKubeconfigAndTokenFilesAreKeptAsPaths() throws {
        try folder.write("ca.crt", caPEM)
        try folder.write("token", "first-token\n")
        try folder.write("client.crt", "CERT")
        try folder.write("client.key", "KEY")
        let configuration = try load(
            """
            clusters:
              - name: c
                cluster:
                  server: https://[fd00::1]:6443
                  certificate-authority: ca.crt
            users:
              - name: u
                user:
                  tokenFile: token
                  token: ignored-when-tokenFile-is-set
                  client-certificate: client.crt
                  client-key: client.key
            contexts:
              - name: x
                context: {cluster: c, user: u}
            current-context: x
            """)
        #expect(configuration.server == "https://[fd00::1]:6443")
        #expect(
            configuration.trust
                == .certificateAuthority(
                    pem: Array(caPEM.utf8), origin: "certificate-authority \(folder.path("ca.crt"))"))
        #expect(configuration.credential == .tokenFile(folder.path("token")))
        #expect(configuration.clientCertificate?.certificatePEM == Array("CERT".utf8))
        #expect(configuration.clientCertificate?.keyPEM == Array("KEY".utf8))
    }

    @Test func clientCertificateAndKeyAsData() throws {
        let configuration = try load(
            """
            clusters: [{name: c, cluster: {server: "https://h:1"}}]
            users: [{name: u, user: {client-certificate-data: Q0VSVA==, client-key-data: S0VZ}}]
            contexts: [{name: x, context: {cluster: c, user: u}}]
            current-context: x
            """)
        #expect(configuration.trust == .system)
        #expect(configuration.credential == .none)
        #expect(configuration.clientCertificate?.certificatePEM == Array("CERT".utf8))
        #expect(configuration.clientCertificate?.keyPEM == Array("KEY".utf8))
    }

    // MARK: - Errors name the file, the line and the fix

    @Test func aMissingFileSaysSo() throws {
        let error = try #require(throws: ConfigurationError.self) {
            try APIServerConfiguration.resolve(kubeconfig: folder.path("nothing"), master: nil)
        }
        #expect(error.description.contains("kubeconfig \(folder.path("nothing")) does not exist"))
        #expect(error.description.contains("fix: pass the path of an existing kubeconfig"))
    }

    @Test func badYAMLIsReportedAtItsLine() throws {
        let error = try #require(try failure("clusters:\n  - name: c\n\tcluster: {}\n"))
        #expect(error.description.hasPrefix("\(folder.path("config")):3:"), "\(error)")
        #expect(error.description.contains("not valid YAML"))
    }

    @Test func anUnknownContextListsTheKnownOnes() throws {
        let error = try #require(try failure(Self.twoContexts, context: "staging"))
        #expect(error.description.contains("no context named \"staging\" in contexts (known: prod, lab)"), "\(error)")
        #expect(error.description.contains("\(folder.path("config")):"))
    }

    @Test func aContextNamingAMissingClusterPointsAtTheClusters() throws {
        let error = try #require(
            try failure(
                """
                clusters:
                  - name: a
                    cluster: {server: "https://h:1"}
                contexts:
                  - name: x
                    context: {cluster: b}
                current-context: x
                """))
        #expect(error.description.hasPrefix("\(folder.path("config")):2:"), "\(error)")
        #expect(error.description.contains("no cluster named \"b\" in clusters (known: a)"))
    }

    @Test func noCurrentContext() throws {
        let error = try #require(try failure("clusters: []\ncontexts: []\n"))
        #expect(error.description.contains("sets no current-context"))
        #expect(error.description.contains("fix: set current-context"))
    }

    @Test func aClusterWithoutServer() throws {
        let error = try #require(
            try failure(
                """
                clusters: [{name: c, cluster: {insecure-skip-tls-verify: true}}]
                contexts: [{name: x, context: {cluster: c}}]
                current-context: x
                """))
        #expect(error.description.contains("cluster \"c\" has no server"), "\(error)")
    }

    @Test func aServerThatIsNoURL() throws {
        let error = try #require(
            try failure(
                """
                clusters:
                  - name: c
                    cluster:
                      server: "ftp://h"
                contexts: [{name: x, context: {cluster: c}}]
                current-context: x
                """))
        #expect(error.description.hasPrefix("\(folder.path("config")):4:"), "\(error)")
        #expect(error.description.contains("is not an API server URL"))
    }

    @Test func badBase64AndUnreadableFilesNameTheField() throws {
        let base64 = try #require(
            try failure(
                """
                clusters: [{name: c, cluster: {server: "https://h:1", certificate-authority-data: "not base64!"}}]
                contexts: [{name: x, context: {cluster: c}}]
                current-context: x
                """))
        #expect(base64.description.contains("certificate-authority-data of cluster \"c\" is not base64"), "\(base64)")
        let file = try #require(
            try failure(
                """
                clusters: [{name: c, cluster: {server: "https://h:1"}}]
                users: [{name: u, user: {tokenFile: /nonexistent/token}}]
                contexts: [{name: x, context: {cluster: c, user: u}}]
                current-context: x
                """))
        #expect(file.description.contains("tokenFile /nonexistent/token of user \"u\" cannot be read"), "\(file)")
    }

    @Test func aCertificateWithoutKey() throws {
        let error = try #require(
            try failure(
                """
                clusters: [{name: c, cluster: {server: "https://h:1"}}]
                users: [{name: u, user: {client-certificate-data: Q0VSVA==}}]
                contexts: [{name: x, context: {cluster: c, user: u}}]
                current-context: x
                """))
        #expect(error.description.contains("has a client certificate but no key"), "\(error)")
    }

    @Test func execPluginsAreRefusedRatherThanIgnored() throws {
        let error = try #require(
            try failure(
                """
                clusters: [{name: c, cluster: {server: "https://h:1"}}]
                users:
                  - name: u
                    user:
                      exec:
                        command: aws
                contexts: [{name: x, context: {cluster: c, user: u}}]
                current-context: x
                """))
        #expect(error.description.hasPrefix("\(folder.path("config")):5:"), "\(error)")
        #expect(error.description.contains("authenticates with exec, which nfcompile does not support"))
    }

    @Test func unusablePEMIsAConfigurationError() throws {
        let configuration = try load(Self.twoContexts)
        let error = try #require(throws: ConfigurationError.self) {
            try ClusterWatch(configuration: configuration, nodeName: nil)
        }
        #expect(error.description.contains("certificate-authority-data of cluster \"production\""), "\(error)")
        #expect(error.description.contains("holds no PEM certificate"))
    }

    // MARK: - In cluster

    @Test func inClusterReadsTheServiceAccountFolder() throws {
        try folder.write("token", "pod-token")
        try folder.write("ca.crt", caPEM)
        let environment = InClusterEnvironment(
            variables: ["KUBERNETES_SERVICE_HOST": "10.96.0.1", "KUBERNETES_SERVICE_PORT": "443"],
            serviceAccountFolder: folder.url.path)
        let configuration = try APIServerConfiguration.resolve(kubeconfig: nil, master: nil, inCluster: environment)
        #expect(configuration.server == "https://10.96.0.1:443")
        #expect(
            configuration.credential == .tokenFile(folder.path("token")),
            "read again per request: the kubelet rotates it")
        #expect(configuration.trust == .certificateAuthority(pem: Array(caPEM.utf8), origin: folder.path("ca.crt")))
    }

    @Test func inClusterIPv6HostGetsBrackets() throws {
        try folder.write("token", "pod-token")
        try folder.write("ca.crt", caPEM)
        let environment = InClusterEnvironment(
            variables: ["KUBERNETES_SERVICE_HOST": "fd00:10:96::1", "KUBERNETES_SERVICE_PORT": "443"],
            serviceAccountFolder: folder.url.path)
        #expect(try environment.configuration().server == "https://[fd00:10:96::1]:443")
    }

    @Test func outsideAPodWithoutFlagsSaysWhatToPass() throws {
        let error = try #require(throws: ConfigurationError.self) {
            try APIServerConfiguration.resolve(
                kubeconfig: nil, master: nil, inCluster: InClusterEnvironment(variables: [:]))
        }
        #expect(error.description.contains("KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are not set"))
        #expect(error.description.contains("fix: pass --kubeconfig FILE (or --master URL)"))
    }

    @Test func inClusterWithoutTokenSaysSo() throws {
        let environment = InClusterEnvironment(
            variables: ["KUBERNETES_SERVICE_HOST": "10.96.0.1", "KUBERNETES_SERVICE_PORT": "443"],
            serviceAccountFolder: folder.url.path)
        let error = try #require(throws: ConfigurationError.self) { try environment.configuration() }
        #expect(error.description.contains("service-account token \(folder.path("token")) cannot be read"))
    }
}
