/// Binary min-heap ordered by (rank, position), the order of HF's `Merge` Ord impl.
struct MergeHeap {
    struct Entry {
        var key: UInt64      // rank << 32 | pos
        var merged: Int32
        var pos: Int32 { Int32(truncatingIfNeeded: key & 0xFFFF_FFFF) }
    }
    private var items: [Entry] = []

    mutating func push(rank: Int32, pos: Int32, merged: Int32) {
        let entry = Entry(key: UInt64(UInt32(bitPattern: rank)) << 32 | UInt64(UInt32(bitPattern: pos)), merged: merged)
        items.append(entry)
        items.withUnsafeMutableBufferPointer { h in
            // Sift the hole up, writing each displaced parent once.
            var i = h.count - 1
            while i > 0 {
                let parent = (i - 1) >> 1
                if h[parent].key <= entry.key { break }
                h[i] = h[parent]
                i = parent
            }
            h[i] = entry
        }
    }

    mutating func pop() -> Entry? {
        guard let last = items.popLast() else { return nil }
        if items.isEmpty { return last }
        return items.withUnsafeMutableBufferPointer { h in
            let top = h[0]
            // Sift the hole down from the root, then drop the former last entry into it.
            let n = h.count
            var i = 0
            while true {
                let l = 2 * i + 1
                if l >= n { break }
                var child = l
                if l + 1 < n && h[l + 1].key < h[l].key { child = l + 1 }
                if h[child].key >= last.key { break }
                h[i] = h[child]
                i = child
            }
            h[i] = last
            return top
        }
    }
}
