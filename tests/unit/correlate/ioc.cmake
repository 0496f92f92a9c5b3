# YARA on payload fields, STIX 2.1 import and compiled indicator sets.
foreach(t stix ioc yara)
  lf_unit_test(test_${t} SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_${t}.c LIBS lfcorrelate)
  target_compile_definitions(test_${t} PRIVATE LF_SOURCE_DIR="${PROJECT_SOURCE_DIR}")
endforeach()
lf_fuzz_target(stix_pattern SOURCES ${PROJECT_SOURCE_DIR}/tests/fuzz/fuzz_stix_pattern.c
               LIBS lfcorrelate CORPUS ${PROJECT_SOURCE_DIR}/tests/fuzz/corpus/stix_pattern)
