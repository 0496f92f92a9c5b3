# Sigma engine units (correlate/lf_sigma*.c) and the Sigma YAML compiler fuzz target.
foreach(t modifiers errors prefilter rules)
  lf_unit_test(test_sigma_${t} SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/test_sigma_${t}.c
               LIBS lfcorrelate PkgConfig::JANSSON)
  target_compile_definitions(test_sigma_${t} PRIVATE LF_SOURCE_DIR="${PROJECT_SOURCE_DIR}")
endforeach()
lf_fuzz_target(sigma SOURCES ${PROJECT_SOURCE_DIR}/tests/fuzz/fuzz_sigma.c LIBS lfcorrelate
               CORPUS ${PROJECT_SOURCE_DIR}/tests/fuzz/corpus/sigma)
