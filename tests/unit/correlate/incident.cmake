lf_unit_test(test_incident SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_incident.c LIBS lfincident)
lf_unit_test(test_region SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_region.c LIBS lfincident)
target_compile_definitions(test_region PRIVATE LF_SOURCE_DIR="${PROJECT_SOURCE_DIR}")
lf_unit_test(test_incidents SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_incidents.c
             LIBS lfincidents PkgConfig::JANSSON)
target_include_directories(test_incidents PRIVATE ${PROJECT_SOURCE_DIR}/tests/unit/store)
target_compile_definitions(test_incidents PRIVATE LF_SOURCE_DIR="${PROJECT_SOURCE_DIR}")
