import Addressing

extension Ruleset {
    /// The ruleset as an `nft -f` script that replaces each of our tables atomically: it declares
    /// the table (so the delete cannot fail), deletes it, and defines it anew, all in one
    /// transaction. Deterministic: equal rulesets give identical text.
    public func nftText() -> String {
        var output = ""
        for table in tables {
            let qualified = "\(table.family.rawValue) \(table.name)"
            output += "table \(qualified)\ndelete table \(qualified)\n"
            output += table.nftText()
        }
        return output
    }
}

extension Table {
    /// `table FAMILY NAME { … }` as nft writes it.
    public func nftText() -> String {
        // Written into one string as it goes: a table has hundreds of thousands of element lines.
        var output = "table \(family.rawValue) \(name) {\n"
        for (index, set) in sets.enumerated() {
            if index > 0 { output += "\n" }
            set.write(into: &output, indent: "\t")
        }
        for (index, chain) in chains.enumerated() {
            if index > 0 || !sets.isEmpty { output += "\n" }
            for line in chain.nftLines() { output += "\t" + line + "\n" }
        }
        output += "}\n"
        return output
    }
}

extension NamedSet {
    /// The set's block, each line after `indent`.
    func write(into output: inout String, indent: String) {
        func line(_ text: String) {
            output += indent
            output += text
            output += "\n"
        }
        line("\(isMap ? "map" : "set") \(name) {")
        line("\t" + typeDeclaration)
        if let capacity { line("\tsize \(capacity)") }
        if isDynamic { line("\tflags dynamic,timeout") }
        if isInterval { line("\tflags interval") }
        if !elements.isEmpty {
            line("\telements = {")
            for (index, element) in elements.enumerated() {
                output += indent
                output += "\t\t"
                element.write(into: &output)
                output += index == elements.count - 1 ? "\n" : ",\n"
            }
            line("\t}")
        }
        line("}")
    }

    /// Always `typeof`: it names the expressions, not just their types, so a set read back from
    /// the kernel (nft keeps typeof in the set's userdata) says exactly what was written.
    var typeDeclaration: String {
        let keyText = key.map(\.nftText).joined(separator: " . ")
        switch data {
        case .verdict?: return "typeof \(keyText) : verdict"
        case .fields(let fields)?: return "typeof \(keyText) : " + fields.map(\.nftText).joined(separator: " . ")
        case nil: return "typeof \(keyText)"
        }
    }
}

extension SetElement {
    /// `key comment "…" : data`, as inside `elements = { … }`.
    public var nftText: String {
        var text = ""
        write(into: &text)
        return text
    }

    func write(into output: inout String) {
        func writeValues(_ values: [Value]) {
            for (index, value) in values.enumerated() {
                if index > 0 { output += " . " }
                output += value.nftText
            }
        }
        writeValues(key)
        if let comment {
            output += " comment "
            output += quoted(comment)
        }
        switch data {
        case .verdict(let verdict)?:
            output += " : "
            output += verdict.nftText
        case .values(let values)?:
            output += " : "
            writeValues(values)
        case nil: break
        }
    }
}

extension Chain {
    func nftLines() -> [String] {
        var lines = ["chain \(name) {"]
        if let hook {
            lines.append(
                "\ttype \(hook.type.rawValue) hook \(hook.point.rawValue) priority \(hook.priority); policy accept;")
        }
        lines += rules.map { "\t" + $0.nftText }
        lines.append("}")
        return lines
    }
}

extension Rule {
    public var nftText: String { statements.map(\.nftText).joined(separator: " ") }
}

extension Statement {
    public var nftText: String {
        switch self {
        case .match(let field, let comparison, let value):
            let op = comparison == .equal ? "" : "!= "
            return "\(field.nftText) \(op)\(value.nftText)"
        case .matchMasked(let field, let mask, let comparison, let value):
            return "\(field.nftText) & \(hex(mask)) \(comparison.rawValue) \(hex(value))"
        case .destinationIsLocal:
            return "fib daddr type local"
        case .sourceIsLocal(let local):
            return local ? "fib saddr type local" : "fib saddr type != local"
        case .inputInterfaceName(let comparison, let name):
            return "iifname \(comparison == .equal ? "" : "!= ")\"\(name)\""
        case .connectionState(let states):
            return "ct state " + states.sorted().map(\.rawValue).joined(separator: ",")
        case .connectionDestinationTranslated:
            return "ct status dnat"
        case .lookup(let fields, let set):
            return fields.map(\.nftText).joined(separator: " . ") + " @\(set)"
        case .notInSet(let fields, let set):
            return fields.map(\.nftText).joined(separator: " . ") + " != @\(set)"
        case .verdictMap(let fields, let map):
            return fields.map(\.nftText).joined(separator: " . ") + " vmap @\(map)"
        case .setMarkBits(let bits):
            return "meta mark set meta mark | \(hex(bits))"
        case .toggleMarkBits(let bits):
            return "meta mark set meta mark ^ \(hex(bits))"
        case .destinationNATMap(let family, let fields, let map):
            let keyword = TableFamily(family).rawValue
            return "dnat \(keyword) to " + fields.map(\.nftText).joined(separator: " . ") + " map @\(map)"
        case .masquerade(let fullyRandom):
            return fullyRandom ? "masquerade fully-random" : "masquerade"
        case .reject(.tcpReset):
            return "reject with tcp reset"
        case .reject(.portUnreachable):
            return "reject"
        case .updateMap(let map, let key, let data, let timeout):
            let keyText = key.map(\.nftText).joined(separator: " . ")
            let dataText = data.map(\.nftText).joined(separator: " . ")
            return "update @\(map) { \(keyText) timeout \(timeout)s : \(dataText) }"
        case .verdict(let verdict):
            return verdict.nftText
        }
    }
}

extension Field {
    public var nftText: String {
        switch self {
        case .sourceAddress(let family): "\(TableFamily(family).rawValue) saddr"
        case .destinationAddress(let family): "\(TableFamily(family).rawValue) daddr"
        case .transportProtocol: "meta l4proto"
        case .destinationPort: "th dport"
        case .mark: "meta mark"
        case .randomBucket(let modulus): "numgen random mod \(modulus)"
        case .originalSourceAddress(let family): "ct original \(TableFamily(family).rawValue) saddr"
        case .originalDestinationAddress(let family): "ct original \(TableFamily(family).rawValue) daddr"
        case .originalDestinationPort: "ct original proto-dst"
        }
    }
}

extension Value {
    public var nftText: String {
        switch self {
        case .address(let address): address.description
        case .network(let network): network.description
        case .transportProtocol(let number):
            switch number {
            case 6: "tcp"
            case 17: "udp"
            case 132: "sctp"
            default: "\(number)"
            }
        case .port(let port): "\(port)"
        case .integer(let integer): "\(integer)"
        }
    }
}

extension Verdict {
    public var nftText: String {
        switch self {
        case .accept: "accept"
        case .drop: "drop"
        case .return: "return"
        case .jump(let chain): "jump \(chain)"
        case .goto(let chain): "goto \(chain)"
        }
    }
}

private func hex(_ value: UInt32) -> String { "0x" + String(value, radix: 16) }

/// A double-quoted nft string; nft has no escapes, so quotes inside are replaced.
private func quoted(_ text: String) -> String {
    guard text.utf8.contains(UInt8(ascii: "\"")) else { return "\"" + text + "\"" }
    return "\"" + String(text.map { $0 == "\"" ? "'" : $0 }) + "\""
}

extension Transaction {
    /// The transaction as nft commands, one per line: what `nft -f` would do to the same effect.
    public func nftText() -> String {
        operations.map { $0.nftText + "\n" }.joined()
    }
}

extension Operation {
    public var nftText: String {
        switch self {
        case .addTable(let table): return "add table \(table)"
        case .deleteTable(let table): return "delete table \(table)"
        case .addChain(let table, let chain):
            guard let hook = chain.hook else { return "add chain \(table) \(chain.name)" }
            return
                "add chain \(table) \(chain.name) { type \(hook.type.rawValue) hook \(hook.point.rawValue) priority \(hook.priority); policy accept; }"
        case .deleteChain(let table, let name): return "delete chain \(table) \(name)"
        case .flushChain(let table, let name): return "flush chain \(table) \(name)"
        case .addRule(let table, let chain, let rule): return "add rule \(table) \(chain) \(rule.nftText)"
        case .addSet(let table, let set):
            var flags = set.capacity.map { " size \($0);" } ?? ""
            if set.isInterval { flags += " flags interval;" }
            if set.isDynamic { flags += " flags dynamic,timeout;" }
            return "add \(set.isMap ? "map" : "set") \(table) \(set.name) { \(set.typeDeclaration);\(flags) }"
        case .deleteSet(let table, let name): return "delete set \(table) \(name)"
        case .addElements(let table, let set, let elements):
            return "add element \(table) \(set) { " + elements.map(\.nftText).joined(separator: ", ") + " }"
        case .deleteElements(let table, let set, let elements):
            return "delete element \(table) \(set) { "
                + elements.map { $0.key.map(\.nftText).joined(separator: " . ") }.joined(separator: ", ") + " }"
        }
    }
}
