import Addressing
import Glibc
import Testing

@Suite struct IPAddressTests {
    @Test(arguments: ["10.96.0.1", "0.0.0.0", "255.255.255.255", "fd00::1", "2001:db8::", "::1"])
    func roundTrips(_ text: String) throws {
        let address = try #require(IPAddress(text))
        #expect(address.description == text)
    }

    @Test(arguments: ["10.96.0", "10.96.0.256", "10.96.0.1/32", "", "fd00:::1", "one", " 10.0.0.1"])
    func rejectsMalformed(_ text: String) {
        #expect(IPAddress(text) == nil)
    }

    /// IPv4 text is read as inet_pton reads it: every string of up to seven digits and dots, and
    /// every dotted quad of awkward octets (leading zeros, 256, empty, too long).
    @Test func readsIPv4AsInetPton() {
        func pton(_ text: String) -> IPAddress? {
            var raw = in_addr()
            guard inet_pton(AF_INET, text, &raw) == 1 else { return nil }
            return IPAddress(ipv4: UInt32(bigEndian: raw.s_addr))
        }
        var texts: [String] = [""]
        var level = [""]
        for _ in 1...7 {
            level = level.flatMap { prefix in ["0", "1", "2", "5", "9", "."].map { prefix + $0 } }
            texts += level
        }
        let octets = ["0", "00", "1", "01", "9", "10", "99", "100", "199", "255", "256", "300", "0255", "1000", ""]
        for a in octets {
            for b in octets {
                for c in octets {
                    texts += octets.map { "\(a).\(b).\(c).\($0)" }
                }
            }
        }
        texts += ["1.2.3.4.", ".1.2.3.4", "1..2.3", "1.2.3.4.5", "+1.2.3.4", "1.2.3.-4", "1.2.3.4 "]
        var mismatches: [String] = []
        for text in texts where IPAddress(text) != pton(text) { mismatches.append(text) }
        #expect(mismatches.isEmpty, "\(mismatches.prefix(10))")
        // inet_pton takes no leading zeros, so what it reads prints back as written.
        let printed = texts.filter { text in IPAddress(text).map { $0.description != text } ?? false }
        #expect(printed.isEmpty, "\(printed.prefix(10))")
    }

    @Test func familiesAndOrder() throws {
        let v4 = try #require(IPAddress("10.0.0.2"))
        let v6 = try #require(IPAddress("::2"))
        #expect(v4.family == .ipv4 && v6.family == .ipv6)
        #expect(IPAddress("10.0.0.1")! < v4)
        #expect(v4 < v6, "IPv4 sorts before IPv6")
        #expect(IPAddress(ipv4: 0x0A00_0001) == IPAddress("10.0.0.1"))
    }

    @Test func advancesWithCarry() {
        #expect(IPAddress("10.0.0.255")!.advanced(by: 1) == IPAddress("10.0.1.0"))
        #expect(IPAddress("10.96.0.0")!.advanced(by: 65_536 + 2) == IPAddress("10.97.0.2"))
        #expect(IPAddress("255.255.255.255")!.advanced(by: 1) == nil)
    }
}

@Suite struct IPNetworkTests {
    @Test func parsesAndContains() throws {
        let network = try #require(IPNetwork("10.96.0.0/12"))
        #expect(network.size == 1 << 20)
        #expect(network.contains(IPAddress("10.111.255.255")!))
        #expect(!network.contains(IPAddress("10.112.0.0")!))
        #expect(!network.contains(IPAddress("fd00::1")!))
        #expect(IPNetwork("fd00::/64")?.contains(IPAddress("fd00::abcd")!) == true)
        #expect(IPNetwork("10.0.0.7")?.description == "10.0.0.7/32")
    }

    @Test(arguments: ["10.96.0.1/12", "10.0.0.0/33", "10.0.0.0/", "10.0.0.0/+8", "fd00::/129", "x/8"])
    func rejectsMalformed(_ text: String) {
        #expect(IPNetwork(text) == nil)
    }
}
