import Foundation
import ArgumentParser

/// `--tokens 5,17,42`: a comma-separated list of token ids.
struct TokenList: ExpressibleByArgument {
    let ids: [Int]
    init?(argument: String) {
        let parts = argument.split(separator: ",", omittingEmptySubsequences: false)
            .map { $0.trimmingCharacters(in: .whitespaces) }
        var ids: [Int] = []
        for p in parts {
            guard let id = Int(p), id >= 0 else { return nil }
            ids.append(id)
        }
        guard !ids.isEmpty else { return nil }
        self.ids = ids
    }
    static var defaultCompletionKind: CompletionKind { .default }
}
