import Foundation

/// Decodes the items of a JSON `kind: List` as the reader hands them over, on a second thread once
/// the List is larger than one batch: reading and decoding take about the same time, so a large List
/// is read and decoded in little more than the time of reading it.
///
/// The reader appends items to a document; every `batchNodes` nodes the document goes to the decoding
/// thread and the reader goes on in an emptied one (at most `queuedBatches` wait), so memory stays that
/// of a few batches. Items are decoded in order by one `ObjectDecoder`, so objects and diagnostics come
/// out exactly as decoding on the reader's thread would give them; a List that fits in one batch is
/// decoded on the reader's thread and no thread is started.
final class ListItemDecoder: @unchecked Sendable {
    /// About a MiB of nodes and text: a few hundred objects.
    static let batchNodes = 1 << 15
    static let queuedBatches = 3

    private let batchNodes: Int

    private struct Batch {
        var document: Document
        /// Each item's root node and its index in the List.
        var items: [(root: Int, index: Int)] = []
    }

    // Owned by the decoding thread while it runs; by the reader's before it starts and after `finish`.
    private var decoder: ObjectDecoder
    private var set = ManifestSet()

    // Owned by the reader's thread.
    private var items: [(root: Int, index: Int)] = []
    private var thread: Thread?

    // Shared, under `condition`.
    private let condition = NSCondition()
    private var queue: [Batch] = []
    private var emptied: [Document] = []
    private var readerFinished = false
    private var decodingFinished = false

    init(file: SourceFile, batchNodes: Int = ListItemDecoder.batchNodes) {
        decoder = ObjectDecoder(file: file)
        self.batchNodes = batchNodes
    }

    /// Takes the item at `root` of `document` (the reader's `ItemReceiver`).
    func receive(_ document: inout Document, root: Int, index: Int, isLast: Bool) {
        items.append((root, index))
        guard document.nodeCount >= batchNodes || isLast else { return }
        let full = Batch(document: document, items: items)
        items = []
        if thread == nil {
            if isLast {  // the whole List in one batch
                decode(full)
                document.removeAll()
                return
            }
            start()
        }
        condition.lock()
        while queue.count >= Self.queuedBatches { condition.wait() }
        queue.append(full)
        document = emptied.popLast() ?? Document()
        condition.broadcast()
        condition.unlock()
    }

    /// Waits for every item handed over to be decoded (those of a List cut short by a syntax error
    /// too) and gives the decoder, with its diagnostics, and the objects.
    func finish() -> (decoder: ObjectDecoder, set: ManifestSet) {
        if thread != nil {
            condition.lock()
            readerFinished = true
            condition.broadcast()
            while !decodingFinished { condition.wait() }
            condition.unlock()
            thread = nil  // it holds its closure, which holds this decoder
        }
        return (decoder, set)
    }

    private func start() {
        let thread = Thread { [self] in decodeQueued() }
        // The decoder recurses into the object as deep as the reader allows (`JSONReader.maximumDepth`).
        thread.stackSize = 8 << 20
        thread.name = "nfcompile-decode"
        self.thread = thread
        thread.start()
    }

    private func decodeQueued() {
        while true {
            condition.lock()
            while queue.isEmpty, !readerFinished { condition.wait() }
            guard !queue.isEmpty else {
                decodingFinished = true
                condition.broadcast()
                condition.unlock()
                return
            }
            var batch = queue.removeFirst()
            condition.broadcast()
            condition.unlock()
            decode(batch)
            batch.document.removeAll()
            condition.lock()
            emptied.append(batch.document)
            condition.unlock()
        }
    }

    private func decode(_ batch: Batch) {
        for item in batch.items {
            batch.document.withRoot(at: item.root) { decoder.decodeListItem($0, index: item.index, into: &set) }
        }
    }
}
