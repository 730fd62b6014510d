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

    /// An IPv4 address, address pair or frontend packs into one word, and different keys into
    /// different words; a bucket's key (a frontend and an index) takes two, and IPv6 more.
    @Test func shortKeysTakeOneWord() {
        let address = Value.address(IPAddress("10.0.0.1")!)
        let other = Value.address(IPAddress("10.0.0.2")!)
        let keys: [[Value]] = [[address], [other], [address, other], [other, address], [address, .tcp, .port(80)]]
        let words = keys.map { PackedKey($0).narrow?.word }
        #expect(words.allSatisfy { $0 != nil })
        #expect(Set(words.compactMap { $0 }).count == keys.count)
        #expect(PackedKey([address, .tcp, .port(80), .integer(1)]).narrow?.word == nil)
        #expect(PackedKey([address, .tcp, .port(80), .integer(1)]).narrow != nil)
        #expect(PackedKey([.address(IPAddress("fd00::1")!)]).narrow?.word == nil)
    }
}
