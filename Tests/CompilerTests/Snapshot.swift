import Foundation
import Lab
import Testing

/// The nft text checked in as `Tests/CompilerTests/Snapshots/NAME.nft`, reviewed like code:
/// `text` must equal it (NFCOMPILE_RECORD=1 writes it first), and nft must accept it.
func expectSnapshot(_ text: String, named name: String) throws {
    let snapshot = Repository.root.appendingPathComponent("Tests/CompilerTests/Snapshots/\(name).nft")
    if Repository.isRecording { try text.write(to: snapshot, atomically: true, encoding: .utf8) }
    let expected = try String(contentsOf: snapshot, encoding: .utf8)
    #expect(
        text == expected,
        "Tests/CompilerTests/Snapshots/\(name).nft is out of date: review, then re-record with NFCOMPILE_RECORD=1")
    try NftCheck.validate(expected)
}
