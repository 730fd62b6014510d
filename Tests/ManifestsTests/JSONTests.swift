import Foundation
import Manifests
import Testing

/// A Service as `kubectl get -o json` prints it (four-space indentation), with the given lines of `spec`
/// (each indented eight spaces): line 1 is `{`, the spec's own fields start on line 10.
func jsonService(name: String = "web", _ specLines: String) -> String {
    """
    {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": "\(name)",
            "namespace": "shop",
            "uid": "3f1c2a9e-5b7d-4e8a-9c0f-1d2e3f4a5b6c"
        },
        "spec": {
    \(specLines.split(separator: "\n", omittingEmptySubsequences: false).map { "        " + $0 }.joined(separator: "\n"))
        }
    }

    """
}

@Suite("JSON input")
struct JSONTests {
    @Test("an unknown field in JSON: full path, did-you-mean, at the key's line and column")
    func unknownFieldWithSuggestion() throws {
        let text = jsonService(
            """
            "ports": [
                {
                    "port": 80,
                    "nodeport": 30080
                }
            ]
            """)
        let error = try #require(errors(text, file: "svc.json").first)
        #expect(error.message == "unknown field \"spec.ports[0].nodeport\"")
        #expect(error.fix == "did you mean \"nodePort\"?")
        #expect(error.location == SourceLocation(file: "svc.json", line: 13, column: 17))
    }

    @Test("a value of the wrong type in JSON is an error at the value, with a fix")
    func wrongTypes() {
        let text = jsonService(
            """
            "ports": [{"port": "80", "name": 8080}],
            "publishNotReadyAddresses": "true",
            "selector": {"version": 1.0},
            "externalIPs": "192.0.2.1"
            """)
        let found = errors(text, file: "svc.json")
        #expect(
            found.map(\.message) == [
                "spec.ports[0].port: expected a whole number, found a string (\"80\")",
                "spec.ports[0].name: expected a string, found a whole number (8080)",
                "spec.publishNotReadyAddresses: expected a boolean, found a string (\"true\")",
                "spec.selector.version: expected a string, found a decimal number (1.0)",
                "spec.externalIPs: expected a list, found a string (\"192.0.2.1\")",
            ])
        #expect(found.map(\.location?.line) == [10, 10, 11, 12, 13])
        #expect(found.map(\.location?.column) == [28, 42, 37, 33, 24])
        #expect(found.first?.fix == "remove the quotes: port: 80")
        #expect(found[3].fix == "quote the value so it stays text: version: \"1.0\"")
    }

    @Test("bad addresses in JSON are errors at the value's line and column")
    func badAddresses() {
        let text = jsonService(
            """
            "clusterIP": "10.0.0.300",
            "externalIPs": ["192.0.2.1", "not-an-ip"],
            "loadBalancerSourceRanges": ["10.1.2.3/8"],
            "ports": [{"port": 80}]
            """)
        let found = errors(text, file: "svc.json")
        #expect(
            found.map(\.message) == [
                "spec.clusterIP: \"10.0.0.300\" is not a valid IP address",
                "spec.externalIPs[1]: \"not-an-ip\" is not a valid IP address",
                "spec.loadBalancerSourceRanges[0]: \"10.1.2.3/8\" has host bits set",
            ])
        #expect(
            found.map(\.location) == [
                SourceLocation(file: "svc.json", line: 10, column: 22),
                SourceLocation(file: "svc.json", line: 11, column: 38),
                SourceLocation(file: "svc.json", line: 12, column: 38),
            ])
    }

    @Test("columns count characters, not bytes, after non-ASCII text")
    func columnsCountCharacters() throws {
        let text =
            #"{"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "annotations": {"note": "café ☕︎ 🍰"}}, "spec": {"prots": []}}"#
        let error = try #require(errors(text, file: "svc.json").first { $0.message.hasPrefix("unknown field") })
        #expect(error.message == "unknown field \"spec.prots\"")
        let prefix = text[..<text.range(of: "\"prots\"")!.lowerBound]
        #expect(error.location == SourceLocation(file: "svc.json", line: 1, column: prefix.unicodeScalars.count + 1))
        // The next line is counted afresh; a later non-ASCII line counts from its own start.
        let lines =
            "{\"apiVersion\": \"v1\", \"kind\": \"Service\", \"metadata\": {\"name\": \"web\", \"annotations\": {\"a\": \"é\",\n"
            + "  \"b\": \"x\", \"c\": 1}, \"nme\": \"x\"},\n \"s\": \"☕\", \"spec\": {\"prots\": []}}"
        let found = errors(lines, file: "svc.json").filter { $0.message.hasPrefix("unknown field") }
        #expect(
            found.map(\.message) == [
                "unknown field \"metadata.nme\"", "unknown field \"s\"", "unknown field \"spec.prots\"",
            ])
        #expect(found.map(\.location?.line) == [2, 3, 3])
        #expect(found.map(\.location?.column) == [22, 2, 21])
    }

    @Test("CRLF line endings count as one line break")
    func crlf() throws {
        let text = jsonService(#""ports": [{"port": 80, "prot": 1}]"#).replacingOccurrences(of: "\n", with: "\r\n")
        let error = try #require(errors(text, file: "svc.json").last)
        #expect(error.location == SourceLocation(file: "svc.json", line: 10, column: 32))
    }

    @Test("strings are unescaped: quotes, backslashes, \\u escapes and surrogate pairs")
    func escapes() throws {
        let value = "say \"hi\"\\ \u{1}\t\n é 😀 /"
        let encoded = String(decoding: try JSONSerialization.data(withJSONObject: [value]), as: UTF8.self).dropFirst()
            .dropLast()
        let text =
            #"{"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", "addressType": "IPv4", "metadata": {"name": "web-1"}, "#
            + #""endpoints": [{"addresses": ["10.0.0.1"], "zone": "# + encoded
            + #"}, {"addresses": ["10.0.0.2"], "zone": "\u00e9\ud83d\ude00\/"}]}"#
        let slice = try #require(decoded(text, file: "slice.json")?.endpointSlices.first)
        #expect(slice.endpoints.map(\.zone) == [value, "é😀/"])
    }

    @Test("syntax errors name the place and what is wrong")
    func syntaxErrors() throws {
        let cases: [(text: String, message: String, line: Int, column: Int)] = [
            (
                "{\n  \"kind\": \"Service\"\n  \"apiVersion\": \"v1\"\n}",
                "expected \",\" or \"}\" after the value of \"kind\", found a string", 3, 3
            ),
            ("{\"kind\": \"Service\",}", "a comma after the last field of an object", 1, 20),
            ("{\"items\": [1, 2,]}", "a comma after the last item of a list", 1, 17),
            ("{\"kind\": \"Serv", "a string is not closed: the file ends inside it", 1, 15),
            ("{\"kind\": \"Ser\nvice\"}", "a string is not closed on its line", 1, 14),
            ("{kind: Service}", "expected a field name in double quotes, found \"k\"", 1, 2),
            ("{\"port\": 080}", "a JSON number does not start with 0", 1, 11),
            ("{\"port\": 80", "expected \",\" or \"}\" after the value of \"port\", found the end of the file", 1, 12),
            ("{\"a\": \"\\x\"}", "\\x is not a JSON escape", 1, 8),
            (
                "{\"a\": True}", "expected a value (a string, number, true, false, null, object or list), found \"T\"",
                1, 7
            ),
            ("{} {}", "unexpected text after the end of the JSON value", 1, 4),
        ]
        for (text, message, line, column) in cases {
            let found = errors(text, file: "broken.json")
            #expect(found.map(\.message) == ["JSON syntax error: " + message], "\(text)")
            #expect(found.first?.location == SourceLocation(file: "broken.json", line: line, column: column), "\(text)")
        }
    }

    @Test("text that starts like JSON but is YAML is read as YAML, unless the file is named .json")
    func yamlFlowMappings() throws {
        let flow = "{apiVersion: v1, kind: Service, metadata: {name: web}, spec: {ports: [{port: 80}]}}\n"
        #expect(decoded(flow, file: "svc.yaml")?.services.map(\.meta.name) == ["web"])
        #expect(decoded(flow, file: "<stdin>")?.services.map(\.meta.name) == ["web"])
        #expect(errors(flow, file: "svc.json").first?.message.hasPrefix("JSON syntax error") == true)
        let two =
            #"{"apiVersion": "v1", "kind": "Service", "metadata": {"name": "a"}, "spec": {"ports": [{"port": 80}]}}"#
            + "\n---\n"
            + #"{"apiVersion": "v1", "kind": "Service", "metadata": {"name": "b"}, "spec": {"ports": [{"port": 80}]}}"#
        #expect(decoded(two, file: "two.yaml")?.services.map(\.meta.name) == ["a", "b"])
    }

    @Test("a key given twice in one object is an error at the second")
    func duplicateKeys() throws {
        let text =
            "{\n  \"apiVersion\": \"v1\",\n  \"kind\": \"Service\",\n  \"kind\": \"Pod\",\n  \"metadata\": {\"name\": \"web\"}, \"spec\": {\"ports\": [{\"port\": 80}]}\n}"
        let error = try #require(errors(text, file: "dup.json").first)
        #expect(error.message == "key \"kind\" appears more than once in the same mapping")
        #expect(error.location == SourceLocation(file: "dup.json", line: 4, column: 3))
        let many = (0..<40).map { "\"k\($0)\": \"v\"" }.joined(separator: ", ")
        let labels =
            #"{"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "labels": {"# + many
            + #", "k7": "w"}}, "spec": {"ports": [{"port": 80}]}}"#
        #expect(
            errors(labels, file: "dup.json").map(\.message) == ["key \"k7\" appears more than once in the same mapping"]
        )
    }

    @Test("a List's items are read one at a time, each checked at its own lines")
    func listItems() throws {
        let list = """
            {
                "apiVersion": "v1",
                "items": [
                    {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "a"}, "spec": {"ports": [{"port": 80}]}},
                    null,
                    {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "b"}, "spec": {"ports": [{"prot": 80}]}},
                    {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"x": "y"}}
                ],
                "kind": "List",
                "metadata": {"resourceVersion": "", "continu": ""}
            }
            """
        let found = errors(list, file: "list.json")
        #expect(
            found.map(\.message) == [
                "items[1]: empty list item",
                "spec.ports[0]: the port number is missing",
                "unknown field \"spec.ports[0].prot\"",
                "unknown field \"metadata.continu\"",
            ])
        #expect(found.map(\.location?.line) == [5, 6, 6, 10])
        let fixed = list.replacingOccurrences(of: "null,\n", with: "").replacingOccurrences(of: "prot", with: "port")
            .replacingOccurrences(of: "continu\"", with: "continue\"")
        #expect(decoded(fixed, file: "list.json")?.services.map(\.meta.name) == ["a", "b"])
    }

    @Test("an object that is not a List but has items is read whole: its items are not decoded as objects")
    func itemsOfAnotherKind() throws {
        let text = """
            {"apiVersion": "v1", "items": [{"apiVersion": "v1", "kind": "Service", "metadata": {"name": "x"}}], "kind": "Service", "metadata": {"name": "web"}, "spec": {"ports": [{"port": 80}]}}
            """
        let found = errors(text, file: "svc.json")
        #expect(found.map(\.message) == ["unknown field \"items\""])
        #expect(found.first?.location?.column == 22)
        let notAList = text.replacingOccurrences(
            of: "\"kind\": \"Service\", \"metadata\": {\"name\": \"web\"}",
            with: "\"kind\": \"ConfigMap\", \"metadata\": {\"name\": \"web\"}")
        #expect(decoded(notAList, file: "cm.json")?.services.isEmpty == true)
    }

    @Test("JSON numbers are numbers: an exponent or a fraction is not a port")
    func numbers() {
        let found = errors(
            jsonService(
                #""ports": [{"port": 8e1}, {"port": -0, "name": "b"}, {"port": 99999999999999999999, "name": "c"}]"#),
            file: "svc.json")
        #expect(
            found.map(\.message).sorted()
                == [
                    "spec.ports[0].port: expected a whole number, found a decimal number (8e1)",
                    "spec.ports[2].port: 99999999999999999999 is not a usable whole number",
                    "spec.ports[0]: a Service with more than one port must name every port",
                    "spec.ports[1].port: port 0 is out of range",
                ].sorted())
    }

    @Test("hostile input is an error, never a crash: deep nesting, bytes that are not UTF-8")
    func hostileInput() throws {
        let deep = String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000)
        #expect(
            errors("{\"a\": \(deep)}", file: "deep.json").first?.message
                == "JSON syntax error: objects and lists are nested more than 256 levels deep")
        let bytes =
            Array(#"{"apiVersion": "v1", "kind": "Service", "metadata": {"name": "w"#.utf8) + [0xC3, 0x28]
            + Array(#""}}"#.utf8)
        let error = try #require(throws: InputError.self) { try ManifestLoader.decode(json: bytes, source: "event") }
        #expect(error.errors.map(\.message) == ["JSON syntax error: the file is not valid UTF-8 text"])
        #expect(error.errors.first?.location == SourceLocation(file: "event", line: 1, column: 64))
    }

    @Test("one object given as bytes (a watch event's object) decodes with the caller's source name")
    func objectFromBytes() throws {
        let object = Data(
            #"{"kind":"EndpointSlice","apiVersion":"discovery.k8s.io/v1","metadata":{"name":"web-x1","namespace":"shop","labels":{"kubernetes.io/service-name":"web"}},"addressType":"IPv4","endpoints":[{"addresses":["10.244.1.5"],"conditions":{"ready":true}}],"ports":[{"port":8080}]}"#
                .utf8)
        let set = try ManifestLoader.decode(json: object, source: "watch endpointslices shop/web-x1")
        let slice = try #require(set.endpointSlices.first)
        #expect(slice.serviceName == "web")
        #expect(
            slice.endpoints.first?.addresses.first?.location
                == SourceLocation(file: "watch endpointslices shop/web-x1", line: 1, column: 202))
        let broken = Data(
            String(decoding: object, as: UTF8.self).replacingOccurrences(of: "10.244.1.5", with: "10.244.1").utf8)
        let error = try #require(throws: InputError.self) { try ManifestLoader.decode(json: broken, source: "watch") }
        #expect(
            error.errors.map(\.description) == [
                "watch:1:202: error: endpoints[0].addresses[0]: \"10.244.1\" is not a valid IP address\n  fix: write an IPv4 address such as 10.0.0.10 or an IPv6 address such as fd00::10"
            ])
    }

    @Test("the same object in YAML and in JSON decodes to the same values")
    func sameAsYAML() throws {
        let yaml = """
            apiVersion: v1
            kind: Service
            metadata: {name: web, namespace: shop, labels: {app: web}}
            spec:
              type: NodePort
              selector: {app: web}
              externalIPs: [192.0.2.10]
              sessionAffinity: ClientIP
              ports:
              - {name: http, port: 80, targetPort: http, nodePort: 30080}
              - {name: dns, port: 53, protocol: UDP, targetPort: 5353}
            """
        let json = """
            {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": "shop", "labels": {"app": "web"}},
             "spec": {"type": "NodePort", "selector": {"app": "web"}, "externalIPs": ["192.0.2.10"], "sessionAffinity": "ClientIP",
              "ports": [{"name": "http", "port": 80, "targetPort": "http", "nodePort": 30080},
                        {"name": "dns", "port": 53, "protocol": "UDP", "targetPort": 5353}]}}
            """
        let fromYAML = try #require(decoded(yaml, file: "svc.yaml")?.services.first)
        let fromJSON = try #require(decoded(json, file: "svc.json")?.services.first)
        func withoutLocations(_ service: ServiceManifest) -> ServiceManifest {
            var service = service
            let nowhere = SourceLocation(file: "", line: 0, column: 0)
            service.meta.location = nowhere
            service.ports = service.ports.map { port in
                var port = port
                port.location = nowhere
                port.nodePort = port.nodePort.map { Located($0.value, at: nowhere) }
                return port
            }
            service.externalIPs = service.externalIPs.map { Located($0.value, at: nowhere) }
            return service
        }
        #expect(withoutLocations(fromYAML) == withoutLocations(fromJSON))
        #expect(fromJSON.ports.map(\.location.line) == [3, 4])
    }
}

@Suite("JSON files read piece by piece")
struct JSONFileTests {
    /// A List of several MiB, so that the file is read in several pieces whose edges fall inside
    /// strings, escapes, multi-byte characters, numbers and literals.
    static func bigList(services: Int) -> String {
        var items: [String] = []
        for index in 0..<services {
            items.append(
                """
                {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "svc-\(index)", "namespace": "ns-\(index % 7)",
                 "annotations": {"note": "caf\\u00e9 \\ud83d\\ude00 \\"quoted\\" ☕ \(String(repeating: "x", count: index % 13))"},
                 "labels": {"app": "svc-\(index)"}}, "spec": {"clusterIP": "10.96.\(index / 250).\(index % 250 + 1)",
                 "ports": [{"name": "http", "port": \(80 + index % 100), "targetPort": 8080}, {"name": "dns", "port": 53, "protocol": "UDP"}],
                 "publishNotReadyAddresses": \(index % 2 == 0 ? "true" : "false"), "selector": {"app": "svc-\(index)"}},
                 "status": {"loadBalancer": {}, "conditions": null}}
                """)
        }
        // At the end, text that is kept (annotations are read, then dropped).
        items.append(
            #"{"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", "addressType": "IPv4", "metadata": {"name": "last"}, "#
                + #""endpoints": [{"addresses": ["10.0.0.1"], "zone": "caf\u00e9 \ud83d\ude00 \"quoted\" ☕ xxxxxxxx"}]}"#
        )
        return "{\"apiVersion\": \"v1\", \"items\": [\n" + items.joined(separator: ",\n")
            + "\n], \"kind\": \"List\", \"metadata\": {\"resourceVersion\": \"\"}}\n"
    }

    @Test("a file read in pieces decodes as the same text in memory does", arguments: [0, 1, 3, 7])
    func piecesAgreeWithMemory(shift: Int) throws {
        let text = String(repeating: " ", count: shift) + Self.bigList(services: 9_000)
        #expect(text.utf8.count > 3 * 1_048_576)
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("nfcompile-big-\(UUID()).json")
        try text.write(to: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: file) }
        let fromFile = try ManifestLoader.load(paths: [file.path])
        let fromMemory = try ManifestLoader.decode(text, file: file.path)
        #expect(fromFile.services.count == 9_000)
        #expect(fromFile == fromMemory)
        #expect(fromFile.endpointSlices.last?.endpoints.last?.zone == "café 😀 \"quoted\" ☕ xxxxxxxx")
    }

    @Test("an error in a file read in pieces is found at its line and column")
    func errorsInPieces() throws {
        let text = Self.bigList(services: 9_000).replacingOccurrences(of: "\"port\": 53,", with: "\"port\": 53,,")
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("nfcompile-big-\(UUID()).json")
        try text.write(to: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: file) }
        let error = try #require(throws: InputError.self) { try ManifestLoader.load(paths: [file.path]) }
        let memory = try #require(throws: InputError.self) { try ManifestLoader.decode(text, file: file.path) }
        #expect(error.diagnostics == memory.diagnostics)
        #expect(
            error.diagnostics.map(\.message) == [
                "JSON syntax error: expected a field name in double quotes, found \",\""
            ])
        #expect(error.diagnostics.first?.location?.line == 5)
    }

    @Test("the cache sees an edit of a large JSON file, and reuses it when nothing changed")
    func cache() throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("nfcompile-big-\(UUID()).json")
        try Self.bigList(services: 3_000).write(to: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: file) }
        let cache = ManifestCache()
        let first = try ManifestLoader.load(paths: [file.path], cache: cache)
        #expect(try ManifestLoader.load(paths: [file.path], cache: cache) == first)
        try Self.bigList(services: 3_000).replacingOccurrences(of: "\"svc-2999\"", with: "\"svc-x\"")
            .write(to: file, atomically: false, encoding: .utf8)
        let edited = try ManifestLoader.load(paths: [file.path], cache: cache)
        #expect(edited.services.last?.meta.name == "svc-x")
    }
}
