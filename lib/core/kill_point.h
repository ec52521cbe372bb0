// A hook for the crash-safety tests: with HONE_TEST_KILL_AT=NAME[:N] in the environment, the
// process sends itself SIGKILL the N-th time (default the first) it reaches kill_point(NAME), so
// that a test can stop a run at an exact moment of writing a checkpoint or an output. Without the
// variable a point costs one test of a cached flag. The points are listed in docs/ARCHITECTURE.md.
#pragma once

namespace hone {

void kill_point(const char* name);

}  // namespace hone
