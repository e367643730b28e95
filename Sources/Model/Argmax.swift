/// First index of the largest value (ties → lowest index, as torch.argmax).
public func argmax(_ values: UnsafeBufferPointer<Float>) -> Int {
    var best = 0
    for i in 1..<values.count where values[i] > values[best] { best = i }
    return best
}
