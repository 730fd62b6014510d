/// JSON text through `JSONReader`: the object is read and decoded; a `kind: List` item by item as
/// the reader reaches them, so its items never stand in memory together.
enum JSONInput {
    /// The decoded objects and every diagnostic; `readable` is false on a syntax error (the set is then empty).
    static func decode(
        _ bytes: UnsafeBufferPointer<UInt8>, source: SourceFile, itemBatchNodes: Int = ListItemDecoder.batchNodes
    ) -> (set: ManifestSet, diagnostics: [Diagnostic], readable: Bool) {
        decode(source: source, itemBatchNodes: itemBatchNodes) { JSONReader(bytes) }
    }

    /// `reader` gives a reader from the start of the input, each time it is called (a second time
    /// for an object that is not a List but has items); nil when the input cannot be read again.
    /// A List's items are decoded on a second thread in batches of `itemBatchNodes` nodes.
    static func decode(
        source: SourceFile, itemBatchNodes: Int = ListItemDecoder.batchNodes, reader makeReader: () -> JSONReader?
    ) -> (set: ManifestSet, diagnostics: [Diagnostic], readable: Bool) {
        guard var reader = makeReader() else { return (ManifestSet(), [cannotReadAgain(source)], false) }
        var top = Document()
        let itemDecoder = ListItemDecoder(file: source, batchNodes: itemBatchNodes)
        var streamedItems = false
        let read: Result<Void, JSONReader.SyntaxError> = Result { () throws(JSONReader.SyntaxError) in
            // kubectl prints `items` before `kind`, so the items are decoded before it is known that
            // they are a List's; for any other kind they are dropped and the object read again whole.
            try reader.read(into: &top) { document, root, index, isLast in
                streamedItems = true
                itemDecoder.receive(&document, root: root, index: index, isLast: isLast)
            }
        }
        var (decoder, items) = itemDecoder.finish()
        do {
            try read.get()
            let isList = top.withRoot { $0.kind == .mapping && $0[field: "kind"]?.hasText("List") == true } ?? false
            if streamedItems, !isList {
                top.removeAll()
                decoder = ObjectDecoder(file: source)
                items = ManifestSet()
                guard let again = makeReader() else { return (ManifestSet(), [cannotReadAgain(source)], false) }
                reader = again
                try reader.read(into: &top)
            }
        } catch {
            let syntax = Diagnostic.error(
                at: source.location(line: error.line, column: error.column), error.message, fix: error.fix)
            return (ManifestSet(), [syntax], false)
        }
        var set = ManifestSet()
        top.withRoot { decoder.decode($0, into: &set) }
        set.append(items)
        let duplicates = reader.duplicateKeys.map { key in
            Diagnostic.error(
                at: source.location(line: key.line, column: key.column),
                "key \"\(key.name)\" appears more than once in the same mapping",
                fix: "keep one of them: the fields of an object must have different names")
        }
        return (set, decoder.diagnostics + duplicates, true)
    }

    private static func cannotReadAgain(_ source: SourceFile) -> Diagnostic {
        .error(
            at: nil, "cannot read \(source.name) again (it was removed or changed while being read?)", fix: "run again")
    }
}
