# The README's two commands:
#   make demo   set-up, build, and the main job end to end on the built-in defaults
#   make test   set-up, build, and the whole test suite through ctest
# Both run scripts/setup.sh first (idempotent: Debian packages, .venv with the pinned torch
# wheel and the reference peers, models/ with the default base model).

JOBS ?= 2
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

demo: build
	bash scripts/demo.sh

clean:
	rm -rf $(BUILD)
