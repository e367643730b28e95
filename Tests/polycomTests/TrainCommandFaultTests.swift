#if canImport(Glibc)
import Glibc
#endif
import Checkpoint
import Foundation
import JSON
import Model
import TestSupport
import XCTest

/// Fault drills on `polycom train`'s saves: the disk filling up and a SIGKILL from outside,
/// both on real writes (no fault injection inside the save).
final class TrainCommandFaultTests: XCTestCase {
    let demo = repositoryRoot + "/Models/polynorm-demo"
    let data = fixturesDirectory + "/training/train.jsonl"
    /// A save every step, ~67 MB each (bf16 model, f32 master weights and moments).
    let args = ["--seq-len", "32", "--batch-size", "2", "--save-every", "1", "--seed", "3", "--threads", "1", "--val-fraction", "0.1"]

    var binary: String { Bundle.main.bundleURL.appendingPathComponent("polycom").path }

    /// The step-1 checkpoint of a two-step run, written to ordinary disk: the kill right after
    /// that save (the trainer's own fault point) stops the run before step 2 changes anything.
    func referenceStep1() throws -> String {
        let ref = temporaryDirectory() + "/ref"
        let r = try polycom(["train", "--model", demo, "--data", data, "--out", ref, "--steps", "2"] + args,
                            environment: ["POLYCOM_TRAIN_FAULT": "after-save:1"])
        XCTAssertNotEqual(r.status, 0)
        XCTAssertEqual(try step(of: ref), 1)
        return ref
    }

    func step(of folder: String) throws -> Int? {
        try JSONValue.parse(String(contentsOfFile: folder + "/trainer_state.json", encoding: .utf8))["step"]?.intValue
    }

    func folderBytes(_ folder: String) throws -> Int {
        try FileManager.default.contentsOfDirectory(atPath: folder).reduce(0) {
            $0 + ((try FileManager.default.attributesOfItem(atPath: folder + "/" + $1)[.size] as? Int) ?? 0)
        }
    }

    /// The disk fills during the step-2 save: the run fails naming the folder and the reason,
    /// and the step-1 checkpoint stays as it was, loadable, with nothing half-written beside it.
    /// As root: a tmpfs that holds one checkpoint and a half. Otherwise: RLIMIT_FSIZE (bash's
    /// `ulimit -f`, SIGXFSZ ignored so write fails with EFBIG instead) on a run resumed from step 1.
    func testDiskFullDuringASaveKeepsThePreviousCheckpoint() throws {
        let ref = try referenceStep1()
        let size = try folderBytes(ref)
        let out: String, r: RunResult, reason: String
        if let disk = smallFileSystem(bytes: size * 3 / 2) {
            out = disk + "/run"
            r = try polycom(["train", "--model", demo, "--data", data, "--out", out, "--steps", "2"] + args)
            reason = "No space left on device"
        } else {
            out = temporaryDirectory() + "/run"
            try FileManager.default.copyItem(atPath: ref, toPath: out)
            let largest = try FileManager.default.attributesOfItem(atPath: out + "/optimizer.safetensors")[.size] as! Int
            r = try runProcess("/bin/bash", ["-c", "trap '' XFSZ; ulimit -f \(largest / 2048); exec \"$0\" \"$@\"", binary,
                                  "train", "--resume", out, "--data", data, "--out", out, "--steps", "2"] + args)
            reason = "File too large"
        }
        XCTAssertNotEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stderr.contains("cannot save the step-2 checkpoint to \(out)"), r.stderr)
        XCTAssertTrue(r.stderr.contains(reason), r.stderr)
        XCTAssertTrue(r.stderr.contains("still holds the previous checkpoint"), r.stderr)

        XCTAssertEqual(try step(of: out), 1)
        let parent = (out as NSString).deletingLastPathComponent
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: parent).filter { $0 != "lost+found" }, ["run"],
                       "the failed save's folder is gone")
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: out).sorted(),
                       try FileManager.default.contentsOfDirectory(atPath: ref).sorted())
        for file in ["model.safetensors", "optimizer.safetensors", "config.json"] {
            XCTAssertEqual(FileManager.default.contents(atPath: out + "/" + file), FileManager.default.contents(atPath: ref + "/" + file), file)
        }
        let name = "model.layers.0.mlp.down_proj.weight"
        XCTAssertEqual(try SafeTensorsFile(path: out + "/model.safetensors").tensor(name).floats(),
                       try SafeTensorsFile(path: ref + "/model.safetensors").tensor(name).floats())
        let model = try Architectures.load(path: out)
        XCTAssertTrue(try model.logits(for: [1, 450]).buffer.array.allSatisfy(\.isFinite))
    }

    /// SIGKILL from outside while a later save is writing its 57 MB optimizer file (seen in
    /// the save's hidden folder): `out` holds one complete checkpoint — weights, optimizer
    /// state, trainer state and metrics of the same step — and `--resume` from it ends with
    /// the uninterrupted run's weights, byte for byte.
    func testSIGKILLDuringASaveLeavesACompleteCheckpointThatResumes() throws {
        let whole = temporaryDirectory() + "/whole"
        let full = try polycom(["train", "--model", demo, "--data", data, "--out", whole, "--steps", "4"] + args)
        XCTAssertEqual(full.status, 0, full.stderr)

        var killedIn: (dir: String, saving: String)?
        // The kill lands a few microseconds after the poll saw the file; should the save
        // still finish first (it has tens of ms left), the run is tried again.
        for _ in 0..<3 where killedIn == nil {
            let dir = temporaryDirectory()
            let process = Process()
            process.executableURL = URL(fileURLWithPath: binary)
            process.arguments = ["train", "--model", demo, "--data", data, "--out", dir + "/run", "--steps", "4"] + args
            (process.standardOutput, process.standardError) = (FileHandle.nullDevice, FileHandle.nullDevice)
            try process.run()
            var saving: String?
            while process.isRunning && saving == nil {
                let fm = FileManager.default
                if fm.fileExists(atPath: dir + "/run/trainer_state.json"),
                   let folder = (try? fm.contentsOfDirectory(atPath: dir))?.first(where: { $0.hasPrefix(".run.saving-") }),
                   fm.fileExists(atPath: dir + "/" + folder + "/optimizer.safetensors.partial") {
                    kill(process.processIdentifier, SIGKILL)
                    saving = folder
                }
                usleep(100)
            }
            process.waitUntilExit()
            if let saving, FileManager.default.fileExists(atPath: dir + "/" + saving + "/optimizer.safetensors.partial") {
                killedIn = (dir, saving)
            }
        }
        let (dir, saving) = try XCTUnwrap(killedIn, "no kill landed inside a save in 3 runs")
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir).sorted(), [saving, "run"])
        let out = dir + "/run"
        let step = try XCTUnwrap(try step(of: out))
        XCTAssertTrue((1...3).contains(step), "step \(step)")
        XCTAssertEqual(try String(contentsOfFile: out + "/metrics.jsonl", encoding: .utf8).split(separator: "\n").count, step)
        XCTAssertEqual(try SafeTensorsFile(path: out + "/optimizer.safetensors").metadata["step"], String(step))
        XCTAssertFalse(try FileManager.default.contentsOfDirectory(atPath: out).contains { $0.hasSuffix(".partial") })
        let model = try Architectures.load(path: out)
        XCTAssertTrue(try model.logits(for: [1, 450]).buffer.array.allSatisfy(\.isFinite))

        let resumed = try polycom(["train", "--resume", out, "--data", data, "--out", out, "--steps", "4"] + args)
        XCTAssertEqual(resumed.status, 0, resumed.stderr)
        XCTAssertTrue(resumed.stderr.contains("resuming \(out) at step \(step)"), resumed.stderr)
        XCTAssertEqual(FileManager.default.contents(atPath: out + "/model.safetensors"),
                       FileManager.default.contents(atPath: whole + "/model.safetensors"))
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir), ["run"], "the killed save's folder is cleaned up")
    }
}
