import Foundation
import Manifests
import Testing

@Suite("Reading inputs")
struct LoaderTests {
    static let podList = """
        apiVersion: v1
        kind: List
        metadata: {resourceVersion: ""}
        items:
        - apiVersion: v1
          kind: Pod
          metadata: {name: a, labels: {app: web}}
          spec: {containers: [{name: web, image: nginx}]}
          status: {podIP: 10.244.0.10, phase: Running, qosClass: BestEffort}
        - apiVersion: v1
          kind: ConfigMap
          metadata: {name: settings}
        - apiVersion: v1
          kind: Pod
          metadata: {name: b}
          spec: {containers: [{name: web, image: nginx, portz: []}]}
        """

    @Test("kind: List is expanded; its items are validated at their own lines")
    func kindList() throws {
        let error = try #require(errors(Self.podList).first)
        #expect(errors(Self.podList).count == 1)
        #expect(error.message == "unknown field \"spec.containers[0].portz\"")
        #expect(error.fix == "did you mean \"ports\"?")
        #expect(error.location?.line == 16)
        let fixed = try #require(decoded(Self.podList.replacingOccurrences(of: ", portz: []", with: "")))
        #expect(fixed.pods.map(\.meta.name) == ["a", "b"])
        #expect(fixed.pods.first?.podIPs.first?.value.description == "10.244.0.10")
        #expect(fixed.pods.first?.podIPs.first?.location.line == 9)
    }

    @Test("JSON input, as kubectl get -o json prints it, is read through the same parser")
    func json() throws {
        let text = """
            {
            \t"apiVersion": "v1",
            \t"kind": "List",
            \t"items": [
            \t\t{
            \t\t\t"apiVersion": "v1",
            \t\t\t"kind": "Service",
            \t\t\t"metadata": {"name": "web", "namespace": "shop", "creationTimestamp": null},
            \t\t\t"spec": {"type": "LoadBalancer", "selector": {"app": "web"},
            \t\t\t\t"ports": [{"name": "http", "port": 80, "targetPort": "http", "nodePort": 31000}]},
            \t\t\t"status": {"loadBalancer": {"ingress": [{"ip": "203.0.113.7"}, {"hostname": "lb.example.com"}]}}
            \t\t}
            \t]
            }
            """
        let service = try #require(decoded(text, file: "svc.json")?.services.first)
        #expect(service.meta.namespace == "shop")
        #expect(service.type == .loadBalancer)
        #expect(service.ports.first?.targetPort == .name("http"))
        #expect(service.ports.first?.nodePort?.value == 31000)
        #expect(service.loadBalancerIngress.map(\.value.description) == ["203.0.113.7"])
        let broken = text.replacingOccurrences(of: "\"port\": 80", with: "\"prot\": 80")
        // Two findings, as kubectl would have: the typo, and the port it leaves missing.
        #expect(
            errors(broken, file: "svc.json").map(\.message) == [
                "spec.ports[0]: the port number is missing", "unknown field \"spec.ports[0].prot\"",
            ])
        let error = try #require(errors(broken, file: "svc.json").last)
        #expect(error.fix == "did you mean \"port\"?")
        #expect(error.location == SourceLocation(file: "svc.json", line: 10, column: 32))
    }

    @Test("multi-document YAML: empty documents are skipped, objects keep input order")
    func multiDocument() throws {
        let text =
            "---\n# nothing here\n---\n" + service(name: "a", "ports:\n- port: 80") + "---\n---\n"
            + service(name: "b", "ports:\n- port: 81") + "...\n"
        let set = try #require(decoded(text))
        #expect(set.services.map(\.meta.name) == ["a", "b"])
        #expect(set.services.map(\.meta.location.line) == [4, 13])
        #expect(decoded("")?.services.isEmpty == true)
    }

    @Test("a document that is not an object is an error")
    func notAnObject() {
        #expect(
            errors("- just\n- a list\n").map(\.message)
                == ["expected a Kubernetes object (apiVersion, kind, metadata, …), found a list"])
    }

    @Test("YAML syntax errors carry the parser's line and column")
    func syntaxError() throws {
        let error = try #require(errors("apiVersion: v1\nkind: Service\nmetadata:\n  name: [web\n").first)
        #expect(error.message.hasPrefix("YAML syntax error:"))
        #expect(error.location?.file == "test.yaml")
        #expect(error.location?.line == 5)
        let duplicate = try #require(errors("apiVersion: v1\nkind: Service\nkind: Pod\n").first)
        #expect(duplicate.message == "key \"kind\" appears more than once in the same mapping")
    }

    @Test("documents before a syntax error are still checked")
    func errorsBeforeSyntaxError() {
        let text = service("ports:\n- port: 80\n  nodeport: 1") + "---\nkey: [unclosed\n"
        let messages = errors(text).map(\.message)
        #expect(messages.count == 2)
        #expect(messages.first == "unknown field \"spec.ports[0].nodeport\"")
        #expect(messages.last?.hasPrefix("YAML syntax error") == true)
    }

    @Test("tabs are allowed inside block scalars, quoted scalars, flow collections and comments")
    func tabsWhereYAMLAllowsThem() {
        let text = """
            apiVersion: v1
            kind: Pod
            metadata:
              name: tabs
              annotations:
                script: |
                  line one
                  \tindented with a tab
                quoted: "first
              \tcontinued"
            # \ta comment
            spec: {containers: [
            \t{name: web, image: nginx}
            \t]}
            """
        #expect(errors(text).isEmpty, "\(errors(text))")
    }

    @Test("block scalars under list items and with indentation indicators keep their tabs")
    func tabsInOtherBlockScalars() {
        let text = """
            apiVersion: v1
            kind: Pod
            metadata:
              name: tabs
            spec:
              containers:
              - name: web
                image: nginx
                command:
                - |
                  echo one
                  \techo two
                - >-
                  folded
                  \ttext
                args:
                - |2
                    \tindented more
            """
        #expect(errors(text).isEmpty, "\(errors(text))")
    }

    @Test("a tab in indentation is found at its column, after a block scalar has ended too")
    func tabAfterBlockScalar() throws {
        let text = "apiVersion: v1\nkind: Pod\nmetadata:\n  annotations:\n    a: |\n      text\n  \tname: x\n"
        let error = try #require(errors(text, file: "t.yaml").first)
        #expect(error.location == SourceLocation(file: "t.yaml", line: 7, column: 3))
        #expect(error.fix == "indent with spaces (for example: expand -t 2 t.yaml > FIXED)")
        let stdin = try #require(errors("a: 1\n\tb: 2\n", file: "<stdin>").first)
        #expect(stdin.fix == "indent with spaces (for example: expand -t 2 FILE > FIXED)")
    }

    @Test("a directory is read recursively, manifests only, in sorted path order")
    func directoryRecursion() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("manifests-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        try FileManager.default.createDirectory(
            at: root.appendingPathComponent("b/nested"), withIntermediateDirectories: true)
        try FileManager.default.createDirectory(
            at: root.appendingPathComponent(".hidden"), withIntermediateDirectories: true)
        func write(_ path: String, _ text: String) throws {
            try text.write(to: root.appendingPathComponent(path), atomically: true, encoding: .utf8)
        }
        try write("b/nested/c.yml", service(name: "c", "ports:\n- port: 80"))
        try write("a.yaml", service(name: "a", "ports:\n- port: 80"))
        try write(
            "b/b.json",
            #"{"apiVersion": "v1", "kind": "Service", "metadata": {"name": "b"}, "spec": {"ports": [{"port": 80}]}}"#)
        try write("b/notes.txt", "not: a manifest")
        try write(".hidden/x.yaml", "broken: [")

        let set = try ManifestLoader.load(paths: [root.path])
        #expect(set.services.map(\.meta.name) == ["a", "b", "c"])
        #expect(set.services.last?.meta.location.file == root.path + "/b/nested/c.yml")

        try write("b/nested/d.yaml", service(name: "a", "ports:\n- port: 80"))
        let error = try #require(throws: InputError.self) { try ManifestLoader.load(paths: [root.path]) }
        #expect(error.errors.map(\.location?.file) == [root.path + "/b/nested/d.yaml"])
        #expect(
            error.errors.first?.message.contains("defined twice; the first definition is at \(root.path)/a.yaml:1:1")
                == true)
    }

    @Test("a directory's files, decoded on every core, come out in path order with their diagnostics")
    func manyFilesInOrder() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("manifests-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        let names = (0..<300).map { String(format: "svc-%03d", $0) }
        for (index, name) in names.enumerated() {
            // Every 7th file has a field the schema does not know: a diagnostic of its own file.
            let port = index % 7 == 0 ? "ports:\n- prot: 80" : "ports:\n- port: 80"
            try service(name: name, port).write(
                to: root.appendingPathComponent(name + ".yaml"), atomically: true, encoding: .utf8)
        }
        let error = try #require(throws: InputError.self) { try ManifestLoader.load(paths: [root.path]) }
        let files = error.errors.filter { $0.message.hasPrefix("unknown field") }.compactMap(\.location?.file)
        #expect(files == stride(from: 0, to: 300, by: 7).map { root.path + "/" + names[$0] + ".yaml" })
        for index in stride(from: 0, to: 300, by: 7) {
            try service(name: names[index], "ports:\n- port: 80").write(
                to: root.appendingPathComponent(names[index] + ".yaml"), atomically: true, encoding: .utf8)
        }
        let cache = ManifestCache()
        let set = try ManifestLoader.load(paths: [root.path], cache: cache)
        #expect(set.services.map(\.meta.name) == names)
        #expect(try ManifestLoader.load(paths: [root.path], cache: cache) == set)
    }

    @Test("an empty directory and a missing path are errors naming them")
    func missingInputs() throws {
        let empty = FileManager.default.temporaryDirectory.appendingPathComponent("empty-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: empty, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: empty) }
        let error = try #require(throws: InputError.self) {
            try ManifestLoader.load(paths: [empty.path, "/no/such/manifest.yaml"])
        }
        #expect(
            error.errors.map(\.message) == [
                "directory \(empty.path) holds no manifest files (*.yaml, *.yml, *.json)",
                "no such file or directory: /no/such/manifest.yaml",
            ])
    }

    @Test("\"-\" reads standard input through the closure, reported as <stdin>")
    func standardInput() throws {
        let set = try ManifestLoader.load(
            paths: ["-"], readStandardInput: { service(name: "piped", "ports:\n- port: 80") })
        #expect(set.services.map(\.meta.name) == ["piped"])
        #expect(set.services.first?.meta.location.file == "<stdin>")

        let error = try #require(throws: InputError.self) {
            try ManifestLoader.load(
                paths: ["-"],
                readStandardInput: { "kind: Service\napiVersion: v1\nmetadata: {name: x}\nspec: {port: 1}\n" })
        }
        #expect(error.errors.first?.location?.file == "<stdin>")
        #expect(
            error.errors.contains { $0.message == "unknown field \"spec.port\"" && $0.fix == "did you mean \"ports\"?" }
        )
        #expect(throws: InputError.self) { try ManifestLoader.load(paths: ["-"], readStandardInput: { nil }) }
    }

    @Test("YAML beyond its size bound is one error at line 1, read no further")
    func yamlSizeBound() throws {
        let line = "# " + String(repeating: "x", count: 1_021) + "\n"
        let text = "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\n" + String(repeating: line, count: 16 * 1024)
        let found = errors(text)
        #expect(found.count == 1)
        #expect(found.first?.location?.line == 1 && found.first?.message.contains("up to 16 MiB") == true, "\(found)")
        #expect(found.first?.fix?.contains("JSON") == true)
    }

    @Test("a file with more objects than its bound is an error at the first object past it")
    func objectsPerFileBound() throws {
        let item = #"{"apiVersion":"v1","kind":"Endpoints","metadata":{"name":"e"}},"#
        let text =
            #"{"apiVersion":"v1","kind":"List","items":["# + String(repeating: item, count: InputLimits.objectsPerFile)
            + #"{"apiVersion":"v1","kind":"Endpoints","metadata":{"name":"last"}}]}"#
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("nfcompile-big-\(UUID()).json")
        try text.write(to: file, atomically: false, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: file) }
        let (set, found, _) = ManifestLoader.decode(fileAtPath: file.path)
        let refusals = found.filter { $0.message.contains("more than \(InputLimits.objectsPerFile) objects") }
        #expect(refusals.count == 1 && refusals.first?.severity == .error, "\(found.prefix(3))")
        #expect(set.endpoints.count == InputLimits.objectsPerFile && !set.endpoints.contains { $0.meta.name == "last" })
    }

    @Test("YAML aliases that multiply a document are refused, not walked for ever")
    func aliasBomb() throws {
        // 1000 containers × 1000 ports from a few kilobytes of text.
        let ports = "[&p {containerPort: 80}" + String(repeating: ", *p", count: 999) + "]"
        let containers = "[&c {name: c, image: i, ports: \(ports)}" + String(repeating: ", *c", count: 999) + "]"
        let text = "apiVersion: v1\nkind: Pod\nmetadata: {name: bomb}\nspec:\n  containers: \(containers)\n"
        let found = errors(text)
        #expect(found.count == 1)
        #expect(found.first?.message.contains("expands to more than 500000 values") == true)
    }
}
