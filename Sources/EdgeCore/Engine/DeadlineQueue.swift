/// A binary min-heap of items by deadline (monotonic ns); equal deadlines leave in insertion order.
struct DeadlineQueue<Item> {
    private struct Entry {
        var deadline: Int64
        var order: UInt64
        var item: Item
    }

    private var heap: [Entry] = []
    private var inserted: UInt64 = 0

    var isEmpty: Bool { heap.isEmpty }
    var count: Int { heap.count }
    var nextDeadline: Int64? { heap.first?.deadline }
    var next: (deadline: Int64, item: Item)? { heap.first.map { ($0.deadline, $0.item) } }

    mutating func insert(_ item: Item, deadline: Int64) {
        heap.append(Entry(deadline: deadline, order: inserted, item: item))
        inserted &+= 1
        var child = heap.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard precedes(heap[child], heap[parent]) else { break }
            heap.swapAt(child, parent)
            child = parent
        }
    }

    mutating func popFirst() -> (deadline: Int64, item: Item)? {
        guard !heap.isEmpty else { return nil }
        heap.swapAt(0, heap.count - 1)
        let first = heap.removeLast()
        var parent = 0
        while true {
            let left = 2 * parent + 1, right = left + 1
            var smallest = parent
            if left < heap.count, precedes(heap[left], heap[smallest]) { smallest = left }
            if right < heap.count, precedes(heap[right], heap[smallest]) { smallest = right }
            if smallest == parent { break }
            heap.swapAt(parent, smallest)
            parent = smallest
        }
        return (first.deadline, first.item)
    }

    /// The earliest deadline among items for which `include` is true (linear: for rare questions).
    func earliestDeadline(where include: (Item) -> Bool) -> Int64? {
        var earliest: Int64? = nil
        for entry in heap where include(entry.item) {
            if earliest.map({ entry.deadline < $0 }) ?? true { earliest = entry.deadline }
        }
        return earliest
    }

    private func precedes(_ a: Entry, _ b: Entry) -> Bool {
        a.deadline != b.deadline ? a.deadline < b.deadline : a.order < b.order
    }
}
