import Kernels

/// A tensor a model expects: its canonical (HF) name and shape.
public struct WeightSpec: Sendable, Equatable {
    public let name: String
    public let shape: [Int]
    public init(_ name: String, _ shape: [Int]) {
        self.name = name
        self.shape = shape
    }
    public var count: Int { shape.reduce(1, *) }
}

extension CheckpointFolder {
    /// Resolves the checkpoint's tensors to the canonical names of `expected` (through the
    /// alias table) and checks every name and shape. All problems are reported in one error.
    /// `optional` names may be absent or present (a tied `lm_head.weight`). A q8 weight
    /// (SafeTensorsQ8) is bound as its I8 values under its name and its scales under
    /// `<name>.q8_scale`.
    public func bind(_ expected: [WeightSpec], optional: Set<String> = []) throws -> [String: Tensor] {
        var all: [String: Tensor] = [:]
        for name in tensorNames where !TensorNameAliases.isIgnored(name) {
            all[name] = try tensor(name)
        }
        let (raw, scales) = SafeTensorsQ8.fold(all)
        let wanted = Dictionary(uniqueKeysWithValues: expected.map { ($0.name, $0.shape) })
        let canonical = try TensorNameAliases.canonicalize(raw, config: config, expected: Set(wanted.keys))
        var missing: [String] = []
        var misshaped: [String] = []
        var bound: [String: Tensor] = [:]
        for spec in expected {
            guard let t = canonical[spec.name] else { missing.append(spec.name); continue }
            if t.shape != spec.shape {
                misshaped.append("\(spec.name) is \(t.shape), expected \(spec.shape)")
            } else if t.dtype == .i8 {
                if let problem = SafeTensorsQ8.problem(spec.name, values: t, scales: scales[spec.name]) {
                    misshaped.append(problem)
                } else {
                    bound[spec.name] = t
                    bound[spec.name + SafeTensorsQ8.scaleSuffix] = scales[spec.name]
                }
            } else if !t.dtype.isFloatingPoint || t.dtype == .f64 {
                misshaped.append("\(spec.name) has dtype \(t.dtype.rawValue), expected F32, F16 or BF16")
            } else {
                bound[spec.name] = t
            }
        }
        let orphanScales = scales.keys.filter { canonical[$0]?.dtype != .i8 }.map { $0 + SafeTensorsQ8.scaleSuffix }
        let unexpected = (canonical.keys.filter { wanted[$0] == nil && !optional.contains($0) } + orphanScales).sorted()
        if !missing.isEmpty || !unexpected.isEmpty || !misshaped.isEmpty {
            throw CheckpointError.tensorMismatch(missing: missing, unexpected: unexpected, misshaped: misshaped)
        }
        return bound
    }
}
