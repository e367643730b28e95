#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif

/// glibc's malloc with its heaps in transparent huge pages (`GLIBC_TUNABLES` with
/// `glibc.malloc.hugetlb=1`, glibc 2.35 on), which the usual `madvise` mode of the kernel
/// gives only on request. Like OpenBLAS's kernel family, the tunable is read only as the
/// process starts, so `StartupEnvironment` starts polycom once more with it set.
///
/// KV caches, activations and the prefix cache's entries are malloc'd. On 4 KiB pages every
/// fresh page costs a fault and the kernel's clearing of it, and on the virtual machines
/// measured that clearing was most of the difference: 16 HellaSwag-shaped documents with
/// `--bf16-prefill` (4-layer 1B-shaped model, the prefix cache filling as it does at the
/// start of an eval) spent 25% of their samples in clear_page_erms against 11% with the
/// tunable, took 102K page faults against 65K and 14.5 s of CPU against 8.2; over 9
/// alternated runs scoring was 1.04–1.44× as fast (median 1.21×). Prefill and decode did not
/// move beyond this host's noise.
/// `GLIBC_TUNABLES=glibc.malloc.hugetlb=0` (or any value naming the tunable) keeps the
/// user's choice.
public enum MallocHugePages {
    static let tunable = "glibc.malloc.hugetlb"
    /// Set in the re-started process, so its logs can say who set the tunable.
    static let setKey = "POLYCOM_MALLOC_HUGETLB_SET"

    /// `GLIBC_TUNABLES` with the tunable added to `current` (tunables are `:`-separated), or
    /// nil when `current` names it already.
    static func tunables(adding current: String?) -> String? {
        guard let current, !current.isEmpty else { return "\(tunable)=1" }
        if current.split(separator: ":").contains(where: { $0.hasPrefix(tunable + "=") }) { return nil }
        return current + ":\(tunable)=1"
    }

    /// Whether glibc `version` ("2.36") knows the tunable (2.35 on).
    static func knowsTunable(glibcVersion version: String) -> Bool {
        let parts = version.split(separator: ".").compactMap { Int($0) }
        guard parts.count >= 2 else { return false }
        return parts[0] > 2 || (parts[0] == 2 && parts[1] >= 35)
    }

    /// The running glibc's version, or nil (another C library).
    static var glibcVersion: String? {
        #if canImport(Glibc)
        var buffer = [CChar](repeating: 0, count: 64)
        guard confstr(Int32(_CS_GNU_LIBC_VERSION), &buffer, buffer.count) > 0 else { return nil }
        let text = String(cString: buffer) // "glibc 2.36"
        return text.hasPrefix("glibc ") ? String(text.dropFirst(6)) : nil
        #else
        return nil
        #endif
    }

    /// Whether the kernel offers transparent huge pages at all (its mode is not `never`).
    static var kernelOffersHugePages: Bool {
        guard let file = fopen("/sys/kernel/mm/transparent_hugepage/enabled", "r") else { return false }
        defer { fclose(file) }
        var line = [CChar](repeating: 0, count: 128)
        guard fgets(&line, Int32(line.count), file) != nil else { return false }
        return !String(cString: line).contains("[never]")
    }

    /// The variables a re-start sets, or none. None in a re-started process either, whatever
    /// it finds: a loader that drops GLIBC_TUNABLES (as glibc does for set-user-ID programs)
    /// must not start it again and again.
    static func startupVariables(_ env: ProcessEnvironment) -> [(name: String, value: String)] {
        guard env[setKey] == nil, let version = glibcVersion, knowsTunable(glibcVersion: version), kernelOffersHugePages,
              let value = tunables(adding: env["GLIBC_TUNABLES"]) else { return [] }
        return [("GLIBC_TUNABLES", value), (setKey, "1")]
    }

    /// One line for logs.
    public static var summary: String {
        let env = ProcessEnvironment()
        let named = env["GLIBC_TUNABLES"].map { tunables(adding: $0) == nil } ?? false
        guard named, let value = env["GLIBC_TUNABLES"]?.split(separator: ":").first(where: { $0.hasPrefix(tunable + "=") })
        else { return "malloc: 4 KiB pages (\(tunable) not set: no glibc 2.35+, or no transparent huge pages)" }
        return "malloc: \(value)" + (env[setKey] != nil ? " (set by polycom: heaps in transparent huge pages)" : " (GLIBC_TUNABLES from the environment)")
    }
}
