# The README's two commands:
#   make demo   set-up, build, and the main job end to end on the built-in defaults (the
#               Banking77 recipe at demo scale; BANKING77_DIR=... points to the data)
#   make test   set-up, build, the unit tests under the sanitizers (make test-sanitize), and the
#               whole test suite through ctest
# Both run scripts/setup.sh first (idempotent: Debian packages, .venv with the pinned torch
# wheel and the reference peers, models/ with the default base model).

JOBS ?= 2
SCALE ?= demo
BANKING77_DIR ?= $(CURDIR)/../shared/datasets/banking77
BUILD ?= build
BUILD_TYPE ?= Release
CMAKE_ARGS ?=
# The sanitizer build (tests/sanitize/README.md): AddressSanitizer and UBSan, the unit test set
# (core, text, data, model: no Python peer, no hone binary) and no CUDA, in its own directory.
# -O1 -g1: about half the compile time of -O2 -g, with file:line in every report.
SAN_BUILD ?= build-asan
SAN_CMAKE_ARGS ?= -DCMAKE_BUILD_TYPE=RelWithDebInfo "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O1 -g1 -DNDEBUG" \
	-DHONE_SANITIZE=ON -DHONE_CUDA=OFF

.PHONY: all setup build test test-sanitize demo clean
all: build

setup:
	bash scripts/setup.sh

$(BUILD)/build.ninja:
	cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) $(CMAKE_ARGS)

build: setup $(BUILD)/build.ninja
	cmake --build $(BUILD) -j $(JOBS)

# The sanitizer run first: it is short, and a memory error it finds may explain a later failure.
test: build test-sanitize
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

$(SAN_BUILD)/build.ninja:
	cmake -S . -B $(SAN_BUILD) -G Ninja $(SAN_CMAKE_ARGS)

# Builds only the unit tests' executables and the libraries they link, never the hone binary.
test-sanitize: setup $(SAN_BUILD)/build.ninja
	cmake --build $(SAN_BUILD) -j $(JOBS) --target hone_test_binaries
	cd $(SAN_BUILD) && ctest --output-on-failure -j $(JOBS)

# The Banking77 recipe (recipes/banking77) at SCALE (demo: sized for a 2-core CPU); its time is
# measured apart from set-up and build. Re-running does only what is out of date.
demo: build
	@start=$$(date +%s); \
	$(MAKE) --no-print-directory -C recipes/banking77 SCALE=$(SCALE) BANKING77_DIR=$(BANKING77_DIR) && \
	echo "recipe time (set-up and build excluded): $$(( $$(date +%s) - start )) s"

clean:
	rm -rf $(BUILD) $(SAN_BUILD)
