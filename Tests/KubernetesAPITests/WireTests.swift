import Foundation
import Lab
import Testing

@testable import KubernetesAPI

/// The API server's JSON read structurally, and the pacing of requests; no server.
@Suite struct WireTests {
    @Test func aListPageIsCutIntoObjectsWithTheirTypeFieldsPutBack() throws {
        let body = #"""
            {"kind":"ServiceList","apiVersion":"v1","metadata":{"resourceVersion":"1042","continue":"eyJydiI6MTA0Mn0"},
             "items":[{"metadata":{"name":"web","namespace":"shop","resourceVersion":"1001","annotations":{"note":"a \"quoted\" }{ ][","endpoints.kubernetes.io/last-change-trigger-time":"2026-12-01T10:00:00Z"}},"spec":{}},
                      {"metadata":{"name":"db","namespace":"shop","resourceVersion":"1002"}}]}
            """#
        let page = try ListPage(Array(body.utf8), kind: .service)
        #expect(page.resourceVersion == "1042")
        #expect(page.continueToken == "eyJydiI6MTA0Mn0")
        #expect(
            page.items.map(\.summary.key) == [
                ObjectKey(namespace: "shop", name: "web"), ObjectKey(namespace: "shop", name: "db"),
            ])
        #expect(page.items[0].summary.lastChangeTriggerTime == "2026-12-01T10:00:00Z")
        #expect(page.items[1].summary.lastChangeTriggerTime == nil)
        let object = try JSONSerialization.jsonObject(with: Data(page.items[0].bytes)) as? [String: Any]
        #expect(object?["kind"] as? String == "Service")
        #expect(object?["apiVersion"] as? String == "v1")
        #expect((object?["metadata"] as? [String: Any])?["name"] as? String == "web")
    }

    @Test func anObjectThatHasItsTypeFieldsKeepsItsBytes() throws {
        let text =
            #"{"apiVersion":"discovery.k8s.io/v1","kind":"EndpointSlice","metadata":{"name":"a","namespace":"n","resourceVersion":"7"}}"#
        let object = try WireObject(JSONScanner(Array(text.utf8)), 0..<text.utf8.count, kind: .endpointSlice)
        #expect(object.bytes == Array(text.utf8))
    }

    @Test func aWatchStreamIsFramedHoweverTheChunksFall() throws {
        let events = [
            #"{"type":"ADDED","object":{"kind":"Service","apiVersion":"v1","metadata":{"name":"a}","namespace":"n","resourceVersion":"5"}}}"#,
            #"{"type":"BOOKMARK","object":{"kind":"Service","apiVersion":"v1","metadata":{"resourceVersion":"9"}}}"#,
            #"{"type":"ERROR","object":{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"too old resource version: 5 (9)","reason":"Expired","code":410}}"#,
        ]
        let stream = Array(events.joined(separator: "\n").utf8) + [0x0A]
        for chunkSize in [1, 3, 17, stream.count] {
            var framer = JSONStreamFramer()
            var objects: [[UInt8]] = []
            var index = 0
            while index < stream.count {
                objects += try framer.append(stream[index..<min(stream.count, index + chunkSize)])
                index += chunkSize
            }
            #expect(objects.map { String(decoding: $0, as: UTF8.self) } == events, "chunks of \(chunkSize)")
            #expect(!framer.hasPartialObject)
        }
        var framer = JSONStreamFramer()
        let decoded = try framer.append(stream).map { try WatchEvent($0, kind: .service) }
        guard case .added(let object) = decoded[0] else {
            Issue.record("not ADDED: \(decoded[0])")
            return
        }
        #expect(object.summary.name == "a}")
        guard case .bookmark(let resourceVersion) = decoded[1] else {
            Issue.record("not BOOKMARK")
            return
        }
        #expect(resourceVersion == "9")
        guard case .error(let code, let reason, let message) = decoded[2] else {
            Issue.record("not ERROR")
            return
        }
        #expect(code == 410 && reason == "Expired" && message.contains("too old"))
    }

    @Test func aCutStreamLeavesAPartialObject() throws {
        var framer = JSONStreamFramer()
        let objects = try framer.append(Array(#"{"type":"ADDED","object":{"metadata":{"name":"#.utf8))
        #expect(objects.isEmpty)
        #expect(framer.hasPartialObject)
    }

    @Test func malformedInputThrowsInsteadOfTrapping() {
        let inputs = [
            #"{"items":[{"metadata":{"name":"a""#, #"{"items":[}"#, "[1,2]", #"{"a" 1}"#, "", "{",
            #"{"items":[{"metadata":{}}],"metadata":{"resourceVersion":"1"}}"#,
        ]
        for input in inputs {
            #expect(throws: JSONSyntaxError.self, "\(input)") { try ListPage(Array(input.utf8), kind: .service) }
        }
        var framer = JSONStreamFramer()
        #expect(throws: JSONSyntaxError.self) { try framer.append(Array("<html>".utf8)) }
    }

    @Test func stringEscapesAreResolved() throws {
        let text = #""a\"b\\c\/d\n\u00e9\ud83d\ude00""#
        let scanner = JSONScanner(Array(text.utf8))
        #expect(try scanner.string(in: 0..<text.utf8.count) == "a\"b\\c/d\né😀")
    }

    @Test func triggerTimesParseWithAndWithoutFractions() throws {
        let whole = try #require(RFC3339.date("2026-11-30T09:13:02Z"))
        let nano = try #require(RFC3339.date("2026-11-30T09:13:02.417355123Z"))
        #expect(abs(nano.timeIntervalSince(whole) - 0.417355123) < 1e-6)
        #expect(RFC3339.date("yesterday") == nil)
    }

    @Test func triggerTimesParseAsFoundationReadsThem() throws {
        let foundation = Date.ISO8601FormatStyle(includingFractionalSeconds: true)
        let zones = [("Z", 0), ("+01:00", 3600), ("-07:30", -27_000), ("+14:00", 50_400), ("z", 0)]
        // Every 997,331 seconds (11.5 days, so every time of day comes round) from 1900 to 2200.
        for (step, seconds) in stride(from: -2_208_988_800, to: 7_258_118_400, by: 997_331).enumerated() {
            let date = Date(timeIntervalSince1970: Double(seconds))
            let (zone, offset) = zones[step % zones.count]
            var components = Calendar(identifier: .gregorian).dateComponents(
                in: try #require(TimeZone(secondsFromGMT: offset)), from: date)
            components.nanosecond = 0
            let text = String(
                format: "%04d-%02d-%02dT%02d:%02d:%02d%@%@", components.year!, components.month!, components.day!,
                components.hour!, components.minute!, components.second!, step % 3 == 0 ? ".25" : "", zone)
            let expected = try foundation.parse(text.replacingOccurrences(of: "z", with: "Z"))
            #expect(RFC3339.date(text) == expected, "\(text)")
        }
        for wrong in [
            "2026-02-29T00:00:00Z", "2026-13-01T00:00:00Z", "2026-12-01T24:00:00Z", "2026-12-01T10:00:00",
            "2026-12-01 10:00:00Z", "2026-12-01T10:00:00.Z", "2026-12-01T10:00:00+0100", "2026-12-01T10:00:00Zjunk",
            "26-12-01T10:00:00Z", "",
        ] {
            #expect(RFC3339.date(wrong) == nil, "\(wrong)")
        }
        #expect(RFC3339.date("2024-02-29T23:59:59.999999999+00:00") != nil)
    }

    @Test func timesAreWrittenAsFoundationWritesThem() {
        let foundation = Date.ISO8601FormatStyle(includingFractionalSeconds: true)
        let fractions = [0, 0.25, 0.5, 0.125, 0.875]
        for (step, seconds) in stride(from: -2_208_988_800, to: 7_258_118_400, by: 997_331).enumerated() {
            let date = Date(timeIntervalSince1970: Double(seconds) + fractions[step % fractions.count])
            #expect(RFC3339.string(date) == foundation.format(date))
            #expect(RFC3339.date(RFC3339.string(date)) == date)
        }
    }

    @Test func theSourceNamesTheObject() {
        let slice = ObjectChange(
            kind: .endpointSlice, namespace: "default", name: "web-abc12", resourceVersion: "1", object: [])
        #expect(slice.source == "api:EndpointSlice default/web-abc12")
        #expect(
            ObjectChange(kind: .node, namespace: "", name: "node-a", resourceVersion: "1", object: nil).source
                == "api:Node node-a")
    }

    @Test func nodeFactsFromARealNode() throws {
        let bytes = try Array(Data(contentsOf: Repository.fixture("api/node-a.json")))
        let facts = try #require(NodeFacts(json: bytes))
        #expect(facts.name == "node-a")
        #expect(facts.zone == "zone-a")
        #expect(facts.podCIDRs == ["10.244.1.0/24", "fd00:10:244:1::/64"])
        #expect(!facts.isBeingDeleted && !facts.isTaintedToBeDeleted)
    }

    // MARK: - Pacing

    @Test func theTokenBucketAllowsTheBurstThenTheRate() {
        var bucket = TokenBucket(qps: 5, burst: 10)
        let start = ContinuousClock.now
        let waits = (0..<12).map { _ in bucket.reserve(at: start) }
        #expect(waits.prefix(10).allSatisfy { $0 == .zero })
        #expect(waits[10] == .milliseconds(200))
        #expect(waits[11] == .milliseconds(400))
        // A second later five tokens are back, less the two already promised.
        #expect(bucket.reserve(at: start + .seconds(1)) == .zero)
        #expect(bucket.reserve(at: start + .seconds(1)) == .zero)
    }

    @Test func backoffDoublesToItsMaximumWithJitterAndResets() {
        var backoff = Backoff(initial: .milliseconds(800), maximum: .seconds(30), factor: 2, jitter: 1)
        let delays = (0..<8).map { _ in backoff.delay(random: 0) }
        #expect(
            delays == [
                .milliseconds(800), .milliseconds(1600), .milliseconds(3200), .milliseconds(6400), .milliseconds(12800),
                .milliseconds(25600), .seconds(30), .seconds(30),
            ])
        backoff.reset()
        #expect(backoff.delay(random: 0.5) == .milliseconds(1200), "jitter adds up to the whole delay")
        #expect(backoff.delay(random: 0.99) <= .seconds(30))
    }

    @Test func queryValuesArePercentEncoded() {
        #expect(
            APIClient.queryString([("labelSelector", "!service.kubernetes.io/headless,a=b"), ("limit", "500")])
                == "?labelSelector=%21service.kubernetes.io%2Fheadless%2Ca%3Db&limit=500")
    }
}
