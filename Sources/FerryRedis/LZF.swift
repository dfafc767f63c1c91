/// LZF, the compression Redis applies to strings in RDB files and `DUMP` payloads (RDB string
/// encoding 3: compressed length, plain length, data; liblzf's `lzf_d.c`).
enum LZF {
    /// LZF decompression (liblzf's `lzf_decompress`, as Redis writes compressed strings) into
    /// `out`; false when the input is malformed or does not expand to exactly `size` bytes.
    static func decompress(_ input: UnsafeRawBufferPointer, size: Int, into out: inout [UInt8]) -> Bool {
        // A back reference of 3 bytes expands to at most 264: a larger `size` is malformed, and
        // is refused before anything is allocated for it.
        guard size >= 0, size < 1 << 32, size <= input.count * 88 else { return false }
        guard size > 0 else { out.removeAll(keepingCapacity: true); return input.isEmpty }
        guard let source = input.baseAddress else { return false }
        out.removeAll(keepingCapacity: true)
        out.append(contentsOf: repeatElement(0, count: size))
        var ok = true
        out.withUnsafeMutableBufferPointer { o in
            let base = o.baseAddress!
            let bytes = source.assumingMemoryBound(to: UInt8.self)
            var i = 0, n = 0
            let count = input.count
            while i < count {
                let control = Int(bytes[i]); i += 1
                if control < 32 {
                    // A literal run of control + 1 bytes: one copy when long enough to pay for it.
                    let run = control + 1
                    guard i + run <= count, n + run <= size else { ok = false; return }
                    if run < 16 {
                        for k in 0..<run { base[n + k] = bytes[i + k] }
                    } else {
                        (base + n).update(from: bytes + i, count: run)
                    }
                    i += run; n += run
                } else {
                    var run = control >> 5
                    if run == 7 { guard i < count else { ok = false; return }; run += Int(bytes[i]); i += 1 }
                    guard i < count else { ok = false; return }
                    let distance = ((control & 0x1F) << 8) + 1 + Int(bytes[i]); i += 1
                    run += 2
                    guard distance <= n, n + run <= size else { ok = false; return }
                    let reference = base + n - distance
                    if run < 16 {
                        // Short (most are): byte by byte, which also repeats an overlap's pattern.
                        for k in 0..<run { base[n + k] = reference[k] }
                    } else if distance >= run {
                        // Apart: one copy.
                        (base + n).update(from: reference, count: run)
                    } else if distance == 1 {
                        // One byte repeated (the commonest overlap): one fill.
                        (base + n).update(repeating: reference.pointee, count: run)
                    } else {
                        // Overlapping: the pattern of `distance` bytes repeats. Copied a period at
                        // a time, each copy reading only bytes already written.
                        var done = 0
                        while done < run {
                            let step = min(distance, run - done)
                            (base + n + done).update(from: reference + done, count: step)
                            done += step
                        }
                    }
                    n += run
                }
            }
            ok = ok && n == size
        }
        return ok
    }

    /// The same into a new array; nil when malformed. Never grows past `size` bytes, whatever
    /// the input (a hostile file's back references cannot expand without bound).
    static func decompress(_ input: [UInt8], size: Int) -> [UInt8]? {
        var out: [UInt8] = []
        let ok = input.withUnsafeBytes { decompress($0, size: size, into: &out) }
        return ok ? out : nil
    }
}
