# polycom — the commands of the README:
#   make serve   set up, build (release) and serve the default model in Models/
#   make test    set up and run the test suite
#   make test-asan / test-tsan  the suite under AddressSanitizer / ThreadSanitizer
#   make eval    score the default model on the committed HellaSwag / ARC / SciQ subsets
#   make fuzz    build the libFuzzer targets (tools/fuzz) and run each for FUZZ_SECONDS
#   make demo-model  re-train the default model from scratch (corpus, tokenizer, polycom train)
#   make demo-model-check  its first 20 losses against the shipped metrics.jsonl, exactly
#   make replication  PolyNorm vs SwiGLU vs ReLU on the same corpus, budget and parameter count
SHELL := /bin/bash
APT_PACKAGES := libopenblas-dev libmicrohttpd-dev libjansson-dev zlib1g-dev pkg-config
MODEL ?= Models/polynorm-kjv
PORT ?= 8000
HOST ?= 127.0.0.1

.PHONY: setup build serve test test-asan test-tsan eval fuzz clean demo-data demo-model demo-model-check replication

# Installs the system libraries when any is missing (needs root or sudo). A package removed
# with its config files kept still answers `dpkg -s`: the status says whether it is installed.
setup:
	@missing=""; for p in $(APT_PACKAGES); do \
		dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing; \
	fi

build: setup
	swift build -c release --product polycom

serve: build
	.build/release/polycom serve --model $(MODEL) --host $(HOST) --port $(PORT)

# 50 documents per task (Tests/Fixtures/eval); DATA_DIR=tools/lm-eval/data for the full sets.
DATA_DIR ?= Tests/Fixtures/eval
eval: build
	.build/release/polycom eval --model $(MODEL) --task all --data-dir $(DATA_DIR) --output .build/eval-results.json

# XCTest only (no Swift Testing tests here), and a closing "N passed, N failed" line.
# $(call xctest,ENV,ARGS,LOG): swift test with ARGS under ENV, teed to LOG, then that line.
define xctest
	@set -o pipefail; $(1) swift test --disable-swift-testing $(2) 2>&1 | tee $(3); status=$$?; \
	summary=$$(grep -E "^\s*Executed [0-9]+ tests?, with [0-9]+ failures?" $(3) | tail -1); \
	total=$$(echo "$$summary" | sed -E 's/.*Executed ([0-9]+) tests?.*/\1/'); \
	failed=$$(echo "$$summary" | sed -E 's/.*with ([0-9]+) failures?.*/\1/'); \
	rm -f $(3); \
	if [ -n "$$summary" ]; then echo "$$((total - failed)) passed, $$failed failed"; fi; \
	exit $$status
endef

test: setup
	$(call xctest,,,.build-test.log)

# The suite under AddressSanitizer (LeakSanitizer included) and, for the threaded targets,
# ThreadSanitizer, each in its own build path. allocator_may_return_null: tests ask for
# impossible sizes on purpose and check that NULL is handled; ASan aborts instead by default.
# A report fails the run (ASan stops at the first; TSan lists all, then exits 66). The test
# test-tsan skips measures peak RSS, which TSan's shadow memory inflates (`make test` runs it).
# Not in .ci/run: on 2 shared cores the ASan build took 2 min and its run 22 min (403 tests),
# the TSan build 3 min and its run 6 to 15 min (170 tests): past CI's ~20 minutes.
# What LeakSanitizer may not report, and why: tools/sanitizers/lsan.supp. Of KernelsTests only
# the worker pool's run under TSan (the rest is single-threaded, and TSan's calloc touches the
# pages FloatBufferTests checks stay untouched).
LSAN_ENV := LSAN_OPTIONS=suppressions=$(CURDIR)/tools/sanitizers/lsan.supp:print_suppressions=0
TSAN_TARGETS := EngineTests|ServerTests|HTTPTests|EvaluationTests|KernelsTests(?=\.WorkerPoolTests)
test-asan: setup
	$(call xctest,ASAN_OPTIONS=allocator_may_return_null=1:detect_leaks=1 $(LSAN_ENV),\
		--sanitize=address --build-path .build-asan,.build-asan-test.log)

test-tsan: setup
	$(call xctest,,--sanitize=thread --build-path .build-tsan \
		--filter '^($(TSAN_TARGETS))\.' --skip testMillionsOfTinyPromptsAreRefusedBeforeTheyCostMemory,.build-tsan-test.log)

clean:
	rm -rf .build .build-asan .build-tsan

# The default model, from nothing: the King James Bible from Debian's bible-kjv-text (apt-get
# download, no root), a 4096-token tokenizer, then polycom train --init (tools/demo/; ~17 min on
# 2 threads). Same seeds and threads give the same logged losses. DEMO_OUT=Models/polynorm-kjv
# replaces the shipped model; demo-model-check re-runs the first 20 steps and compares their
# losses with the shipped metrics.jsonl exactly; replication trains the PolyNorm / SwiGLU / ReLU
# comparison of Models/README.md (REPLICATION_OUT=Models/replication replaces the committed one).
DEMO_DIR ?= .build/demo
DEMO_OUT ?= $(DEMO_DIR)/model
DEMO_THREADS ?= 2
DEMO_STEPS ?= 1200
DEMO_FILES := config.json model.safetensors tokenizer.json tokenizer_config.json special_tokens_map.json \
	training_args.json trainer_state.json metrics.jsonl loss.svg
DEMO_TRAIN = .build/release/polycom train --init tools/demo/config.json --tokenizer $(DEMO_DIR)/tokenizer --init-seed 0 \
	--data $(DEMO_DIR)/corpus/train.jsonl --val-data $(DEMO_DIR)/corpus/val.jsonl \
	--seq-len 256 --batch-size 8 --lr 2e-3 --warmup-steps 50 --eval-every 200 --save-every 200 \
	--save-dtype bf16 --seed 0 --threads $(DEMO_THREADS)
REPLICATION_OUT ?= $(DEMO_DIR)/replication/out
demo-data:
	python3 tools/demo/make_corpus.py --out $(DEMO_DIR)/corpus --debs $(DEMO_DIR)/debs
	python3 tools/demo/train_tokenizer.py --data $(DEMO_DIR)/corpus/train.jsonl --out $(DEMO_DIR)/tokenizer
demo-model: build demo-data
	rm -rf $(DEMO_DIR)/run
	$(DEMO_TRAIN) --out $(DEMO_DIR)/run --steps $(DEMO_STEPS)
	mkdir -p $(DEMO_OUT) && for f in $(DEMO_FILES); do cp $(DEMO_DIR)/run/$$f $(DEMO_OUT)/; done
demo-model-check: build demo-data
	rm -rf $(DEMO_DIR)/check
	$(DEMO_TRAIN) --out $(DEMO_DIR)/check --steps 20
	python3 tools/demo/check_losses.py --shipped Models/polynorm-kjv --run $(DEMO_DIR)/check --steps 20
replication: build demo-data
	python3 tools/demo/replicate.py --polycom .build/release/polycom --tokenizer $(DEMO_DIR)/tokenizer \
		--train $(DEMO_DIR)/corpus/train.jsonl --val $(DEMO_DIR)/corpus/val.jsonl \
		--work $(DEMO_DIR)/replication --out $(REPLICATION_OUT) --jobs 3 --threads 1

# --- the playground in a real browser (Tests/Browser) ---
# Headless Chromium and its driver from Debian, selenium from PyPI, installed when missing;
# the test starts .build/debug/polycom serve itself. Screenshots: Tests/Browser/output/.
BROWSER_APT_PACKAGES := chromium chromium-driver

.PHONY: test-browser
test-browser:
	@$(MAKE) --no-print-directory setup APT_PACKAGES="$(APT_PACKAGES) $(BROWSER_APT_PACKAGES)"
	@for m in selenium pytest; do python3 -c "import $$m" 2>/dev/null || python3 -m pip install -q $$m \
		|| python3 -m pip install -q --break-system-packages $$m; done
	swift build --product polycom
	python3 -m pytest -q -p no:cacheprovider Tests/Browser

# libFuzzer targets (tools/fuzz/<name>), under ASan, in their own build path (POLYCOM_FUZZ=1
# adds them to the manifest; -O on the debug build, which keeps @testable imports: the
# tokenizer-bound targets ran 3x faster than at -Onone); each runs FUZZ_SECONDS from its seeds (tools/fuzz/seeds.sh), its
# corpus growing in .build-fuzz/corpus/<name>. A crash, leak or hang (-timeout) fails the run,
# its input left in .build-fuzz/artifacts/. FUZZ_TARGETS="config http" picks some; FUZZ_FLAGS
# adds libFuzzer options.
FUZZ_SECONDS ?= 60
FUZZ_TARGETS ?= safetensors config tokenizer completions loglikelihood http eval-rows training-data
FUZZ_FLAGS ?=
fuzz: setup
	for t in $(FUZZ_TARGETS); do \
		POLYCOM_FUZZ=1 swift build --build-path .build-fuzz --product fuzz-$$t \
			-Xswiftc -sanitize=fuzzer,address -Xcc -fsanitize=fuzzer-no-link,address -Xswiftc -O || exit 1; done
	mkdir -p .build-fuzz/artifacts
	for t in $(FUZZ_TARGETS); do \
		tools/fuzz/seeds.sh $$t .build-fuzz/corpus/$$t || exit 1; \
		case $$t in safetensors|tokenizer) len=65536;; *) len=8192;; esac; \
		.build-fuzz/debug/fuzz-$$t -max_total_time=$(FUZZ_SECONDS) -max_len=$$len -timeout=10 -rss_limit_mb=4096 \
			-print_final_stats=1 -artifact_prefix=.build-fuzz/artifacts/$$t- $(FUZZ_FLAGS) .build-fuzz/corpus/$$t || exit 1; done
