/// Sorts keys ascending in place (heapsort: O(n log n), no extra memory). Not the standard library's sort:
/// each of its specialisations costs about 2.5 KB of libEdgeCore on armv7. The planner sorts request keys
/// with it, the journal its segments' first sequences.
func sortAscending(_ keys: inout [UInt64]) {
    func siftDown(_ start: Int, _ end: Int) {
        var root = start
        while 2 * root + 1 < end {
            var child = 2 * root + 1
            if child + 1 < end, keys[child] < keys[child + 1] { child += 1 }
            if keys[root] >= keys[child] { return }
            keys.swapAt(root, child)
            root = child
        }
    }
    var start = keys.count / 2
    while start > 0 {
        start -= 1
        siftDown(start, keys.count)
    }
    var end = keys.count
    while end > 1 {
        end -= 1
        keys.swapAt(0, end)
        siftDown(0, end)
    }
}
