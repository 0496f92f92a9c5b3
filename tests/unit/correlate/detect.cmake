lf_unit_test(test_detect SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_detect.c LIBS lfdetect
             PkgConfig::JANSSON)
target_compile_definitions(test_detect PRIVATE LF_SOURCE_DIR="${PROJECT_SOURCE_DIR}")
