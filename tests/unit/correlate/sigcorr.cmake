# Sigma correlation engine units (correlate/lf_sigcorr*.c, and its use by
# lf_detect) and the correlation-rule parser fuzz target.
lf_unit_test(test_sigcorr SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_sigcorr.c LIBS lfsigcorr lfdetect
             PkgConfig::JANSSON)
target_compile_definitions(test_sigcorr PRIVATE LF_SOURCE_DIR="${PROJECT_SOURCE_DIR}")
lf_fuzz_target(sigcorr SOURCES ${PROJECT_SOURCE_DIR}/tests/fuzz/fuzz_sigcorr.c LIBS lfsigcorr
               CORPUS ${PROJECT_SOURCE_DIR}/tests/fuzz/corpus/sigcorr)
