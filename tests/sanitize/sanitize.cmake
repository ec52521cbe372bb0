# Test executables of a HONE_SANITIZE build (README.md beside this file).

# hone_sanitize_test(target): the runtime options (options.cpp) and a configure-time check that
# every hone library the target links is compiled with hone_flags, which carries -fsanitize. The
# libraries link hone_flags PRIVATE, so one that forgot it would be left uninstrumented in silence.
function(hone_sanitize_test target)
  target_sources(${target} PRIVATE ${CMAKE_CURRENT_FUNCTION_LIST_DIR}/options.cpp)
  target_compile_definitions(${target} PRIVATE HONE_LSAN_SUPPRESSIONS="${CMAKE_CURRENT_FUNCTION_LIST_DIR}/lsan.supp")
  set(queue ${target})
  set(seen "")
  while(queue)
    list(POP_FRONT queue t)
    if(NOT TARGET ${t} OR t IN_LIST seen)
      continue()
    endif()
    list(APPEND seen ${t})
    get_target_property(imported ${t} IMPORTED)
    get_target_property(type ${t} TYPE)
    if(imported OR type STREQUAL "INTERFACE_LIBRARY")
      continue()  # prebuilt (LibTorch, GTest, system libraries) or nothing compiled
    endif()
    get_target_property(libs ${t} LINK_LIBRARIES)
    if(NOT "hone_flags" IN_LIST libs)
      message(FATAL_ERROR "HONE_SANITIZE: ${t} (linked by ${target}) does not link hone_flags, so its code "
                          "would not be instrumented: add hone_flags to its PRIVATE link libraries")
    endif()
    list(APPEND queue ${libs})
  endwhile()
endfunction()
