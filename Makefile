# spate - thin wrapper over CMake/CTest. The two commands a newcomer types:
#   make run    the network word count over loopback, fed by the built-in generator
#   make test   install what is missing, build release, ASan+UBSan, TSan and
#               SPATE_CHUNK_ROWS=2 trees, run CTest in each
JOBS ?= $(shell nproc)
PORT ?= 9999
SECONDS_TO_RUN ?= 10
CMAKE_COMMON = -DSPATE_WERROR=ON

.PHONY: all lint setup build release asan tsan chunk2 test test-release test-asan test-tsan test-chunk2 \
	run bench bench-micro fuzz format clean

all: release

setup:
	@bash .ci/setup.sh

build/release/CMakeCache.txt:
	cmake -S . -B build/release -DCMAKE_BUILD_TYPE=Release $(CMAKE_COMMON)
build/asan/CMakeCache.txt:
	cmake -S . -B build/asan -DCMAKE_BUILD_TYPE=Debug -DSPATE_SANITIZE=address,undefined $(CMAKE_COMMON)
build/tsan/CMakeCache.txt:
	cmake -S . -B build/tsan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSPATE_SANITIZE=thread $(CMAKE_COMMON)
build/chunk2/CMakeCache.txt:
	cmake -S . -B build/chunk2 -DCMAKE_BUILD_TYPE=Release -DSPATE_CHUNK_ROWS=2 $(CMAKE_COMMON)

release: setup build/release/CMakeCache.txt
	cmake --build build/release -j $(JOBS)
asan: setup build/asan/CMakeCache.txt
	cmake --build build/asan -j $(JOBS)
tsan: setup build/tsan/CMakeCache.txt
	cmake --build build/tsan -j $(JOBS)
chunk2: setup build/chunk2/CMakeCache.txt
	cmake --build build/chunk2 -j $(JOBS)

test-release: release
	cd build/release && ctest --output-on-failure -j $(JOBS)
test-asan: asan
	cd build/asan && ctest --output-on-failure -j $(JOBS)
test-tsan: tsan
	cd build/tsan && TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1" ctest --output-on-failure -j $(JOBS)
# The tiny-chunk tree (2 rows a chunk) shakes out chunk-boundary bugs.
test-chunk2: chunk2
	cd build/chunk2 && ctest --output-on-failure -j $(JOBS)

# engine/, kernels/ and io/ allocate only through engine/mem.c (io/ maps its own pages).
lint:
	@! grep -nE '(^|[^_a-z])(malloc|calloc|realloc|free|aligned_alloc)[[:space:]]*\(' \
		engine/*.c kernels/*.c kernels/*/*.c io/*.c | grep -v '^engine/mem.c:' \
		|| (echo "lint: libc allocation outside engine/mem.c" && false)

test: lint test-release test-asan test-tsan test-chunk2
	@echo "make test: release, asan, tsan and chunk2 trees passed"

run: release
	@bash .ci/run-demo.sh build/release $(PORT) $(SECONDS_TO_RUN)

build/bench/CMakeCache.txt:
	cmake -S . -B build/bench -DCMAKE_BUILD_TYPE=Release -DSPATE_BUILD_BENCH=ON -DSPATE_BUILD_TESTS=OFF $(CMAKE_COMMON)

bench-micro: setup build/bench/CMakeCache.txt
	cmake --build build/bench -j $(JOBS) --target spate-micro
	build/bench/bench/spate-micro

# End-to-end workloads next to their naive single-threaded loops, in one run.
bench: setup build/bench/CMakeCache.txt
	cmake --build build/bench -j $(JOBS) --target spate-bench
	build/bench/bench/spate-bench all

# libFuzzer runs (clang, ASan+UBSan) of every fuzz target, FUZZ_SECONDS each. make test
# replays the seed corpus plus generated inputs through tests/fuzz/driver.c instead.
FUZZ_SECONDS ?= 60
fuzz: setup
	@command -v clang >/dev/null || (apt-get install -y -qq clang || sudo apt-get install -y -qq clang)
	cmake -S . -B build/fuzz -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ \
		-DCMAKE_BUILD_TYPE=Debug -DSPATE_FUZZ=ON -DSPATE_SANITIZE=address,undefined \
		-DSPATE_BUILD_EXAMPLES=OFF $(CMAKE_COMMON)
	cmake --build build/fuzz -j $(JOBS) --target fuzz_framing fuzz_text fuzz_csv fuzz_binary
	for t in framing text csv binary; do mkdir -p build/fuzz/corpus-$$t && \
		build/fuzz/tests/fuzz_$$t -max_total_time=$(FUZZ_SECONDS) build/fuzz/corpus-$$t \
		tests/fuzz/corpus/$$t || exit 1; done

format:
	clang-format -i $$(git ls-files '*.c' '*.h' '*.cc')

clean:
	rm -rf build
