import Foundation

/// Timing and process helpers for the benchmark.
enum Measure {
    /// Seconds taken by `body`.
    static func seconds<T>(_ body: () throws -> T) rethrows -> (T, Double) {
        let clock = ContinuousClock()
        let start = clock.now
        let result = try body()
        return (result, (clock.now - start).seconds)
    }

    /// The median of `runs` timings (the machine is shared and noisy).
    static func median(runs: Int, _ body: () throws -> Void) rethrows -> Double {
        var timings: [Double] = []
        for _ in 0..<runs { timings.append(try seconds(body).1) }
        return timings.sorted()[timings.count / 2]
    }

    static func percentile(_ values: [Double], _ p: Double) -> Double {
        let sorted = values.sorted()
        guard !sorted.isEmpty else { return 0 }
        return sorted[min(sorted.count - 1, Int((Double(sorted.count - 1) * p).rounded()))]
    }

    /// Peak resident memory of this process so far, in MiB: VmHWM, not getrusage's ru_maxrss,
    /// which Linux carries over from the parent across fork and exec.
    /// Resident memory now, after giving freed pages back to the kernel (what is really in use).
    static var residentMiB: Double { statusMiB("VmRSS:") }

    /// The resident memory that is not a file's pages (code and libraries): the heap and stacks.
    static var anonymousMiB: Double { statusMiB("RssAnon:") }

    /// A field of /proc/self/status, once freed memory is given back.
    private static func statusMiB(_ field: String) -> Double {
        _ = returnFreedMemory(0)
        let status = (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) ?? ""
        let line = status.split(separator: "\n").first { $0.hasPrefix(field) } ?? ""
        return (line.split(separator: " ").compactMap { Double($0) }.first ?? 0) / 1024
    }

    static var peakMemoryMiB: Double {
        let status = (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) ?? ""
        let line = status.split(separator: "\n").first { $0.hasPrefix("VmHWM:") } ?? ""
        let kilobytes = line.split(separator: " ").compactMap { Double($0) }.first ?? 0
        return kilobytes / 1024
    }

    /// Runs a program and returns its standard output; throws with its standard error.
    @discardableResult
    static func run(_ arguments: [String], input: String? = nil) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = arguments
        let output = Pipe()
        let errors = FileManager.default.temporaryDirectory.appendingPathComponent("bench-\(UUID()).err")
        _ = FileManager.default.createFile(atPath: errors.path, contents: nil)
        defer { try? FileManager.default.removeItem(at: errors) }
        process.standardOutput = output
        let errorFile = try FileHandle(forWritingTo: errors)
        defer {
            try? errorFile.close()
            try? output.fileHandleForReading.close()
        }
        process.standardError = errorFile
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            let message = (try? String(contentsOf: errors, encoding: .utf8)) ?? ""
            throw BenchError("`\(arguments.prefix(6).joined(separator: " "))…` failed: \(message.prefix(500))")
        }
        return String(decoding: data, as: UTF8.self)
    }
}

struct BenchError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

extension Duration {
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}

/// A throwaway network namespace for one measurement, removed afterwards.
final class ScratchNamespace {
    let name = "nfcbench-\(getpid())-\(UUID().uuidString.prefix(8))"

    init() throws { try Measure.run(["ip", "netns", "add", name]) }

    deinit { _ = try? Measure.run(["ip", "netns", "delete", name]) }

    /// Seconds `nft -f` takes to load `text` into this namespace.
    func timeNftLoad(_ text: String) throws -> Double {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("\(name).nft")
        try text.write(to: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: file) }
        return try Measure.seconds { try Measure.run(["ip", "netns", "exec", name, "nft", "-f", file.path]) }.1
    }
}

/// glibc's `malloc_trim`, which Swift's Glibc module does not export.
@_silgen_name("malloc_trim")
private func returnFreedMemory(_ pad: Int) -> Int32
