import Foundation

/// word -> packed (id, start, end) tokens. Shared by all threads encoding with one tokenizer,
/// hence the lock; cleared when full so a long-running server keeps adapting to its traffic.
final class WordCache: @unchecked Sendable {
    static let maxWordLength = 256
    private static let capacity = 100_000
    private var map: [[UInt32]: [UInt64]] = [:]
    private let lock = NSLock()

    func get(_ word: [UInt32]) -> [UInt64]? {
        lock.lock(); defer { lock.unlock() }
        return map[word]
    }

    func set(_ word: [UInt32], _ value: [UInt64]) {
        lock.lock(); defer { lock.unlock() }
        if map.count >= Self.capacity { map.removeAll(keepingCapacity: true) }
        map[word] = value
    }
}
