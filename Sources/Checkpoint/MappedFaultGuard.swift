import MappedFaults
#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif

/// Makes a mapped file truncated while it is read a counted fault instead of a crash.
///
/// Each `MappedFile` registers its range (MappedFaults.c); once `install()` ran, a read of
/// a lost page maps zeros there and counts a fault on that file (`MappedFile.readFaults`),
/// and the read, on whatever thread, carries on with zeros. Install it only where the
/// counts are checked after the work that read the weights (the server fails that step's
/// requests): anywhere else a truncated file would quietly compute from zeros. A SIGBUS
/// elsewhere still prints a message and ends the process.
public enum MappedFaultGuard {
    /// Installs the process-wide SIGBUS handler; later calls do nothing.
    public static func install() throws {
        let error = mf_install()
        guard error == 0 else {
            throw CheckpointError.io(path: "SIGBUS handler", reason: "sigaction failed: " + String(cString: strerror(error)))
        }
    }

    public static var isInstalled: Bool { mf_installed() != 0 }
}
