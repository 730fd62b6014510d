import Addressing
import Ruleset
import Testing

@Suite struct CanonicalTests {
    /// Five elements keyed (address . tcp . port) on three addresses; the first and third have equal keys.
    static func elements(_ addresses: [String]) -> [SetElement] {
        [(0, 80, "a"), (1, 443, "b"), (0, 80, "c"), (1, 80, "d"), (2, 8080, "e")].map { address, port, comment in
            SetElement(
                key: [.address(IPAddress(addresses[address])!), .tcp, .port(UInt16(port))], data: .verdict(.accept),
                comment: comment)
        }
    }

    /// IPv4 keys pack into two words, IPv6 ones into more: both sort numerically, field by field.
    @Test(
        "sortedByKey orders numerically and stably; unique keeps the first of equal keys",
        arguments: [
            (["10.0.0.10", "10.0.0.9", "10.0.0.1"], ["e", "d", "b", "a", "c"]),
            (["fd00::10", "fd00::9", "fc00::ffff"], ["e", "d", "b", "a", "c"]),
        ])
    func sortedByKeyAndUnique(addresses: [String], order: [String]) {
        let elements = Self.elements(addresses)
        #expect(elements.sortedByKey().map(\.comment) == order)
        #expect(elements.sortedByKey(unique: true).map(\.comment) == order.filter { $0 != "c" })
        #expect([SetElement]().sortedByKey(unique: true).isEmpty)
        #expect([elements[0]].sortedByKey(unique: true).map(\.comment) == ["a"])
    }
}
