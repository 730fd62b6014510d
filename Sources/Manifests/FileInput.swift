import Foundation

/// A manifest file's bytes, read from disk a piece at a time as the JSON reader reaches them and
/// given back behind it, so that reading a large `kind: List` costs the memory of what it decodes
/// to, not of its size.
///
/// The bytes live in an anonymous mapping as large as the file: pages not read yet are zeros, which
/// the JSON reader accepts nowhere, so it stops at the edge of what has been read and asks for more
/// (`JSONReader.unit`); the pages behind each decoded List item are dropped with MADV_DONTNEED. Not
/// a mapping of the file itself: a file truncated while mapped kills the reader with SIGBUS, and
/// the agent reads files that other programs are rewriting.
final class FileInput {
    /// The whole file's extent; only the first `filled` bytes have been read.
    let bytes: UnsafeBufferPointer<UInt8>
    private(set) var filled = 0
    /// True once the file has been read to its end (or to its size when it was opened).
    private(set) var isComplete = false
    /// Of the bytes read so far, in order.
    private(set) var digest = ContentDigest()
    private let descriptor: Int32
    /// How much is read at a time, at least.
    let step: Int
    static let defaultStep = 1 << 20
    private static let pageSize = Int(sysconf(Int32(_SC_PAGESIZE)))
    /// The bytes before this offset have been given back.
    private var released = 0

    /// Opens a regular file; nil when it is something else (a FIFO, a device), to be read another way.
    /// Throws the errno when it cannot be opened.
    init?(path: String, step: Int = defaultStep) throws(SystemError) {
        self.step = step
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw SystemError(errno) }
        var status = stat()
        guard fstat(descriptor, &status) == 0, status.st_mode & S_IFMT == S_IFREG else {
            close(descriptor)
            return nil
        }
        let size = Int(status.st_size)
        var base: UnsafeMutableRawPointer?
        if size > 0 {
            let mapping = mmap(nil, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
            guard let mapping, mapping != MAP_FAILED else {
                close(descriptor)
                throw SystemError(errno)
            }
            base = mapping
        }
        self.descriptor = descriptor
        bytes = UnsafeBufferPointer(start: base?.assumingMemoryBound(to: UInt8.self), count: size)
        isComplete = size == 0
    }

    deinit {
        if let base = bytes.baseAddress { munmap(UnsafeMutableRawPointer(mutating: base), bytes.count) }
        close(descriptor)
    }

    /// Reads until at least `end` bytes are in, or the file ends. Read errors end the file where they
    /// happen (the reader then reports it cut short).
    func fill(atLeast end: Int) {
        let target = min(bytes.count, max(end, filled + step))
        while !isComplete, filled < target {
            let destination = UnsafeMutableRawPointer(mutating: bytes.baseAddress! + filled)
            let count = read(descriptor, destination, target - filled)
            if count < 0, errno == EINTR { continue }
            guard count > 0 else {
                isComplete = true
                break
            }
            digest.add(UnsafeRawBufferPointer(start: destination, count: count))
            filled += count
            if filled == bytes.count { isComplete = true }
        }
    }

    func fillAll() { fill(atLeast: bytes.count) }

    /// Gives back the memory of the bytes before `offset`: they will not be read again. Done a few
    /// MiB at a time, since each call walks the page tables.
    func release(before offset: Int) {
        guard let base = bytes.baseAddress else { return }
        let end = min(offset, filled) / Self.pageSize * Self.pageSize
        guard end - released >= step || (end > released && end == filled / Self.pageSize * Self.pageSize) else {
            return
        }
        madvise(UnsafeMutableRawPointer(mutating: base + released), end - released, MADV_DONTNEED)
        released = end
    }

    /// The digest of the whole file, reading it through without keeping it.
    func digestOfAll() -> ContentDigest {
        while !isComplete {
            fill(atLeast: filled + step)
            release(before: filled)
        }
        return digest
    }

    /// The whole file as text; nil when it is not UTF-8.
    func text() -> String? {
        fillAll()
        return String(validating: UnsafeBufferPointer(rebasing: bytes[..<filled]), as: UTF8.self)
    }
}

/// A 128-bit digest of a file's bytes, to notice that it changed without keeping its text: two
/// multiply-rotate lanes over 8-byte words (not cryptographic; an edit that collides by chance has a
/// probability near 2^-128).
public struct ContentDigest: Hashable, Sendable {
    private var first: UInt64 = 0x9E37_79B9_7F4A_7C15
    private var second: UInt64 = 0xC2B2_AE3D_27D4_EB4F
    private var length = 0
    /// Bytes of a word not complete yet, low byte first.
    private var pending: UInt64 = 0

    init() {}

    init(_ text: String) {
        var text = text
        text.withUTF8 { add(UnsafeRawBufferPointer($0)) }
    }

    mutating func add(_ bytes: UnsafeRawBufferPointer) {
        var index = 0
        while index < bytes.count, length % 8 != 0 {
            addByte(bytes[index])
            index += 1
        }
        while index + 8 <= bytes.count {
            mix(bytes.loadUnaligned(fromByteOffset: index, as: UInt64.self))
            length += 8
            index += 8
        }
        while index < bytes.count {
            addByte(bytes[index])
            index += 1
        }
    }

    private mutating func addByte(_ byte: UInt8) {
        pending |= UInt64(byte) << (8 * UInt64(length % 8))
        length += 1
        if length % 8 == 0 {
            mix(pending)
            pending = 0
        }
    }

    private mutating func mix(_ word: UInt64) {
        first = ((first ^ word) &* 0x9FB2_1C65_1E98_DF25).rotated(by: 29)
        second = ((second &+ word) &* 0xD6E8_FEB8_6659_FD93).rotated(by: 31) ^ first
    }
}

extension UInt64 {
    fileprivate func rotated(by bits: UInt64) -> UInt64 { self << bits | self >> (64 - bits) }
}

/// An errno value, for messages.
struct SystemError: Error {
    var code: Int32
    init(_ code: Int32) { self.code = code }
    var message: String { String(cString: strerror(code)) }
}
