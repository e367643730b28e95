#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif

/// Settings a process reads only as it starts: OpenBLAS's kernel family (`BLASCore`) and
/// glibc malloc's huge pages (`MallocHugePages`). When either needs a variable set, the
/// program is started once more, with all of them, through /proc/self/exe.
public enum StartupEnvironment {
    /// Call first thing in `main`, before any thread starts. Returns without doing anything
    /// when nothing needs setting, or when the re-start fails (the variables then put back,
    /// so the process runs on as it would have).
    public static func restartIfNeeded() {
        let env = ProcessEnvironment()
        let changes = BLASCore.startupVariables(env) + MallocHugePages.startupVariables(env)
        guard !changes.isEmpty else { return }
        let previous = changes.map { (name: $0.name, value: env[$0.name]) }
        for change in changes { setenv(change.name, change.value, 1) }
        execv("/proc/self/exe", CommandLine.unsafeArgv)
        for p in previous {
            if let value = p.value { setenv(p.name, value, 1) } else { unsetenv(p.name) }
        }
    }
}

/// Reads of the process environment (getenv), without Foundation.
struct ProcessEnvironment {
    subscript(key: String) -> String? { getenv(key).map { String(cString: $0) } }
}
