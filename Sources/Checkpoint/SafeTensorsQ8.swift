import Kernels

/// How q8 matrices are stored in a safetensors folder (`polycom convert --to q8`): the
/// weight `<name>` becomes `<name>.q8`, I8 [rows, cols] with values in [-127, 127], and
/// `<name>.q8_scale`, F16 [rows, ⌈cols/32⌉], one scale per block of 32 columns of a row
/// (the last block of a row may be shorter): weight ≈ scale · value. Everything else keeps
/// its name and dtype, and config.json is unchanged.
public enum SafeTensorsQ8 {
    public static let valueSuffix = ".q8"
    public static let scaleSuffix = ".q8_scale"

    /// Splits a file's tensors into plain ones (q8 values under their weight's name) and the
    /// scales by weight name.
    static func fold(_ raw: [String: Tensor]) -> (tensors: [String: Tensor], scales: [String: Tensor]) {
        var tensors: [String: Tensor] = [:], scales: [String: Tensor] = [:]
        for (name, t) in raw {
            if name.hasSuffix(scaleSuffix) {
                scales[String(name.dropLast(scaleSuffix.count))] = t
            } else if name.hasSuffix(valueSuffix) && t.dtype == .i8 {
                tensors[String(name.dropLast(valueSuffix.count))] = t
            } else {
                tensors[name] = t
            }
        }
        return (tensors, scales)
    }

    /// What is wrong with a bound q8 weight, or nil.
    static func problem(_ name: String, values: Tensor, scales: Tensor?) -> String? {
        guard let scales else { return "\(name)\(valueSuffix) has no \(name)\(scaleSuffix)" }
        guard values.shape.count == 2 else { return "\(name)\(valueSuffix) is not a matrix" }
        let expected = Matrix.q8ScaleShape(values.shape)
        if scales.dtype != .f16 || scales.shape != expected {
            return "\(name)\(scaleSuffix) is \(scales.dtype.rawValue) \(scales.shape), expected F16 \(expected)"
        }
        return nil
    }
}
