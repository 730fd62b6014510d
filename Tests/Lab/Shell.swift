import Foundation

/// Runs a program to completion and returns its standard output; throws with its standard
/// error when it fails. Tests use it for `ip`, `nft` and `socat`.
public enum Shell {
    public struct Failure: Error, CustomStringConvertible {
        public var command: [String]
        public var status: Int32
        public var standardError: String

        public var description: String {
            "`\(command.joined(separator: " "))` exited with status \(status): \(standardError)"
        }
    }

    @discardableResult
    public static func run(_ arguments: [String], input: String? = nil) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = arguments
        let output = Pipe()
        let errors = Pipe()
        process.standardOutput = output
        process.standardError = errors
        let inputPipe = input == nil ? nil : Pipe()
        process.standardInput = inputPipe ?? FileHandle.nullDevice
        // Every end closed here, not left to deinit: tests run hundreds of programs in parallel
        // and leaked pipe ends exhausted a 1,024-descriptor limit (Linux 6.1 guest).
        defer {
            try? output.fileHandleForReading.close()
            try? errors.fileHandleForReading.close()
            try? inputPipe?.fileHandleForWriting.close()
        }
        // Not waitUntilExit(): on Linux it polls its run loop every 50 ms, which made every
        // program cost 50 ms and a lab of a few pods take seconds.
        let exited = DispatchSemaphore(value: 0)
        process.terminationHandler = { _ in exited.signal() }
        try process.run()
        if let input, let inputPipe {
            // A program may exit before reading its input (socat that could not connect): the
            // write fails with EPIPE then, and the exit status below says what happened. The
            // non-throwing write(_:) crashed the test process on it.
            try? inputPipe.fileHandleForWriting.write(contentsOf: Data(input.utf8))
            try inputPipe.fileHandleForWriting.close()
        }
        // Read both pipes to the end before waiting, so a chatty program cannot block on a full pipe.
        let errorData = ErrorOutput()
        let done = DispatchSemaphore(value: 0)
        Thread {
            errorData.set(errors.fileHandleForReading.readDataToEndOfFile())
            done.signal()
        }.start()
        let outputData = output.fileHandleForReading.readDataToEndOfFile()
        exited.wait()
        done.wait()
        let standardError = String(decoding: errorData.value, as: UTF8.self)
        guard process.terminationStatus == 0 else {
            throw Failure(command: arguments, status: process.terminationStatus, standardError: standardError)
        }
        return String(decoding: outputData, as: UTF8.self)
    }

    /// Waits until a started program has exited, without `waitUntilExit()`'s 50 ms polling.
    public static func waitForExit(_ process: Process) {
        while process.isRunning { usleep(1_000) }
    }

    /// Starts a long-running program (a listener) and returns it; the caller terminates it.
    public static func start(_ arguments: [String]) throws -> Process {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = arguments
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        return process
    }
}

/// Standard error as read by its reader thread; the lock makes the hand-over safe.
private final class ErrorOutput: @unchecked Sendable {
    private let lock = NSLock()
    private var data = Data()

    func set(_ newValue: Data) { lock.withLock { data = newValue } }
    var value: Data { lock.withLock { data } }
}

/// nft's own parser and the kernel's validation, without touching any real ruleset.
public enum NftCheck {
    /// Runs `nft -c -f -` in a new, empty network namespace; throws nft's complaint.
    public static func validate(_ script: String) throws {
        try Shell.run(["unshare", "--net", "nft", "-c", "-f", "-"], input: script)
    }
}
