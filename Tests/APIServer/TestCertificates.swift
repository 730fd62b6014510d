import Foundation

/// A certificate authority made for one test run with Debian's `openssl`, in a temporary folder that
/// is removed with it: the server's certificate (for 127.0.0.1, ::1 and localhost) and client
/// certificates, each as PEM files and bytes.
public final class TestCertificateAuthority: Sendable {
    /// The folder holding every file; removed on deinit.
    public let folder: URL
    public let certificatePath: String
    public let keyPath: String

    /// A certificate and key pair issued by this CA.
    public struct Issued: Sendable {
        public let certificatePath: String
        public let keyPath: String
        public var certificatePEM: [UInt8] { Array(FileManager.default.contents(atPath: certificatePath) ?? Data()) }
        public var keyPEM: [UInt8] { Array(FileManager.default.contents(atPath: keyPath) ?? Data()) }
    }

    /// A new CA named `name` (its subject's common name).
    public init(name: String = "nfcompile-test-ca") throws {
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("nfcompile-ca-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        certificatePath = folder.appendingPathComponent("ca.crt").path
        keyPath = folder.appendingPathComponent("ca.key").path
        try Self.openssl([
            "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", keyPath, "-out", certificatePath, "-days", "2", "-subj", "/CN=\(name)",
            "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        ])
    }

    deinit { try? FileManager.default.removeItem(at: folder) }

    public var certificatePEM: [UInt8] { Array(FileManager.default.contents(atPath: certificatePath) ?? Data()) }

    /// The API server's certificate: valid for 127.0.0.1, ::1 and localhost.
    public func issueServerCertificate() throws -> Issued {
        try issue(
            name: "server", subject: "/CN=kube-apiserver",
            extensions: ["subjectAltName=IP:127.0.0.1,IP:::1,DNS:localhost", "extendedKeyUsage=serverAuth"])
    }

    /// A client certificate for `user` in `groups` (CN and O, as the API server reads them).
    public func issueClientCertificate(user: String, groups: [String] = []) throws -> Issued {
        let subject = "/CN=\(user)" + groups.map { "/O=\($0)" }.joined()
        return try issue(
            name: "client-\(user)-\(UUID().uuidString.prefix(8))", subject: subject,
            extensions: ["extendedKeyUsage=clientAuth"])
    }

    private func issue(name: String, subject: String, extensions: [String]) throws -> Issued {
        let key = folder.appendingPathComponent("\(name).key").path
        let request = folder.appendingPathComponent("\(name).csr").path
        let certificate = folder.appendingPathComponent("\(name).crt").path
        let extensionFile = folder.appendingPathComponent("\(name).ext").path
        try extensions.joined(separator: "\n").write(toFile: extensionFile, atomically: true, encoding: .utf8)
        try Self.openssl([
            "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", key, "-out", request, "-subj", subject,
        ])
        try Self.openssl([
            "x509", "-req", "-in", request, "-CA", certificatePath, "-CAkey", keyPath, "-CAcreateserial",
            "-out", certificate, "-days", "2", "-extfile", extensionFile,
        ])
        return Issued(certificatePath: certificate, keyPath: key)
    }

    private static func openssl(_ arguments: [String]) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
        process.arguments = arguments
        let errors = Pipe()
        process.standardOutput = FileHandle.nullDevice
        process.standardError = errors
        do {
            try process.run()
        } catch {
            throw TestServerError("cannot run /usr/bin/openssl (\(error)); scripts/setup installs it")
        }
        let message = errors.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw TestServerError(
                "openssl \(arguments.prefix(2).joined(separator: " ")) failed: \(String(decoding: message, as: UTF8.self))"
            )
        }
    }
}

/// A problem of the test server itself (not of the code under test).
public struct TestServerError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}
