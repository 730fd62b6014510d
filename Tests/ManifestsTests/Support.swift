import Foundation
import Manifests
import Testing

/// `Tests/Fixtures`, found from this file's path (Tests/ManifestsTests/Support.swift → Tests).
func fixturesFolder(filePath: String = #filePath) throws -> URL {
    let tests = URL(fileURLWithPath: filePath).deletingLastPathComponent().deletingLastPathComponent()
    let folder = tests.appendingPathComponent("Fixtures")
    var isDirectory: ObjCBool = false
    let exists = FileManager.default.fileExists(atPath: folder.path, isDirectory: &isDirectory) && isDirectory.boolValue
    try #require(exists, "the test fixtures are missing: expected a folder at \(folder.path)")
    return folder
}

/// Every diagnostic for one text: the thrown ones on failure, the set's notes and warnings on success.
func diagnostics(_ text: String, file: String = "test.yaml") -> [Diagnostic] {
    do {
        return try ManifestLoader.decode(text, file: file).diagnostics
    } catch {
        return error.diagnostics
    }
}

func errors(_ text: String, file: String = "test.yaml") -> [Diagnostic] {
    diagnostics(text, file: file).filter { $0.severity == .error }
}

/// Decodes text that must have no errors; records an issue with the diagnostics otherwise.
func decoded(_ text: String, file: String = "test.yaml", sourceLocation: Testing.SourceLocation = #_sourceLocation)
    -> ManifestSet?
{
    do {
        return try ManifestLoader.decode(text, file: file)
    } catch {
        Issue.record("unexpected errors:\n\(error)", sourceLocation: sourceLocation)
        return nil
    }
}

/// `expand -t 2`: tabs to spaces up to the next multiple of two columns.
func expandTabs(_ text: String) -> String {
    text.split(separator: "\n", omittingEmptySubsequences: false).map { line in
        var result = ""
        for character in line {
            if character == "\t" {
                result += result.count % 2 == 0 ? "  " : " "
            } else {
                result.append(character)
            }
        }
        return result
    }.joined(separator: "\n")
}

/// A minimal valid Service document with the given spec lines (indented two spaces under spec).
func service(name: String = "web", _ specLines: String) -> String {
    """
    apiVersion: v1
    kind: Service
    metadata:
      name: \(name)
    spec:
    \(specLines.split(separator: "\n", omittingEmptySubsequences: false).map { "  " + $0 }.joined(separator: "\n"))

    """
}
