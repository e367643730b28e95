import Checkpoint
import Foundation
import JSON
@testable import Kernels
import TestSupport
import XCTest

/// Runs the built `polycom` executable as a user would.
final class CLITests: XCTestCase {
    /// Left to itself, OpenBLAS must not run generic kernels on this CPU: where it does not
    /// know the CPU, polycom restarts itself with the family matching the CPU's flags.
    func testBenchReportsANonGenericBLASFamilyWhenNoneIsSet() throws {
        let r = try polycom(["bench", "model", "--model", fixtureModel("polynorm-f32"), "--prompt-tokens", "8",
                             "--decode-tokens", "2", "--repeats", "1", "--json"],
                            environment: ["OPENBLAS_CORETYPE": nil, "POLYCOM_BLAS_REPLACED": nil])
        XCTAssertEqual(r.status, 0, r.stderr)
        let core = try XCTUnwrap(try JSONValue.parse(r.stdout)["blas"]?.stringValue, r.stdout)
        XCTAssertFalse(core.isEmpty)
        if BLASCore.cpuVectorLevel >= 2, let level = BLASCore.familyLevels[core.lowercased()] {
            XCTAssertGreaterThanOrEqual(level, 2, "OpenBLAS runs \(core) on a CPU with AVX2")
        }
    }

    /// One run reports every prefill length and decode batch asked for, scoring throughput,
    /// load time, peak RSS and the machine's limits, all positive (values are never
    /// asserted: timings).
    func testBenchModelReportsEveryMeasurementAndTheLimits() throws {
        let r = try polycom(["bench", "model", "--model", fixtureModel("polynorm-f32"), "--prompt-tokens", "8", "5",
                             "--batch", "1", "3", "--decode-tokens", "2", "--scoring-docs", "3", "--repeats", "1",
                             "--kernels", "avx2", "--json"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let o = try JSONValue.parse(r.stdout)
        XCTAssertEqual(o["prefill"]?.arrayValue?.compactMap { $0["tokens"]?.intValue }, [8, 5], r.stdout)
        XCTAssertEqual(o["decode"]?.arrayValue?.compactMap { $0["batch"]?.intValue }, [1, 3], r.stdout)
        let kernels = KernelFamily.best.rawValue >= KernelFamily.avx2.rawValue ? "avx2" : "\(KernelFamily.best)"
        XCTAssertEqual(o["kernels"]?.stringValue, kernels, r.stdout)
        for key in ["load_s", "prefill_tokens_per_s", "decode_tokens_per_s", "scoring_docs_per_s"] {
            XCTAssertGreaterThan(o[key]?.doubleValue ?? 0, 0, key)
        }
        // The documents' shape, scored as eval scores them: each context computed once, then
        // each ending from the prefix cache with the log-probs after the context, computing its
        // own tokens but the last.
        let scoring = try XCTUnwrap(o["scoring"], r.stdout)
        XCTAssertEqual(["docs", "context_tokens", "endings", "ending_tokens"].map { scoring[$0]?.intValue }, [3, 80, 4, 20])
        XCTAssertEqual(scoring["computed_tokens_per_doc"]?.doubleValue, 80 + 4 * 19, r.stdout)
        XCTAssertGreaterThan(scoring["computed_tokens_per_s"]?.doubleValue ?? 0, 0)
        let text = try polycom(["bench", "model", "--model", fixtureModel("polynorm-f32"), "--prompt-tokens", "4",
                                "--batch", "1", "--decode-tokens", "1", "--scoring-docs", "1", "--repeats", "1", "--no-roofline"])
        XCTAssertEqual(text.status, 0, text.stderr)
        XCTAssertTrue(text.stdout.contains("docs/s") && text.stdout.contains("80-token context + 4 × 20-token endings"), text.stdout)
        let none = try polycom(["bench", "model", "--model", fixtureModel("polynorm-f32"), "--prompt-tokens", "4",
                                "--batch", "1", "--decode-tokens", "1", "--scoring-docs", "0", "--repeats", "1", "--no-roofline", "--json"])
        XCTAssertEqual(none.status, 0, none.stderr)
        XCTAssertNil(try JSONValue.parse(none.stdout)["scoring_docs_per_s"], none.stdout)
        XCTAssertEqual(o["weight_files"]?.stringValue, "copied", r.stdout)
        let mapped = try polycom(["bench", "model", "--model", fixtureModel("polynorm-f32"), "--prompt-tokens", "4", "--batch", "1",
                                  "--decode-tokens", "1", "--scoring-docs", "0", "--repeats", "1", "--no-roofline", "--mmap", "--json"])
        XCTAssertEqual(mapped.status, 0, mapped.stderr)
        XCTAssertEqual(try JSONValue.parse(mapped.stdout)["weight_files"]?.stringValue, "mapped", mapped.stdout)
        XCTAssertGreaterThan(o["peak_rss_bytes"]?.intValue ?? 0, 0)
        for key in ["read_gb_per_s", "fma_gflop_per_s", "sgemm_gflop_per_s"] {
            XCTAssertGreaterThan(o["roofline"]?[key]?.doubleValue ?? 0, 0, key)
        }
        let bad = try polycom(["bench", "model", "--model", fixtureModel("polynorm-f32"), "--kernels", "sse"])
        XCTAssertNotEqual(bad.status, 0)
        XCTAssertTrue(bad.stderr.contains("--kernels"), bad.stderr)
    }

    /// The restart itself, on any CPU: a stand-in for `openblas_get_corename` (LD_PRELOAD)
    /// reports "Prescott" when the library loads without OPENBLAS_CORETYPE, as Debian's
    /// OpenBLAS does on a CPU it does not know, and the real library's name otherwise. polycom
    /// must start again with the family of the CPU's flags, and the restarted process's
    /// OpenBLAS must then run it.
    func testGenericFamilyIsReplacedByRestartingWithTheCPUsFamily() throws {
        let dir = temporaryDirectory()
        try """
            #define _GNU_SOURCE
            #include <dlfcn.h>
            #include <stdlib.h>
            static int generic;  /* decided once, when the library loads, as OpenBLAS does */
            __attribute__((constructor)) static void load(void) { generic = getenv("OPENBLAS_CORETYPE") == NULL; }
            char *openblas_get_corename(void) {
                if (generic) return "Prescott";
                return ((char *(*)(void))dlsym(RTLD_NEXT, "openblas_get_corename"))();
            }
            """.write(toFile: dir + "/corename.c", atomically: true, encoding: .utf8)
        let cc = try runProcess("/usr/bin/env", ["clang", "-shared", "-fPIC", "-o", dir + "/corename.so", dir + "/corename.c", "-ldl"])
        XCTAssertEqual(cc.status, 0, cc.stderr)
        let preload = ([dir + "/corename.so"] + [ProcessInfo.processInfo.environment["LD_PRELOAD"]].compactMap { $0 }).joined(separator: ":")
        let environment: [String: String?] = ["OPENBLAS_CORETYPE": nil, "POLYCOM_BLAS_REPLACED": nil, "LD_PRELOAD": preload]
        let text = try polycom(["inspect", repositoryRoot + "/Configs/PolyNorm_1B"], environment: environment)
        let json = try polycom(["inspect", repositoryRoot + "/Configs/PolyNorm_1B", "--json"], environment: environment)
        XCTAssertEqual(text.status, 0, text.stderr)
        XCTAssertEqual(json.status, 0, json.stderr)
        let running = try XCTUnwrap(try JSONValue.parse(json.stdout)["blas"]?.stringValue, json.stdout)
        let level = BLASCore.cpuVectorLevel
        guard level >= 2 else {
            XCTAssertEqual(running, "Prescott", "no AVX2: nothing better to run")
            return XCTAssertTrue(text.stdout.contains("BLAS: OpenBLAS Prescott kernels\n"), text.stdout)
        }
        let family = ["Haswell", "SkylakeX", "Cooperlake"][min(level, 4) - 2]
        XCTAssertEqual(running, family, "the restarted process's OpenBLAS runs the CPU's family")
        XCTAssertTrue(text.stdout.contains("BLAS: OpenBLAS \(family) kernels (OpenBLAS took this CPU for Prescott; "
                                           + "OPENBLAS_CORETYPE=\(family) set by polycom)\n"), text.stdout)
        XCTAssertFalse(text.stdout.contains("warning"), text.stdout)
    }

    /// A family the user chose is kept, even a generic one, and the log says what it costs.
    func testUserChosenBLASFamilyIsRespectedAndAGenericOneIsWarnedAbout() throws {
        let r = try polycom(["inspect", repositoryRoot + "/Configs/PolyNorm_1B"], environment: ["OPENBLAS_CORETYPE": "Prescott"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("BLAS: OpenBLAS Prescott kernels (OPENBLAS_CORETYPE from the environment)"), r.stdout)
        XCTAssertEqual(r.stdout.contains("warning: generic kernels"), BLASCore.cpuVectorLevel >= 2, r.stdout)
    }

    /// polycom starts again with glibc's malloc in huge pages where glibc (2.35 on, read here
    /// from confstr) and the kernel (its transparent huge pages not `never`) offer them; a
    /// value the user set is kept.
    func testMallocHugePagesAreSetByRestartingUnlessTheUserChose() throws {
        var version = [CChar](repeating: 0, count: 64)
        _ = confstr(Int32(_CS_GNU_LIBC_VERSION), &version, version.count)
        let glibc = String(cString: version).split(separator: " ").last.map { $0.split(separator: ".").compactMap { Int($0) } } ?? []
        let mode = (try? String(contentsOfFile: "/sys/kernel/mm/transparent_hugepage/enabled", encoding: .utf8)) ?? "[never]"
        let offered = glibc.count >= 2 && (glibc[0] > 2 || glibc[1] >= 35) && !mode.contains("[never]")
        let clean: [String: String?] = ["GLIBC_TUNABLES": nil, "POLYCOM_MALLOC_HUGETLB_SET": nil]
        let r = try polycom(["inspect", repositoryRoot + "/Configs/PolyNorm_1B"], environment: clean)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.stdout.contains("malloc: glibc.malloc.hugetlb=1 (set by polycom: heaps in transparent huge pages)\n"),
                       offered, r.stdout)
        let user = try polycom(["inspect", repositoryRoot + "/Configs/PolyNorm_1B"],
                               environment: ["GLIBC_TUNABLES": "glibc.malloc.hugetlb=0", "POLYCOM_MALLOC_HUGETLB_SET": nil])
        XCTAssertEqual(user.status, 0, user.stderr)
        XCTAssertTrue(user.stdout.contains("malloc: glibc.malloc.hugetlb=0 (GLIBC_TUNABLES from the environment)\n"), user.stdout)
    }

    func testInspectPolyNorm1BConfig() throws {
        let r = try polycom("inspect", repositoryRoot + "/Configs/PolyNorm_1B")
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("1,345,423,456"), r.stdout)
    }

    /// The paper's MoE: 64 experts of which 8 run per token.
    func testInspectPolyNormMoEConfigReportsTotalAndActive() throws {
        let r = try polycom("inspect", repositoryRoot + "/Configs/PolyNorm_MoE")
        XCTAssertEqual(r.status, 0, r.stderr)
        for phrase in ["6,919,161,920 (6.92 B)", "1,282,017,344 per token (1.28 B)", "64, top-8"] {
            XCTAssertTrue(r.stdout.contains(phrase), r.stdout)
        }
    }

    /// The count from the tensor table equals what a fused checkpoint really stores.
    func testInspectFusedMoEFixtureCountsStoredParameters() throws {
        let r = try polycom("inspect", fixtureModel("olmoe-swiglu-e6k3-fused"), "--json")
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("\"parameters\": 140544"), r.stdout)
        XCTAssertTrue(r.stdout.contains("\"F32\": 140544"), r.stdout)
        XCTAssertTrue(r.stdout.contains("\"active_parameters\": 103680"), r.stdout)
    }

    func testForwardAndGenerateOnMoEFixtures() throws {
        let ref = try reference("olmoe-swiglu-e6k3-fused")
        let tokens = try ref.tensor("tokens_40").ints().map(String.init).joined(separator: ",")
        let out = temporaryDirectory() + "/logits.safetensors"
        let f = try polycom("forward", "--model", fixtureModel("olmoe-swiglu-e6k3-fused"), "--tokens", tokens, "--out", out)
        XCTAssertEqual(f.status, 0, f.stderr)
        assertClose(try SafeTensorsFile(path: out).tensor("logits").floats(), try ref.tensor("logits_40").floats(), tolerance: 1e-4)

        let greedy = try reference("olmoe-polynorm-e8k2")
        let prompt = try greedy.tensor("greedy_prompt").ints().map(String.init).joined(separator: ",")
        let expected = try greedy.tensor("greedy_tokens").ints()
        let g = try polycom("generate", "--model", fixtureModel("olmoe-polynorm-e8k2"), "--tokens", prompt,
                            "--max-tokens", String(expected.count), "--json")
        XCTAssertEqual(g.status, 0, g.stderr)
        XCTAssertEqual(g.stdout.trimmingCharacters(in: .whitespacesAndNewlines),
                       "{\"tokens\":[" + expected.map(String.init).joined(separator: ",") + "]}")
    }

    func testForwardWritesReferenceLogits() throws {
        let ref = try reference("polynorm-f32")
        let tokens = try ref.tensor("tokens_7").ints().map(String.init).joined(separator: ",")
        let out = temporaryDirectory() + "/logits.safetensors"
        let r = try polycom("forward", "--model", fixtureModel("polynorm-f32"), "--tokens", tokens, "--out", out)
        XCTAssertEqual(r.status, 0, r.stderr)
        let logits = try SafeTensorsFile(path: out).tensor("logits")
        XCTAssertEqual(logits.dtype, .f32)
        XCTAssertEqual(logits.shape, [7, 320])
        assertClose(logits.floats(), try ref.tensor("logits_7").floats(), tolerance: 1e-4)
    }

    func testGenerateJSONMatchesReferenceGreedyTokens() throws {
        let ref = try reference("polyrelu-tied")
        let prompt = try ref.tensor("greedy_prompt").ints().map(String.init).joined(separator: ",")
        let expected = try ref.tensor("greedy_tokens").ints()
        let r = try polycom("generate", "--model", fixtureModel("polyrelu-tied"), "--tokens", prompt,
                            "--max-tokens", String(expected.count), "--temperature", "0", "--json")
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.stdout.trimmingCharacters(in: .whitespacesAndNewlines),
                       "{\"tokens\":[" + expected.map(String.init).joined(separator: ",") + "]}")
    }

    /// `--prompt` goes through the model's tokenizer; the text is what transformers +
    /// tokenizers produce for the demo model (reference written by tools/reference).
    func testGeneratePromptTextMatchesReference() throws {
        let data = try Data(contentsOf: URL(fileURLWithPath: fixturesDirectory + "/reference/polynorm-demo.json"))
        let ref = try XCTUnwrap(JSONSerialization.jsonObject(with: data) as? [String: Any])
        let first = try XCTUnwrap((ref["prompts"] as? [[String: Any]])?.first)
        let greedy = try XCTUnwrap(first["greedy_ids"] as? [Int])
        let r = try polycom("generate", "--model", repositoryRoot + "/Models/polynorm-demo", "--prompt",
                            try XCTUnwrap(first["prompt"] as? String), "--max-tokens", String(greedy.count), "--json")
        XCTAssertEqual(r.status, 0, r.stderr)
        let out = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        XCTAssertEqual(out["tokens"] as? [Int], greedy)
        XCTAssertEqual(out["text"] as? String, first["completion_incremental"] as? String)
    }

    /// generation_config.json adds EOS 201; transformers' generate stops after emitting it
    /// (reference/llama-generation-eos.json), and so does `polycom generate`; --ignore-eos runs on.
    func testGenerateStopsAtGenerationConfigEOS() throws {
        let ref = try JSONValue.parse([UInt8](Data(contentsOf: URL(fileURLWithPath: fixturesDirectory + "/reference/llama-generation-eos.json"))))
        let prompt = try XCTUnwrap(ref["prompt"]?.arrayValue).map { String($0.intValue!) }.joined(separator: ",")
        func tokens(_ key: String) throws -> String {
            "{\"tokens\":[" + (try XCTUnwrap(ref[key]?.arrayValue)).map { String($0.intValue!) }.joined(separator: ",") + "]}"
        }
        let r = try polycom("generate", "--model", fixtureFolder("llama-generation-eos"), "--tokens", prompt, "--max-tokens", "12", "--json")
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.stdout.trimmingCharacters(in: .whitespacesAndNewlines), try tokens("generated"))
        let all = try polycom("generate", "--model", fixtureFolder("llama-generation-eos"), "--tokens", prompt, "--max-tokens", "12",
                              "--ignore-eos", "--json")
        XCTAssertEqual(all.stdout.trimmingCharacters(in: .whitespacesAndNewlines), try tokens("generated_without_generation_config"))
    }

    /// With --tokens, a folder whose tokenizer is only a SentencePiece tokenizer.model is read
    /// as one with tokenizer.json (it used to be skipped: no text, no tokenizer EOS, --stop
    /// refused): the same tokens (transformers' generate, reference/llama-generation-eos.json)
    /// and the same text as with llama/tokenizer.json, transformers' conversion of that file.
    func testGenerateWithTokensReadsASentencePieceOnlyFolder() throws {
        let ref = try JSONValue.parse([UInt8](Data(contentsOf: URL(fileURLWithPath: fixturesDirectory + "/reference/llama-generation-eos.json"))))
        let prompt = try XCTUnwrap(ref["prompt"]?.arrayValue).map { String($0.intValue!) }.joined(separator: ",")
        var outputs: [String] = []
        for (source, files) in [("llama-spm", ["tokenizer.model", "tokenizer_config.json", "special_tokens_map.json"]),
                                ("llama", ["tokenizer.json", "tokenizer_config.json"])] {
            let dir = try copyOfFolder(fixtureFolder("llama-generation-eos"))
            for file in files {
                try FileManager.default.copyItem(atPath: fixturesDirectory + "/tokenizers/\(source)/\(file)", toPath: dir + "/" + file)
            }
            let r = try polycom("generate", "--model", dir, "--tokens", prompt, "--max-tokens", "12", "--stop", "never seen", "--json")
            XCTAssertEqual(r.status, 0, "\(source): \(r.stderr)")
            let out = try JSONValue.parse(r.stdout)
            XCTAssertEqual(out["tokens"], ref["generated"], source)
            XCTAssertNotNil(out["text"]?.stringValue, "\(source): \(r.stdout)")
            outputs.append(r.stdout)
        }
        XCTAssertEqual(outputs[0], outputs[1])
    }

    /// A transformers-5 config.json says `"dtype": "float32"` (no torch_dtype): the estimate
    /// without weights is for float32, 4 bytes a parameter.
    func testInspectReadsDtypeKey() throws {
        let dir = temporaryDirectory()
        try FileManager.default.copyItem(atPath: fixtureFolder("llama3-rope-parameters") + "/config.json", toPath: dir + "/config.json")
        let r = try polycom("inspect", dir)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("estimate for float32"), r.stdout)
        let weights = try polycom("inspect", fixtureModel("llama3-rope-scaling"), "--json")
        let stored = try XCTUnwrap(JSONValue.parse(weights.stdout)["weight_bytes"]?.intValue)
        let estimate = try XCTUnwrap(JSONValue.parse(try polycom("inspect", dir, "--json").stdout)["weight_bytes"]?.intValue)
        XCTAssertEqual(estimate, stored, "float32 estimate = the stored F32 bytes")
    }

    func testMissingModelFolderSaysSo() throws {
        let r = try polycom("inspect", "/nonexistent")
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains("/nonexistent: does not exist"), r.stderr)
    }

    func testCorruptInputFailsWithMessage() throws {
        let dir = try copyOfFixture("polynorm-f32")
        let path = dir + "/model.safetensors"
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        try data.prefix(data.count / 2).write(to: URL(fileURLWithPath: path))
        let r = try polycom("forward", "--model", dir, "--tokens", "1,2", "--out", dir + "/x.safetensors")
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains("truncated"), r.stderr)

        let bad = try polycom("generate", "--model", fixtureModel("polynorm-f32"), "--tokens", "1,x")
        XCTAssertNotEqual(bad.status, 0)
        XCTAssertTrue(bad.stderr.contains("--tokens"), bad.stderr)
    }
}

/// `polycom serve` as a process: it comes up, and SIGTERM makes it drain and exit 0.
final class ServeProcessTests: XCTestCase {
    func testServeStartsAndExitsCleanlyOnSIGTERM() throws {
        let process = Process()
        process.executableURL = Bundle.main.bundleURL.appendingPathComponent("polycom")
        process.arguments = ["serve", "--model", repositoryRoot + "/Models/polynorm-demo", "--port", "0"]
        let err = Pipe()
        process.standardError = err
        process.standardOutput = Pipe()
        try process.run()
        var log = ""
        let deadline = Date(timeIntervalSinceNow: 30)
        while !log.contains("ready:") && Date() < deadline && process.isRunning {
            log += String(decoding: err.fileHandleForReading.availableData, as: UTF8.self)
        }
        XCTAssertTrue(log.contains("ready:"), log)
        XCTAssertTrue(log.contains("listening on http://127.0.0.1:"), log)
        process.terminate() // SIGTERM
        process.waitUntilExit()
        log += String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        XCTAssertEqual(process.terminationReason, .exit, log)
        XCTAssertEqual(process.terminationStatus, 0, log)
        XCTAssertTrue(log.contains("stopped"), log)
    }
}
