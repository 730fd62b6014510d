import Addressing
import Foundation
import Manifests
import Yams

/// A kube-proxy configuration file (`kind: KubeProxyConfiguration`,
/// `kubeproxy.config.k8s.io/v1alpha1`, YAML or JSON) read as the agent's command-line options:
/// each field that has an nfcompile option becomes that option's argument, every other field is
/// named in a warning, and a file that cannot be used is an error with its file, line and a fix.
///
/// Flags given on the command line override the file, as kube-proxy's do (`arguments(given:)`).
public struct KubeProxyConfiguration: Sendable, Equatable {
    /// One option the file sets: the flag and its value (nil for a flag without one).
    public struct Argument: Sendable, Equatable {
        public var flag: String
        public var value: String?
        /// Where the file sets it.
        public var location: SourceLocation

        public var words: [String] { [flag] + (value.map { [$0] } ?? []) }
    }

    public static let apiVersion = "kubeproxy.config.k8s.io/v1alpha1"

    /// The options the file sets, in the file's order.
    public var arguments: [Argument]
    /// Fields nfcompile does not honour, each named with its place.
    public var warnings: [Diagnostic]

    /// Reads `path`. Throws `InputError` with every problem found when the file cannot be used.
    public init(path: String) throws(InputError) {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw InputError([
                .error(
                    at: nil, "cannot read the kube-proxy configuration \(path): \(error.localizedDescription)",
                    fix: "check the path given to --config")
            ])
        }
        try self.init(text: text, file: path)
    }

    /// Reads the text of a file named `file` (for diagnostics).
    public init(text: String, file: String) throws(InputError) {
        var reader = Reader(file: file)
        let root: Node?
        do {
            root = try Yams.compose(yaml: text)
        } catch let error as YamlError {
            throw InputError([reader.syntaxError(error)])
        } catch {
            throw InputError([.error(at: reader.location(nil), "\(error)", fix: "write the file as YAML or JSON")])
        }
        guard let root, let mapping = root.mapping else {
            throw InputError([
                .error(
                    at: reader.location(root), "a kube-proxy configuration must be a mapping of fields",
                    fix: "start the file with apiVersion: \(Self.apiVersion) and kind: KubeProxyConfiguration")
            ])
        }
        reader.read(mapping)
        if !reader.errors.isEmpty { throw InputError(reader.errors + reader.warnings) }
        arguments = reader.arguments
        warnings = reader.warnings
    }

    /// The arguments of the file that no flag of `given` overrides (`--flag value` or
    /// `--flag=value`), followed by `given`: what the agent parses.
    public func arguments(given: [String]) -> [String] {
        let flags = Set(given.map { $0.split(separator: "=", maxSplits: 1).first.map(String.init) ?? $0 })
        return arguments.filter { !flags.contains($0.flag) }.flatMap(\.words) + given
    }
}

/// Walks the file's fields, collecting arguments, warnings and errors.
private struct Reader {
    let file: String
    var arguments: [KubeProxyConfiguration.Argument] = []
    var warnings: [Diagnostic] = []
    var errors: [Diagnostic] = []

    init(file: String) { self.file = file }

    func location(_ node: Node?) -> SourceLocation {
        SourceLocation(file: file, line: node?.mark?.line ?? 1, column: node?.mark?.column ?? 1)
    }

    func syntaxError(_ error: YamlError) -> Diagnostic {
        switch error {
        case .scanner(_, let problem, let mark, _), .parser(_, let problem, let mark, _),
            .composer(_, let problem, let mark, _):
            return .error(
                at: SourceLocation(file: file, line: mark.line, column: mark.column),
                "the kube-proxy configuration is not valid YAML or JSON: \(problem)",
                fix: "fix the syntax at this place (YAML indents with spaces only)")
        default:
            return .error(at: location(nil), "the kube-proxy configuration cannot be read: \(error)")
        }
    }

    /// Fields that are read for what they say, not passed on.
    private static let header: Set<String> = ["apiVersion", "kind"]

    mutating func read(_ root: Node.Mapping) {
        var fields: [String: (key: Node, value: Node)] = [:]
        for (key, value) in root {
            guard let name = key.string else { continue }
            fields[name] = (key, value)
        }
        checkHeader(fields, root: root)
        for (key, value) in root {
            guard let name = key.string, !Self.header.contains(name) else { continue }
            read(field: name, key: key, value: value)
        }
    }

    private mutating func checkHeader(_ fields: [String: (key: Node, value: Node)], root: Node.Mapping) {
        let kind = fields["kind"]
        if kind?.value.string != "KubeProxyConfiguration" {
            errors.append(
                .error(
                    at: location(kind?.value ?? root.first?.key),
                    "kind is \(kind?.value.string.map { "'\($0)'" } ?? "missing"): --config takes a KubeProxyConfiguration",
                    fix: "set kind: KubeProxyConfiguration"))
        }
        let version = fields["apiVersion"]
        if version?.value.string != KubeProxyConfiguration.apiVersion {
            errors.append(
                .error(
                    at: location(version?.value ?? root.first?.key),
                    "apiVersion is \(version?.value.string.map { "'\($0)'" } ?? "missing"): nfcompile reads \(KubeProxyConfiguration.apiVersion)",
                    fix: "set apiVersion: \(KubeProxyConfiguration.apiVersion)"))
        }
    }

    private mutating func read(field name: String, key: Node, value: Node, in parent: String? = nil) {
        let path = parent.map { "\($0).\(name)" } ?? name
        switch path {
        case "clusterCIDR":
            networks(value, path: path, flag: "--cluster-cidr", text: value.string)
        case "nodePortAddresses":
            guard let list = strings(value, path: path) else { return }
            guard !list.isEmpty else { return }
            if let bad = list.first(where: { $0 != "primary" && IPNetwork($0) == nil }) {
                errors.append(
                    .error(
                        at: location(value), "nodePortAddresses: '\(bad)' is neither a CIDR nor primary",
                        fix: "write CIDRs such as 192.168.0.0/24, or primary"))
                return
            }
            add("--nodeport-addresses", list.joined(separator: ","), at: value)
        case "detectLocalMode":
            guard let mode = string(value, path: path) else { return }
            let modes = ["ClusterCIDR", "NodeCIDR", "InterfaceNamePrefix", "BridgeInterface"]
            guard !mode.isEmpty else { return }  // kube-proxy's default: ClusterCIDR
            guard modes.contains(mode) else {
                errors.append(
                    .error(
                        at: location(value), "detectLocalMode '\(mode)' is not a mode",
                        fix: "use one of \(modes.joined(separator: ", "))"))
                return
            }
            add("--detect-local-mode", mode, at: value)
        case "detectLocal.bridgeInterface":
            if let text = string(value, path: path), !text.isEmpty { add("--pod-bridge-interface", text, at: value) }
        case "detectLocal.interfaceNamePrefix":
            if let text = string(value, path: path), !text.isEmpty {
                add("--pod-interface-name-prefix", text, at: value)
            }
        case "masqueradeAll":
            if bool(value, path: path) == true { add("--masquerade-all", nil, at: value) }
        case "nftables.masqueradeBit":
            guard let bit = integer(value, path: path) else { return }
            guard (0...31).contains(bit) else {
                errors.append(
                    .error(at: location(value), "nftables.masqueradeBit \(bit) is not a bit", fix: "use 0 to 31"))
                return
            }
            add("--masquerade-bit", String(bit), at: value)
        case "syncPeriod", "nftables.syncPeriod":
            duration(value, path: path, flag: "--sync-period")
        case "minSyncPeriod", "nftables.minSyncPeriod":
            duration(value, path: path, flag: "--min-sync-period")
        case "healthzBindAddress":
            if let text = string(value, path: path), !text.isEmpty { add("--healthz-bind-address", text, at: value) }
        case "metricsBindAddress":
            if let text = string(value, path: path), !text.isEmpty { add("--metrics-bind-address", text, at: value) }
        case "hostnameOverride":
            if let text = string(value, path: path), !text.isEmpty { add("--node-name", text.lowercased(), at: value) }
        case "clientConnection.kubeconfig":
            if let text = string(value, path: path), !text.isEmpty { add("--kubeconfig", text, at: value) }
        case "bindAddress":
            // kube-proxy takes a specific bind address as the node's IP.
            guard let text = string(value, path: path), !text.isEmpty else { return }
            guard let address = IPAddress(text) else {
                errors.append(
                    .error(at: location(value), "bindAddress '\(text)' is not an IP address", fix: "write an address"))
                return
            }
            if !address.isUnspecified { add("--node-ip", text, at: value) }
        case "mode":
            if let mode = string(value, path: path), !["", "nftables"].contains(mode) {
                warnings.append(
                    .warning(
                        at: location(value), "mode '\(mode)' is not honoured: nfcompile programs nftables its own way",
                        fix: "remove mode, or set it to nftables"))
            }
        case "detectLocal", "nftables", "clientConnection":
            guard let mapping = value.mapping else {
                if value.null != nil { return }  // left out
                errors.append(
                    .error(
                        at: location(value), "\(path) must be a mapping of fields", fix: "indent its fields under it"))
                return
            }
            for (childKey, childValue) in mapping {
                guard let child = childKey.string else { continue }
                read(field: child, key: childKey, value: childValue, in: path)
            }
        default:
            // A field left at its zero value says nothing; one that is set is named.
            guard !value.isEmptyValue else { return }
            warnings.append(
                .warning(
                    at: location(key), "\(path) is not honoured by nfcompile and is ignored",
                    fix: "remove it, or see README \"Usage\" for the options nfcompile has"))
        }
    }

    /// The first field that sets a flag wins (`syncPeriod` and `nftables.syncPeriod`).
    private mutating func add(_ flag: String, _ value: String?, at node: Node) {
        guard !arguments.contains(where: { $0.flag == flag }) else { return }
        arguments.append(.init(flag: flag, value: value, location: location(node)))
    }

    private mutating func networks(_ node: Node, path: String, flag: String, text: String?) {
        guard let text else {
            if node.string == nil, node.sequence == nil { typeError(node, path: path, expected: "a string of CIDRs") }
            return
        }
        let parts = text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        guard !parts.isEmpty else { return }
        if let bad = parts.first(where: { IPNetwork($0) == nil }) {
            errors.append(
                .error(
                    at: location(node), "\(path): '\(bad)' is not a CIDR",
                    fix: "write networks such as 10.244.0.0/16,fd00:10:244::/56"))
            return
        }
        let families = parts.compactMap(IPNetwork.init).map(\.family)
        if Set(families).count != families.count {
            errors.append(
                .error(at: location(node), "\(path) has two networks of one family", fix: "keep one per family"))
            return
        }
        add(flag, parts.joined(separator: ","), at: node)
    }

    private mutating func duration(_ node: Node, path: String, flag: String) {
        guard let text = string(node, path: path), !text.isEmpty else { return }
        guard let milliseconds = GoDuration.milliseconds(text), milliseconds > 0 else {
            errors.append(
                .error(
                    at: location(node), "\(path) '\(text)' is not a positive duration",
                    fix: "write a duration such as 30s, 1m0s or 500ms"))
            return
        }
        add(flag, "\(milliseconds)ms", at: node)
    }

    private mutating func string(_ node: Node, path: String) -> String? {
        guard let scalar = node.scalar else {
            typeError(node, path: path, expected: "a string")
            return nil
        }
        return scalar.string
    }

    private mutating func strings(_ node: Node, path: String) -> [String]? {
        if node.scalar?.string == "" || node.null != nil { return [] }
        guard let sequence = node.sequence, sequence.allSatisfy({ $0.scalar != nil }) else {
            typeError(node, path: path, expected: "a list of strings")
            return nil
        }
        return sequence.compactMap(\.string)
    }

    private mutating func bool(_ node: Node, path: String) -> Bool? {
        guard let value = node.bool else {
            typeError(node, path: path, expected: "true or false")
            return nil
        }
        return value
    }

    private mutating func integer(_ node: Node, path: String) -> Int? {
        guard let value = node.int else {
            typeError(node, path: path, expected: "a whole number")
            return nil
        }
        return value
    }

    private mutating func typeError(_ node: Node, path: String, expected: String) {
        errors.append(
            .error(
                at: location(node), "\(path) must be \(expected)",
                fix: "write \(path) as kube-proxy's configuration reference describes it"))
    }
}

extension Node {
    /// A null, an empty string, list or mapping, false, zero or `0s`: a field left at its default
    /// (kubeadm writes every field, most of them so).
    fileprivate var isEmptyValue: Bool {
        if null != nil { return true }
        if let sequence { return sequence.isEmpty }
        if let mapping { return mapping.allSatisfy { $0.value.isEmptyValue } }
        if let bool { return !bool }
        if let int { return int == 0 }
        return string.map { ["", "0", "0s"].contains($0) } ?? false
    }
}

extension IPAddress {
    /// 0.0.0.0 or ::.
    fileprivate var isUnspecified: Bool { bytes.allSatisfy { $0 == 0 } }
}

/// Go's `time.Duration` text (`1m30s`, `500ms`, `1h`), as Kubernetes writes durations.
enum GoDuration {
    /// The duration in whole milliseconds; nil when the text is not a duration.
    static func milliseconds(_ text: String) -> Int64? {
        let units: [(String, Double)] = [
            ("ns", 1e-6), ("us", 1e-3), ("µs", 1e-3), ("ms", 1), ("s", 1000), ("m", 60_000), ("h", 3_600_000),
        ]
        var rest = Substring(text)
        var total = 0.0
        guard !rest.isEmpty else { return nil }
        if rest == "0" { return 0 }
        while !rest.isEmpty {
            let number = rest.prefix { $0.isNumber || $0 == "." }
            guard let value = Double(number) else { return nil }
            rest = rest.dropFirst(number.count)
            // Longest unit first: "ms" before "m", "ns" before nothing.
            guard
                let (unit, scale) = units.sorted(by: { $0.0.count > $1.0.count }).first(where: { rest.hasPrefix($0.0) })
            else { return nil }
            rest = rest.dropFirst(unit.count)
            total += value * scale
        }
        return Int64(total.rounded())
    }
}
