import Foundation

/// Paths of the checkout and of its test fixtures, for tests.
public enum Repository {
    /// The checkout's root (this file is Tests/Lab/Repository.swift).
    public static let root = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    public static let rules = root.appendingPathComponent("rules")

    /// A file or folder of `Tests/Fixtures` (the tutorial's manifests as published, Bookinfo,
    /// microservices-demo). Throws when it is missing, so tests fail with the reason instead of skipping.
    public static func fixture(_ relative: String) throws -> URL {
        let url = root.appendingPathComponent("Tests/Fixtures").appendingPathComponent(relative)
        guard FileManager.default.fileExists(atPath: url.path) else {
            throw LabError("missing test fixture \(url.path)")
        }
        return url
    }

    /// The example scenarios: every directory under rules/.
    public static func scenarios() throws -> [URL] {
        try FileManager.default.contentsOfDirectory(at: rules, includingPropertiesForKeys: nil)
            .filter { $0.hasDirectoryPath }
            .sorted { $0.lastPathComponent < $1.lastPathComponent }
    }

    /// Whether golden files should be re-recorded: only on purpose, with NFCOMPILE_RECORD=1.
    public static var isRecording: Bool { ProcessInfo.processInfo.environment["NFCOMPILE_RECORD"] == "1" }
}

extension Repository {
    /// The built `nfcompile` binary, found next to the running test bundle in the build folder.
    public static let binary: URL = {
        var directory = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        while !FileManager.default.fileExists(atPath: directory.appendingPathComponent("nfcompile").path),
            directory.path != "/"
        {
            directory.deleteLastPathComponent()
        }
        return directory.appendingPathComponent("nfcompile")
    }()
}
