import Addressing
import Ruleset
import Testing

@Suite struct CanonicalTests {
    func element(_ address: String, _ port: UInt16, _ comment: String) -> SetElement {
        SetElement(key: [.address(IPAddress(address)!), .tcp, .port(port)], data: .verdict(.accept), comment: comment)
    }

    @Test("sortedByKey orders numerically and stably; unique keeps the first of equal keys")
    func sortedByKeyAndUnique() {
        let elements = [
            element("10.0.0.10", 80, "a"), element("10.0.0.9", 443, "b"), element("10.0.0.10", 80, "c"),
            element("10.0.0.9", 80, "d"), element("10.0.0.10", 80, "e"),
        ]
        #expect(elements.sortedByKey().map(\.comment) == ["d", "b", "a", "c", "e"])
        #expect(elements.sortedByKey(unique: true).map(\.comment) == ["d", "b", "a"])
        #expect([SetElement]().sortedByKey(unique: true).isEmpty)
        #expect([elements[0]].sortedByKey(unique: true).map(\.comment) == ["a"])
    }

    @Test("keys longer than two words (IPv6) sort the same way")
    func wideKeys() {
        let elements = [
            element("fd00::10", 80, "a"), element("fd00::9", 443, "b"), element("fd00::10", 80, "c"),
            element("fd00::9", 80, "d"), element("fc00::ffff", 8080, "e"),
        ]
        #expect(elements.sortedByKey().map(\.comment) == ["e", "d", "b", "a", "c"])
        #expect(elements.sortedByKey(unique: true).map(\.comment) == ["e", "d", "b", "a"])
    }
}
