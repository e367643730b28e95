#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif
import CBLAS
import PolyKernels

/// Which OpenBLAS kernel family runs, and the fix for a CPU the library does not know.
///
/// A DYNAMIC_ARCH OpenBLAS picks its kernels from the CPU model when it loads. A release
/// older than the CPU does not know the model and falls back to generic SSE3 kernels
/// ("Prescott"): Debian's 0.3.21 on a recent Xeon runs sgemm at a fifth of the speed it
/// reaches with `OPENBLAS_CORETYPE=SkylakeX`. The choice is made before `main` runs, so
/// the only fix is to start the process again with the variable set (`StartupEnvironment`).
public enum BLASCore {
    /// The kernel family OpenBLAS runs, e.g. "Haswell", "SkylakeX", "Cooperlake".
    public static var name: String { String(cString: openblas_get_corename()) }

    /// OpenBLAS's build line: version, DYNAMIC_ARCH, the kernel family, thread limit.
    public static var configuration: String {
        String(cString: openblas_get_config()).trimmingTrailingSpaces()
    }

    /// The vector extensions of this CPU, as `pk_cpu_vector_level` counts them.
    public static let cpuVectorLevel = Int(pk_cpu_vector_level())

    /// The level of vector extensions each OpenBLAS x86 family's kernels use; families
    /// not listed are left alone (a newer library's names are newer kernels).
    static let familyLevels: [String: Int] = [
        "katmai": 0, "coppermine": 0, "northwood": 0, "prescott": 0, "banias": 0, "atom": 0,
        "core2": 0, "penryn": 0, "dunnington": 0, "nehalem": 0, "athlon": 0, "opteron": 0,
        "opteron_sse3": 0, "barcelona": 0, "nano": 0, "bobcat": 0,
        "sandybridge": 1, "bulldozer": 1, "piledriver": 1, "steamroller": 1,
        "haswell": 2, "zen": 2, "excavator": 2,
        "skylakex": 3, "cooperlake": 4, "sapphirerapids": 4,
    ]

    /// The family to run instead of `core`, or nil to keep it: only a family below AVX2 on
    /// a CPU that has AVX2 is replaced, with the family OpenBLAS itself picks for a CPU of
    /// that level it knows. A value the user set (`userSet`) is always kept.
    public static func replacement(for core: String, cpuLevel: Int, userSet: Bool) -> String? {
        guard !userSet, cpuLevel >= 2, let level = familyLevels[core.lowercased()], level < 2 else { return nil }
        switch cpuLevel {
        case 2: return "Haswell"
        case 3: return "SkylakeX"
        default: return "Cooperlake"
        }
    }

    /// True when the running family's kernels stop below AVX2 on a CPU that has AVX2.
    public static var isGenericOnThisCPU: Bool {
        guard cpuVectorLevel >= 2, let level = familyLevels[name.lowercased()] else { return false }
        return level < 2
    }

    /// Environment variable a re-started process finds the replaced family in.
    static let replacedKey = "POLYCOM_BLAS_REPLACED"

    /// `OPENBLAS_CORETYPE` (and the family it replaces) for `StartupEnvironment`'s re-start
    /// when OpenBLAS runs generic kernels on a CPU it does not know; none otherwise.
    static func startupVariables(_ env: ProcessEnvironment) -> [(name: String, value: String)] {
        let core = name
        guard let target = replacement(for: core, cpuLevel: cpuVectorLevel, userSet: env["OPENBLAS_CORETYPE"] != nil)
        else { return [] }
        return [("OPENBLAS_CORETYPE", target), (replacedKey, core)]
    }

    /// One line for logs: the family that runs and why.
    public static var summary: String {
        let env = ProcessEnvironment()
        var line = "BLAS: OpenBLAS \(name) kernels"
        if let replaced = env[replacedKey] {
            line += " (OpenBLAS took this CPU for \(replaced); OPENBLAS_CORETYPE=\(name) set by polycom)"
        } else if env["OPENBLAS_CORETYPE"] != nil {
            line += " (OPENBLAS_CORETYPE from the environment)"
        }
        if isGenericOnThisCPU {
            line += "; warning: generic kernels on a CPU with AVX2\(cpuVectorLevel >= 3 ? "/AVX-512" : ""), matrix products run several times slower"
        }
        return line
    }
}

private extension String {
    func trimmingTrailingSpaces() -> String {
        var s = Substring(self)
        while let last = s.last, last == " " || last == "\n" { s = s.dropLast() }
        return String(s)
    }
}
