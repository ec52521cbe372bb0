# The README's two commands:
#   make demo   set-up, build, and the main job end to end on the built-in defaults (the
#               Banking77 recipe at demo scale; BANKING77_DIR=... points to the data)
#   make test   set-up, build, and the whole test suite through ctest
# Both run scripts/setup.sh first (idempotent: Debian packages, .venv with the pinned torch
# wheel and the reference peers, models/ with the default base model).

JOBS ?= 2
SCALE ?= demo
BANKING77_DIR ?= $(CURDIR)/../shared/datasets/banking77
BUILD ?= build
BUILD_TYPE ?= Release
CMAKE_ARGS ?=

.PHONY: all setup build test demo clean
all: build

setup:
	bash scripts/setup.sh

$(BUILD)/build.ninja:
	cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) $(CMAKE_ARGS)

build: setup $(BUILD)/build.ninja
	cmake --build $(BUILD) -j $(JOBS)

test: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

# The Banking77 recipe (recipes/banking77) at SCALE (demo: sized for a 2-core CPU); its time is
# measured apart from set-up and build. Re-running does only what is out of date.
demo: build
	@start=$$(date +%s); \
	$(MAKE) --no-print-directory -C recipes/banking77 SCALE=$(SCALE) BANKING77_DIR=$(BANKING77_DIR) && \
	echo "recipe time (set-up and build excluded): $$(( $$(date +%s) - start )) s"

clean:
	rm -rf $(BUILD)
